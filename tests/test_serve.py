"""A real serving engine: `transformers serve` on 127.0.0.1 with the bundled model, driven
through its URL by the strategies and by `python -m tsc solve`.

The server loads the bundled checkpoint by its folder, so the client reads the same
tokenizer and card: greedy answers must equal the local model's, token for token."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import tsc
from tsc.cli import main
from tsc.strategies import greedy, majority_vote, solve_many
from tsc.tasks import countdown

MODEL = Path(tsc.__file__).resolve().parent / "assets" / "countdown"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    command = Path(sys.executable).parent / "transformers"
    if not command.exists():
        pytest.fail("the `transformers` command is missing: install requirements.txt (transformers[serving])")
    port = _free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    log = tmp_path_factory.mktemp("serve") / "server.log"  # a file, not a pipe: a full pipe would stall the server
    server = subprocess.Popen(
        [str(command), "serve", str(MODEL), "--host", "127.0.0.1", "--port", str(port), "--device", "cpu", "--log-level", "error"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(log, "w"),  # noqa: SIM115 (closed with the process)
    )
    address = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 180
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{address}/models", timeout=2) as answer:
                    if json.loads(answer.read()).get("data"):
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"transformers serve did not start: {log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield address
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.fixture(scope="module")
def problems():
    return countdown.generate(12, seed=99)


def test_greedy_through_the_server_equals_the_local_model(url, problems):
    remote = tsc.load_policy(url, max_concurrency=4)
    local = tsc.load_policy("countdown", device="cpu")
    assert remote.prompt_format == "compact" and remote.flops_known and remote.model_id == str(MODEL)
    served = solve_many(greedy, problems, remote)
    here = solve_many(greedy, problems, local)
    assert [r.answer for r in served] == [r.answer for r in here]
    assert [r.correct for r in served] == [r.correct for r in here]
    for a, b in zip(served, here):
        assert a.ledger.prompt_tokens == b.ledger.prompt_tokens  # the server read the same tokens (BOS included)
        assert b.ledger.generated_tokens <= a.ledger.generated_tokens <= b.ledger.generated_tokens + 1  # its end token
        assert a.ledger.flops >= b.ledger.flops > 0


def test_sampling_through_the_server(url, problems):
    remote = tsc.load_policy(url, max_concurrency=4)
    result = majority_vote(problems[0], remote, n=6, temperature=1.0, seed=3)
    assert len(result.candidates) == 6 and result.ledger.samples == 6
    assert len(set(result.candidates)) > 1  # it samples (transformers serve is asked through its generation_config)
    assert all(text.endswith(".") or len(text) > 0 for text in result.candidates)


def test_solve_through_the_server(url, problems, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(p.to_json()) + "\n" for p in problems[:4]))
    served, local = tmp_path / "served.jsonl", tmp_path / "local.jsonl"
    assert main(["solve", "--model", url, "--input", str(source), "--output", str(served)]) == 0
    assert main(["solve", "--model", "countdown", "--device", "cpu", "--input", str(source), "--output", str(local)]) == 0
    read = lambda path: [(r["answer"], r["correct"], r["completion"]) for r in map(json.loads, path.read_text().splitlines())]
    assert read(served) == read(local)


def test_transformers_serve_gives_no_log_probabilities_and_the_client_says_so(url, problems):
    """`transformers serve` (5.x) ignores ``logprobs``: the completions come without them, and a
    caller that needs the alternatives (DeepConf) gets a one-line error naming the cause."""
    import math

    remote = tsc.load_policy(url, max_concurrency=2)
    prompt = remote.format(problems[0])
    [[c]] = remote.sample([prompt], n=1, temperature=0.0)
    if c.token_logprobs:  # a later transformers that returns them: they must be the local model's
        local = tsc.load_policy("countdown", device="cpu")
        [[mine]] = local.sample([prompt], n=1, temperature=0.0)
        assert list(c.token_logprobs[: mine.num_tokens]) == pytest.approx(list(mine.token_logprobs), abs=1e-3)
        return
    assert math.isnan(c.logprob)
    with pytest.raises(ValueError, match="returned no log-probabilities"):
        remote.sample([prompt], n=1, temperature=0.0, top_logprobs=5)
