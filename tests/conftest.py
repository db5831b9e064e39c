"""Shared fixtures: a tiny random model (and its saved folder), a short training run.

Everything here is seeded and small: the whole suite runs in well under a minute on two
CPU cores. Models are session-scoped so that each is built (or trained) once.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(ROOT))

# Deterministic property tests: the same examples on every run, no example database on disk.
settings.register_profile(
    "tsc",
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("tsc")

# tests/html checks the built book in a browser: `make check-html` runs it after `make book`
collect_ignore = [] if os.environ.get("TSC_CHECK_HTML") else ["html"]

# The test models are tiny: one thread is fastest, and it avoids idle threads spinning
# against whatever else runs on a small machine (a second thread made sampling 50x slower).
torch.set_num_threads(1)

TINY_SHAPE = {"d_model": 32, "n_layer": 1, "n_head": 2, "d_ff": 64}


def build_tiny_policy(seed: int = 0):
    """A randomly initialised 1-layer model over the char tokenizer, wrapped as a `Policy`.

    The weight matrices are redrawn with std 0.3 (instead of transformers' 0.02) so that the
    logits are well separated: greedy paths then differ from prompt to prompt and an argmax
    never hangs on a near-tie that rounding could flip.
    """
    from tsc.lm.model import ModelShape, build_model
    from tsc.lm.policy import LocalPolicy
    from tsc.lm.tokenizer import build_char_tokenizer

    tokenizer = build_char_tokenizer()
    model = build_model(ModelShape(**TINY_SHAPE), tokenizer, seed=seed)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() >= 2:
                parameter.normal_(0.0, 0.3, generator=generator)
    return LocalPolicy(model, tokenizer, name="tiny")


@pytest.fixture(scope="session")
def tiny_policy():
    return build_tiny_policy()


@pytest.fixture(scope="session")
def tiny_model_dir(tiny_policy, tmp_path_factory) -> Path:
    """The tiny model saved as a checkpoint folder (what `--model FOLDER` and load_policy read)."""
    from tsc.lm.train import save_checkpoint

    folder = tmp_path_factory.mktemp("models") / "tiny"
    card = {"name": "tiny", "kind": "policy", "task": "countdown", "params": tiny_policy.n_params, "seed": 0}
    save_checkpoint(tiny_policy.model, tiny_policy.tokenizer, folder, card)
    return folder


@pytest.fixture(scope="session")
def smoke_recipe():
    """The "smoke" recipe cut down to a few seconds: 12 steps of 16 three-number problems."""
    from tsc.lm.train import RECIPES

    return dataclasses.replace(RECIPES["smoke"], steps=12, batch_size=16, warmup=3, sizes=(3,))


@pytest.fixture(scope="session")
def smoke_run(smoke_recipe, tmp_path_factory):
    """(run folder, card) of one short training run, shared by the training tests."""
    from tsc.lm.train import train

    out = tmp_path_factory.mktemp("smoke")
    # train() sets one torch thread per CPU for the whole process; keep the tests' single
    # thread instead (on a busy 2-core machine two threads made this run 45x slower).
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch, "set_num_threads", lambda n: None)
        card = train(smoke_recipe, out, progress=False)
    return out, card


@pytest.fixture(scope="session")
def qwen2_dir(tmp_path_factory) -> Path:
    """A random Qwen2 model with a chat template and a BPE tokenizer (tests/real_models.py)."""
    from real_models import build_qwen2

    return build_qwen2(tmp_path_factory.mktemp("real") / "qwen2")


@pytest.fixture(scope="session")
def gpt2_dir(tmp_path_factory) -> Path:
    """A random GPT-2 model without a chat template (tests/real_models.py)."""
    from real_models import build_gpt2

    return build_gpt2(tmp_path_factory.mktemp("real") / "gpt2")
