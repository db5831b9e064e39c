"""The `Policy`: batched, KV-cached sampling from a `transformers` causal LM, charged to a ledger."""

from __future__ import annotations

import inspect
import time
from contextlib import contextmanager
from pathlib import Path

import torch

from tsc.compute import Ledger, forward_flops
from tsc.core import Completion, check_sampling
from tsc.lm.fast import LeanLlama, PrefixStore, filter_probs, sample_rows, supports

ASSETS = Path(__file__).resolve().parent.parent / "assets"
DEFAULT_MODEL = "countdown"
# the kinds of bundled model that are causal LMs `load_policy` loads (reward models are "orm", "prm")
LANGUAGE_MODELS = ("policy", "direct", "trace", "revision")


class Policy:
    """A causal LM with its tokenizer, ready to sample completions of prompts.

    ``model`` is the `transformers` model, ``tokenizer`` its tokenizer, ``path`` the folder it
    was loaded from and ``card`` its training card (empty for models without one).
    """

    def __init__(self, model, tokenizer, *, path: Path | None = None, name: str | None = None, card: dict | None = None):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.path = path
        self.name = name or (path.name if path else "model")
        self.card = card or {}
        config = model.config
        self.n_params = sum(p.numel() for p in model.parameters())
        self.n_layer = config.num_hidden_layers
        self.d_model = config.hidden_size
        self.max_len = getattr(config, "max_position_embeddings", 2048)
        self._stop_cache: dict[tuple[str, ...], torch.Tensor] = {}
        # the lean forward pass (tsc.lm.fast) when it covers this architecture; set False for
        # the plain `transformers` path
        self.lean = supports(model)
        self._workspace: dict = {}  # memory the lean sampler reuses between calls
        self._lean, self._lean_key = None, None
        self._prefix_store: PrefixStore | None = None  # set inside `prefix_cache`

    def __repr__(self) -> str:
        return f"Policy({self.name!r}, {self.n_params:,} parameters)"

    def prompt(self, numbers: list[int], target: int) -> str:
        """The Countdown prompt in this model's format, e.g. ``"13 4 7 2>48:"``."""
        from tsc.tasks.countdown import Countdown

        return Countdown(tuple(numbers), target).prompt()

    @contextmanager
    def prefix_cache(self, max_tokens: int = 50_000):
        """Within this block, a prompt that extends a sequence an earlier call wrote (a partial
        solution the search now continues) reuses that sequence's keys and values and computes
        only its new tokens; the ledger counts those as ``reused_tokens``, not prompt tokens.
        Tree search opens one block per problem. Only the lean sampler reuses prefixes."""
        previous, self._prefix_store = self._prefix_store, PrefixStore(max_tokens)
        try:
            yield self._prefix_store
        finally:
            self._prefix_store = previous

    def format(self, problem) -> str:
        """The prompt for any task's problem in this model's format."""
        return problem.prompt()

    def flops(self, prompt_len: int, gen_len: int) -> int:
        """Forward FLOPs to read ``prompt_len`` tokens and write ``gen_len`` (see tsc.compute)."""
        return forward_flops(self.n_params, self.n_layer, self.d_model, prompt_len, gen_len)

    def encode(self, prompts: list[str]) -> list[list[int]]:
        """Token ids of each prompt, starting with the beginning-of-sequence token."""
        bos = [self.tokenizer.bos_token_id] if self.tokenizer.bos_token_id is not None else []
        return [bos + ids for ids in self.tokenizer(list(prompts), add_special_tokens=False)["input_ids"]]

    def sample(
        self,
        prompts: list[str],
        *,
        n: int = 1,
        temperature: float = 1.0,
        top_p: float = 1.0,
        top_k: int = 0,
        min_p: float = 0.0,
        max_new_tokens: int = 64,
        seed: int = 0,
        stop: tuple[str, ...] = (".",),
        ledger: Ledger | None = None,
        batch_size: int = 1024,
    ) -> list[list[Completion]]:
        """``n`` completions for each prompt (temperature 0 decodes greedily).

        At a positive temperature the next token is drawn from the softmax of the logits over
        ``temperature``, truncated by ``top_k`` (keep the k most likely; 0 keeps all),
        ``top_p`` (the smallest set reaching that probability) and ``min_p`` (drop tokens
        below ``min_p`` times the most likely one), in that order (`tsc.lm.fast.filter_probs`).

        Sequences end at a stop string, at the end-of-sequence token or after
        ``max_new_tokens``. The same ``seed`` gives the same completions. Large requests are
        split into chunks of at most ``batch_size`` sequences. Each prompt is read once per
        chunk and shared by its samples, and the ledger charges what was computed: the
        prompt's tokens once, each sample's generated tokens, and their FLOPs.
        """
        if isinstance(prompts, str):
            raise TypeError("prompts must be a list of strings; wrap a single prompt in a list")
        if n < 1 or max_new_tokens < 1 or batch_size < 1:
            raise ValueError(f"n, max_new_tokens and batch_size must be at least 1 (got {n}, {max_new_tokens}, {batch_size})")
        check_sampling(temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p)
        started = time.perf_counter()
        encoded = self.encode(prompts)
        longest = max(map(len, encoded), default=0)
        if longest > self.max_len:  # positions beyond the model's context have no rotary angle
            raise ValueError(f"a prompt of {longest} tokens does not fit {self.name}'s context of {self.max_len} tokens")
        generator = torch.Generator().manual_seed(seed)
        settings = dict(temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p, generator=generator, stop_ids=self._stop_ids(stop))
        lean = self._lean_model() if self.lean else None
        outputs: list[list[tuple[list[int], float]]] = [[] for _ in encoded]
        prompt_tokens = reused_tokens = flops = 0
        for chunk in _chunks(len(encoded), n, batch_size):
            ids = [encoded[i] for i, _ in chunk]
            copies = [k for _, k in chunk]
            max_new = max(1, min(max_new_tokens, self.max_len - max(map(len, ids))))
            if lean is not None:
                tokens, logprobs, reused = sample_rows(
                    lean, ids, copies, max_new_tokens=max_new, pad=self._pad, workspace=self._workspace,
                    store=self._prefix_store, **settings,
                )  # fmt: skip
                reads = [1] * len(ids)  # each prompt read once, shared by its samples
            else:
                tokens, logprobs = self._generate([r for r, k in zip(ids, copies) for _ in range(k)], max_new_tokens=max_new, **settings)
                reads, reused = copies, [0] * len(ids)
            done = 0
            for (i, k), prompt, read, kept in zip(chunk, ids, reads, reused):
                rows = list(zip(tokens[done : done + k], logprobs[done : done + k]))
                outputs[i] += rows
                done += k
                prompt_tokens += read * (len(prompt) - kept)
                reused_tokens += read * kept
                # the prompt's first `kept` tokens came from the store: only the rest is computed
                flops += read * (self.flops(len(prompt), 0) - self.flops(kept, 0)) + sum(
                    self.flops(len(prompt), len(t)) - self.flops(len(prompt), 0) for t, _ in rows
                )
        completions = [[Completion(self._text(t), len(t), lp) for t, lp in rows] for rows in outputs]
        if ledger is not None:
            ledger.charge_policy(
                prompt_tokens=prompt_tokens,
                reused_tokens=reused_tokens,
                generated_tokens=sum(c.num_tokens for cs in completions for c in cs),
                flops=flops,
                seconds=time.perf_counter() - started,
                samples=len(encoded) * n,
            )
        return completions

    def _lean_model(self) -> LeanLlama:
        """The lean forward pass over the current weights (rebuilt when any weight changed,
        e.g. by a training step, which bumps the tensor's version counter)."""
        key = tuple((p.data_ptr(), p._version) for p in self.model.parameters())
        if self._lean_key != key:
            self._lean, self._lean_key = LeanLlama(self.model), key
        return self._lean

    @property
    def _pad(self) -> int:
        return self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0

    def _text(self, tokens: list[int]) -> str:
        eos = self.tokenizer.eos_token_id
        return self.tokenizer.decode([t for t in tokens if t != eos], skip_special_tokens=True)

    def _stop_ids(self, stop: tuple[str, ...]) -> torch.Tensor:
        """Ids of the end token and of every token whose text contains a stop string (cached)."""
        if stop not in self._stop_cache:
            self._stop_cache[stop] = self._find_stop_ids(stop)
        return self._stop_cache[stop]

    def _find_stop_ids(self, stop: tuple[str, ...]) -> torch.Tensor:
        ids = {self.tokenizer.eos_token_id}
        for token, index in self.tokenizer.get_vocab().items():
            text = self.tokenizer.convert_tokens_to_string([token])
            if any(s and s in text for s in stop):
                ids.add(index)
        return torch.tensor(sorted(i for i in ids if i is not None))

    @torch.no_grad()
    def _generate(self, rows, *, temperature, top_k, top_p, min_p, max_new_tokens, generator, stop_ids):
        """The reference path through `transformers`: left-pad ``rows``, then decode one token at
        a time reusing its KV cache. Used for models `LeanLlama` does not cover, and by the
        tests and `python -m tsc bench` as the yardstick for the fast path."""
        from transformers import DynamicCache

        pad = self._pad
        width = max(len(r) for r in rows)
        input_ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows])
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        # transformers 5 names the KV cache argument `cache`; 4.x (e.g. in Colab) `past_key_values`
        cache_arg = "cache" if "cache" in inspect.signature(self.model.forward).parameters else "past_key_values"
        step_kwargs = {cache_arg: DynamicCache(), "use_cache": True}
        logits = self.model(input_ids=input_ids, attention_mask=mask, position_ids=positions, **step_kwargs).logits[:, -1]
        batch = len(rows)
        finished = torch.zeros(batch, dtype=torch.bool)
        counts = torch.zeros(batch, dtype=torch.long)
        logprob = torch.zeros(batch, dtype=torch.float64)
        tokens = []
        for _ in range(max_new_tokens):
            logits = logits.float()
            log_probs = torch.log_softmax(logits, dim=-1)
            if temperature == 0:
                token = logits.argmax(-1)
            else:
                probs = filter_probs(torch.softmax(logits / temperature, dim=-1), top_k=top_k, top_p=top_p, min_p=min_p)
                token = torch.multinomial(probs, 1, generator=generator).squeeze(1)
            token = torch.where(finished, torch.full_like(token, pad), token)
            alive = ~finished
            logprob += torch.where(alive, log_probs.gather(1, token[:, None]).squeeze(1).double(), 0.0)
            counts += alive.long()
            tokens.append(token)
            finished |= torch.isin(token, stop_ids)
            if finished.all():
                break
            mask = torch.cat([mask, torch.ones(batch, 1, dtype=mask.dtype)], dim=1)
            positions = positions[:, -1:] + 1
            logits = self.model(input_ids=token[:, None], attention_mask=mask, position_ids=positions, **step_kwargs).logits[:, -1]
        generated = torch.stack(tokens, dim=1).tolist()
        return [row[:count] for row, count in zip(generated, counts.tolist())], logprob.tolist()

    @torch.no_grad()
    def score(self, prompts: list[str], completions: list[str], *, batch_size: int = 512) -> list[list[float]]:
        """The log-probability (at temperature 1) of every token of ``completions[i]`` after
        ``prompts[i]``, from one forward pass over both (batched, right-padded).

        It charges nothing: the caller says whose compute it is (`tsc.verifiers.SelfVerifier`
        charges it as verification, ``self.flops(prompt_len + len(result[i]), 0)`` each).
        Text beyond the model's context is cut off, so its tokens get no log-probability.
        """
        if isinstance(prompts, str) or isinstance(completions, str):
            raise TypeError("prompts and completions must be lists of strings")
        if len(prompts) != len(completions):
            raise ValueError(f"got {len(prompts)} prompts but {len(completions)} completions")
        if not prompts:
            return []
        heads = self.encode(prompts)
        tails = self.tokenizer(list(completions), add_special_tokens=False)["input_ids"]
        rows = [(h + t)[: self.max_len] for h, t in zip(heads, tails)]
        out: list[list[float]] = [[] for _ in rows]
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            width = max(len(rows[i]) for i in chunk)
            ids = torch.tensor([rows[i] + [self._pad] * (width - len(rows[i])) for i in chunk])
            mask = torch.tensor([[1] * len(rows[i]) + [0] * (width - len(rows[i])) for i in chunk])
            log_probs = torch.log_softmax(self.model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)
            for b, i in enumerate(chunk):
                head, end = len(heads[i]), len(rows[i])
                if end > head:  # the token at position t is predicted by the logits at t - 1
                    out[i] = log_probs[b, head - 1 : end - 1].gather(1, ids[b, head:end, None]).squeeze(1).tolist()
        return out


def _chunks(n_prompts: int, n: int, batch_size: int) -> list[list[tuple[int, int]]]:
    """Split ``n`` samples of each prompt into chunks of at most ``batch_size`` sequences, as
    lists of (prompt index, samples); a prompt's samples stay together where they fit."""
    chunks, current, size = [], [], 0
    for i in range(n_prompts):
        left = n
        while left:
            take = min(left, batch_size - size)
            current.append((i, take))
            size += take
            left -= take
            if size == batch_size:
                chunks.append(current)
                current, size = [], 0
    return chunks + [current] if current else chunks


@contextmanager
def _quiet_loading():
    from transformers.utils import logging

    was_enabled = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            logging.enable_progress_bar()


def bundled_models(kind: str | None = "policy") -> dict[str, Path]:
    """Name → folder of every model shipped in ``tsc/assets`` of ``kind``: ``"policy"`` (the
    causal LMs `load_policy` takes; the default), ``"orm"`` or ``"prm"`` (reward models, see
    `tsc.lm.reward`), or None for all of them. A folder's kind is its card's ``kind``."""
    folders = {p.name: p for p in sorted(ASSETS.iterdir()) if (p / "config.json").exists()} if ASSETS.exists() else {}
    return {name: p for name, p in folders.items() if kind is None or _card_kind(p) == kind}


def _card_kind(folder: Path) -> str:
    """The ``kind`` on a folder's card; a folder without a readable card holds a policy."""
    import json

    try:
        return json.loads((folder / "card.json").read_text(encoding="utf-8")).get("kind") or "policy"
    except (OSError, ValueError, AttributeError):
        return "policy"


def load_policy(name_or_path: str | Path | None = None) -> Policy:
    """A `Policy` for a bundled model name (default: the Countdown model), a local folder,
    or a Hugging Face id (an explicit user choice; needs the network the first time).

    Local weights must be ``model.safetensors`` (pickle files are refused) and, when the
    card records ``weights_sha256``, match it; a damaged, truncated or missing file raises a
    ValueError that names it. Nothing here touches the network unless ``name_or_path`` is a
    Hub id (``owner/name``) that is neither bundled nor an existing folder.
    """
    import re
    from os import PathLike

    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tsc.lm.checkpoint import WEIGHTS, check_checkpoint, how_to_fix, read_card

    if name_or_path is not None and not isinstance(name_or_path, (str, PathLike)):
        raise TypeError(f"load_policy takes a model name or folder (str or Path), got {type(name_or_path).__name__}")
    bundled = {name: path for kind in LANGUAGE_MODELS for name, path in bundled_models(kind).items()}  # the causal LMs
    known = ", ".join(bundled) or "(none bundled)"
    name = DEFAULT_MODEL if name_or_path is None else str(name_or_path)
    if not name.strip():
        raise ValueError(f"empty model name: pass a bundled model ({known}), a folder or a Hugging Face id")
    if name in bundled:
        path = bundled[name]
    elif name in bundled_models(kind=None):  # a bundled reward model: it has a value head, no language-model head
        kind = _card_kind(bundled_models(kind=None)[name])
        raise ValueError(f"{name!r} is a bundled {kind} (a reward model), not a policy; use it as tsc.verifiers.get_verifier({name!r})")
    elif Path(name).expanduser().is_dir():
        path = Path(name).expanduser()
    elif Path(name).expanduser().exists():
        raise ValueError(f"model path {name!r} is a file; pass the folder that holds config.json")
    elif name_or_path is None or not re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", name):
        raise ValueError(f"unknown model {name!r}: not a bundled model ({known}) nor an existing folder")
    else:  # a Hugging Face id, chosen explicitly by the user: the only way to the network
        try:
            model = AutoModelForCausalLM.from_pretrained(name, use_safetensors=True)
            tokenizer = AutoTokenizer.from_pretrained(name)
        except OSError as error:  # not on the Hub, no network, or no safetensors weights
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ValueError(
                f"unknown model {name!r}: not a bundled model ({known}), not a folder, not loadable from the Hub ({first})"
            ) from error
        return Policy(model, tokenizer, name=name)
    if not (path / "config.json").exists():
        raise ValueError(f"{path} holds no config.json: it is not a saved model folder")
    card = read_card(path)
    if card.get("kind") in ("orm", "prm"):
        raise ValueError(f"{path} holds a {card['kind']} (a reward model), not a policy; load it with tsc.lm.reward.load_reward_model")
    check_checkpoint(path, card)  # safetensors only; the sha256 on the card, if any
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        with _quiet_loading():  # a million parameters load in milliseconds: no progress bar
            model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, use_safetensors=True, dtype=torch.float32)
    except Exception as error:  # safetensors' SafetensorError, a broken config or tokenizer file, ...
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(
            f"cannot load the checkpoint in {path} ({WEIGHTS}, config or tokenizer damaged?): {detail}; {how_to_fix(card)}"
        ) from error
    return Policy(model, tokenizer, path=path, name=path.name, card=card)
