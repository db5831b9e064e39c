"""The `LocalPolicy`: batched, KV-cached sampling from a `transformers` causal LM, charged to a ledger."""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Sequence
from contextlib import contextmanager
from itertools import groupby
from pathlib import Path

import torch

from tsc.compute import Ledger
from tsc.core import Completion, check_request, is_int
from tsc.lm.base import PolicyBase
from tsc.lm.checkpoint import bundled_models, card_kind
from tsc.lm.fast import ConfidenceCut, LeanLlama, Sampled, draw_tokens, filter_probs, id_mask, pad_rows, sample_rows, supports, trimmed
from tsc.lm.prefix import PrefixStore
from tsc.lm.stops import StopMatcher

DEFAULT_MODEL = "countdown"
# the kinds of bundled model that are causal LMs `load_policy` loads (reward models are "orm", "prm")
LANGUAGE_MODELS = ("policy", "direct", "trace", "revision")


class LocalPolicy(PolicyBase):
    """A causal LM with its tokenizer, ready to sample completions of prompts.

    ``model`` is the `transformers` model, ``tokenizer`` its tokenizer, ``path`` the folder it
    was loaded from and ``card`` its training card (empty for models without one).

    ``prompt_format`` says how problems are put to it (`tsc.tasks.prompts`): ``"compact"``
    for the models `tsc` trains (``13 4 7 2>48:``), ``"chat"`` for a model whose tokenizer has
    a chat template (rules, a worked example and the problem as messages), ``"text"`` for
    any other causal LM (the same as plain text). ``device`` is where its weights are.
    """

    def __init__(
        self,
        model,
        tokenizer,
        *,
        path: Path | None = None,
        name: str | None = None,
        card: dict | None = None,
        prompt_format: str | None = None,
    ):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.path = path
        self.name = name or (path.name if path else "model")
        self.card = card or {}
        self.prompt_format = self._pick_format(prompt_format, self.card)
        config = model.config
        self.n_params = sum(p.numel() for p in model.parameters())
        self.n_layer = config.num_hidden_layers
        self.d_model = config.hidden_size
        self.max_len = getattr(config, "max_position_embeddings", None) or 2048
        self._stop_cache: dict[tuple[str, ...], StopMatcher] = {}
        # the lean forward pass (tsc.lm.fast) where it computes exactly what the model does: a
        # Llama-shaped model in float32 on the CPU; set False for the plain `transformers` path
        first = next(model.parameters())
        self.lean = supports(model) and first.device.type == "cpu" and first.dtype == torch.float32
        self._workspace: dict = {}  # memory the lean sampler reuses between calls
        self._lean, self._lean_key = None, None
        self._prefix_store: PrefixStore | None = None  # set inside `prefix_cache`

    def __repr__(self) -> str:
        return f"LocalPolicy({self.name!r}, {self.n_params:,} parameters, {self.prompt_format} prompts, {self.device})"

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @contextmanager
    def prefix_cache(self, max_tokens: int = 50_000, *, share=None):
        """Within this block, a prompt that extends a sequence an earlier call wrote (a partial
        solution the search now continues) reuses that sequence's keys and values and computes
        only its new tokens; the ledger counts those as ``reused_tokens``, not prompt tokens.
        Tree search opens one block per problem. Only the lean sampler reuses prefixes.
        ``share`` (`tsc.core.SharesPrefixes`) is a verifier's: a policy borrows no one's layers."""
        if share is not None:
            raise ValueError("share= is for a verifier built on a policy's layers; a policy's prefix cache takes none")
        previous, self._prefix_store = self._prefix_store, PrefixStore(max_tokens)
        try:
            yield self._prefix_store
        finally:
            self._prefix_store = previous

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
        seed: int | Sequence[int] = 0,
        stop: tuple[str, ...] | None = None,
        ledger: Ledger | Sequence[Ledger] | None = None,
        batch_size: int = 1024,
        offset: int = 0,
        stop_after: int | None = None,
        top_logprobs: int = 0,
        confidence_stop: tuple[int, float] | None = None,
    ) -> list[list[Completion]]:
        """``n`` completions for each prompt, as `tsc.core.Policy.sample` describes its knobs.

        At a positive temperature the next token is drawn from the softmax of the logits over
        ``temperature``, truncated by ``top_k`` (keep the k most likely; 0 keeps all),
        ``top_p`` (the smallest set reaching that probability) and ``min_p`` (drop tokens
        below ``min_p`` times the most likely one), in that order (`tsc.lm.fast.filter_probs`).

        A completion ends right after the first stop string in its text (``stop``; None: the
        prompt format's, `stop`), at an end-of-sequence token, after ``max_new_tokens``, or
        where the context ends. Large requests are split into chunks of at most
        ``batch_size`` sequences. Each prompt is read once per chunk and shared by its samples.
        With a list of seeds, solving problems in one batched call or one at a time gives the
        same answers (`tsc.strategies` use this). With ``stop_after`` the unfinished samples are
        cut (only what was computed is charged), and a prompt's ``n`` samples must fit one batch.
        Every completion carries each generated token's log-probability at temperature 1
        (``token_logprobs``; they come with sampling, so they are free).
        """
        seeds, ledgers, thresholds = check_request(
            prompts, n=n, max_new_tokens=max_new_tokens, seed=seed, offset=offset, ledger=ledger, temperature=temperature,
            top_k=top_k, top_p=top_p, min_p=min_p, top_logprobs=top_logprobs, confidence_stop=confidence_stop,
        )  # fmt: skip
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if offset and seeds is None:
            raise ValueError("offset needs one seed per prompt (a list): only a prompt's own stream can be continued")
        if stop_after is not None and (not is_int(stop_after) or not 1 <= stop_after <= n):
            raise ValueError(f"stop_after must be a whole number from 1 to n ({n}), or None; got {stop_after!r}")
        if stop_after is not None and n > batch_size:
            raise ValueError(f"stop_after needs each prompt's n={n} samples in one batch: raise batch_size ({batch_size}) to n")
        started = time.perf_counter()
        encoded = self.encode(prompts)
        longest = max(map(len, encoded), default=0)
        if longest > self.max_len:  # positions beyond the model's context have no rotary angle
            raise ValueError(f"a prompt of {longest} tokens does not fit {self.name}'s context of {self.max_len} tokens")
        stops = self._stops(self.stop if stop is None else tuple(stop))
        generator = torch.Generator().manual_seed(seed) if seeds is None else None
        streams = None if seeds is None or temperature == 0 else [_stream(s, offset + n, max_new_tokens)[offset:] for s in seeds]
        settings = dict(temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p, generator=generator)
        settings["top_logprobs"] = top_logprobs
        lean = self._lean_model() if self.lean else None
        outputs: list[list[tuple]] = [[] for _ in encoded]  # per prompt: (tokens, token log-probs, top log-probs, cut)
        costs = [[0, 0, 0] for _ in encoded]  # per prompt: tokens computed, tokens reused, FLOPs
        for chunk in _chunks(len(encoded), n, batch_size):
            ids = [encoded[i] for i, _ in chunk]
            copies = [k for _, k in chunk]
            # each sequence stops where the context ends, whatever the other prompts' lengths
            limits = [max(1, min(max_new_tokens, self.max_len - len(p))) for p, k in zip(ids, copies) for _ in range(k)]
            uniforms = None
            if streams is not None:  # sample j of prompt i draws from row j of prompt i's stream (a prompt is once in a chunk)
                uniforms = torch.cat([streams[i][len(outputs[i]) : len(outputs[i]) + k] for i, k in chunk])[:, : max(limits)]
            # one threshold per prompt, handed to each chunk's sampler
            settings["confidence_stop"] = None if thresholds is None else (confidence_stop[0], [thresholds[i] for i, _ in chunk])
            options = dict(limits=limits, uniforms=uniforms, stop_after=stop_after, **settings)
            options.update(stop_ids=stops.ending_ids(), check_ids=stops.needs_check(), check=stops.hit)
            if lean is not None:
                options.update(max_new_tokens=max(limits), pad=self._pad, workspace=self._workspace, store=self._prefix_store)
                sampled = sample_rows(lean, ids, copies, **options)
            else:
                sampled = self._generate(ids, copies, **options)
            tops = sampled.top_logprobs or [[]] * len(sampled.tokens)
            cuts = sampled.cut or [False] * len(sampled.tokens)
            done = 0
            for (i, k), prompt, kept in zip(chunk, ids, sampled.reused):  # each prompt read once, shared by its samples
                rows = list(zip(*(column[done : done + k] for column in (sampled.tokens, sampled.token_logprobs, tops, cuts))))
                outputs[i] += rows
                done += k
                # the prompt's first `kept` tokens came from the store: only the rest is computed
                flops = self.flops(len(prompt), 0) - self.flops(kept, 0)
                flops += sum(self.flops(len(prompt), len(row[0])) - self.flops(len(prompt), 0) for row in rows)
                for j, value in enumerate((len(prompt) - kept, kept, flops)):
                    costs[i][j] += value
        if stop_after is not None:  # the order they ended in: those that reached a stop by length, then the cut ones
            outputs = [sorted(rows, key=lambda row: len(row[0]) if stops.ended(row[0]) else math.inf) for rows in outputs]
        completions = [[_completion(stops, *row) for row in rows] for rows in outputs]
        seconds = time.perf_counter() - started
        if ledgers is not None:  # each prompt's share, the wall time split by tokens written
            written = [sum(c.num_tokens for c in cs) for cs in completions]
            for mine, (computed, kept, flops), w in zip(ledgers, costs, written):
                mine.charge_policy(
                    prompt_tokens=computed, reused_tokens=kept, generated_tokens=w, flops=flops,
                    seconds=seconds * w / max(1, sum(written)), samples=n,
                )  # fmt: skip
        elif ledger is not None:
            ledger.charge_policy(
                prompt_tokens=sum(c[0] for c in costs),
                reused_tokens=sum(c[1] for c in costs),
                generated_tokens=sum(c.num_tokens for cs in completions for c in cs),
                flops=sum(c[2] for c in costs),
                seconds=seconds,
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
        if self.tokenizer.pad_token_id is not None:
            return self.tokenizer.pad_token_id
        return self.tokenizer.eos_token_id if self.tokenizer.eos_token_id is not None else 0

    def _end_ids(self) -> list[int]:
        """Tokens that end a completion: the tokenizer's end token and the model's (a chat
        model's end of turn), as its generation config lists them."""
        ids = {self.tokenizer.eos_token_id}
        generation = getattr(self.model, "generation_config", None)
        eos = getattr(generation, "eos_token_id", None)
        ids |= set(eos) if isinstance(eos, (list, tuple)) else {eos}
        vocab = min(len(self.tokenizer), self.model.get_output_embeddings().weight.shape[0])
        return [i for i in ids if i is not None and 0 <= i < vocab]

    def _stops(self, stop: tuple[str, ...]) -> StopMatcher:
        """The stop rule for ``stop`` (cached: building it reads the whole vocabulary)."""
        if stop not in self._stop_cache:
            self._stop_cache[stop] = StopMatcher(self.tokenizer, stop, self._end_ids())
        return self._stop_cache[stop]

    def _stop_ids(self, stop: tuple[str, ...]) -> torch.Tensor:
        """Token ids that end a sequence by themselves under ``stop`` (for the benchmarks and
        tests that drive the samplers directly)."""
        return self._stops(tuple(stop)).ending_ids()

    @torch.no_grad()
    def _generate(
        self, prompts, copies, *, temperature, top_k, top_p, min_p, generator, stop_ids, check_ids, check, limits, uniforms=None,
        top_logprobs=0, confidence_stop=None, stop_after=None,
    ) -> Sampled:  # fmt: skip
        """The reference path through `transformers`: left-pad the ``prompts`` and read each
        once, copy its KV cache to its ``copies`` samples, then decode one token at a time, on
        the model's device and in its dtype. Used for models `LeanLlama` does not cover (other
        architectures, GPUs, half precision), and by the tests and `python -m tsc bench` as
        the yardstick for the fast path. Returns what `tsc.lm.fast.sample_rows` returns (no
        prefix store here, so nothing is reused); a confidence cut is decided on the CPU with
        `tsc.core.confidence_cut`'s own arithmetic."""
        from transformers import DynamicCache

        device, pad = self.device, self._pad
        input_ids, mask = pad_rows(prompts, pad, left=True, device=device).values()
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        # transformers 5 names the KV cache argument `cache`; 4.x (e.g. in Colab) `past_key_values`
        cache_arg = "cache" if "cache" in inspect.signature(self.model.forward).parameters else "past_key_values"
        cache = DynamicCache()
        step_kwargs = {cache_arg: cache, "use_cache": True}
        logits = self.model(input_ids=input_ids, attention_mask=mask, position_ids=positions, **step_kwargs).logits[:, -1]
        owner = torch.arange(len(prompts), device=device).repeat_interleave(torch.tensor(copies, device=device))
        cache.reorder_cache(owner)  # each prompt's keys and values, copied to its samples (as beam search does)
        logits, mask, positions = logits[owner], mask[owner], positions[owner]
        batch = len(owner)
        limit = torch.tensor(limits, device=device)
        ending, to_check = id_mask(stop_ids, logits.shape[-1], device), id_mask(check_ids, logits.shape[-1], device)
        finished = torch.zeros(batch, dtype=torch.bool, device=device)
        reached = torch.zeros(len(prompts), dtype=torch.long, device=device)  # per prompt: samples ended at a stop
        counts = torch.zeros(batch, dtype=torch.long, device=device)
        wide = torch.float32 if device.type == "mps" else torch.float64  # MPS has no float64
        tokens, written, tops = [], [], []
        k = min(top_logprobs, logits.shape[-1])
        if confidence_stop is not None:  # decided on the CPU
            window, threshold = confidence_stop
            confidence = ConfidenceCut(window, [t for t, k_copies in zip(threshold, copies) for _ in range(k_copies)], max(limits))
        for step in range(max(limits)):
            logits = logits.float()
            log_probs = torch.log_softmax(logits, dim=-1)
            if temperature == 0:
                token = logits.argmax(-1)
            else:
                probs = filter_probs(torch.softmax(logits / temperature, dim=-1), top_k=top_k, top_p=top_p, min_p=min_p)
                if uniforms is None:
                    token = draw_tokens(probs.cpu(), generator).to(device)  # one CPU stream, as the lean sampler
                else:
                    token = draw_tokens(probs, generator, uniforms[:, step])
            token = torch.where(finished, torch.full_like(token, pad), token)
            alive = ~finished
            written.append(log_probs.gather(1, token[:, None]).squeeze(1).to(wide))
            counts += alive.long()
            tokens.append(token)
            ended = ending[token]
            for b in (to_check[token] & alive).nonzero().squeeze(1).tolist():  # a stop string across tokens?
                ended[b] = check(torch.stack(tokens, dim=1)[b, : int(counts[b])].tolist())
            if stop_after is not None:  # a prompt whose first `stop_after` samples have ended stops the rest
                reached.index_add_(0, owner, (alive & ended).long())
                ended = ended | (reached >= stop_after)[owner]
            if k:
                tops.append(log_probs.topk(k, dim=-1).values.float().cpu())
                if confidence_stop is not None:  # a row alive at this step wrote its `step`-th token
                    live = alive.cpu().nonzero().squeeze(1)
                    confidence.update(live, step, tops[-1][live], (~ended & (counts < limit)).cpu()[live])
                    ended = ended | confidence.cut.to(device)
            finished |= alive & (ended | (counts >= limit))
            if finished.all():
                break
            mask = torch.cat([mask, torch.ones(batch, 1, dtype=mask.dtype, device=device)], dim=1)
            positions = positions[:, -1:] + 1
            logits = self.model(input_ids=token[:, None], attention_mask=mask, position_ids=positions, **step_kwargs).logits[:, -1]
        top = torch.stack(tops, dim=1) if k else None
        generated, token_logprobs, top = trimmed(counts.tolist(), torch.stack(tokens, dim=1), torch.stack(written, dim=1).double(), top)
        cut = confidence.cut.tolist() if confidence_stop is not None else None
        return Sampled(generated, token_logprobs, [0] * len(prompts), top, cut)

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
        device = self.device
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            batch = pad_rows([rows[i] for i in chunk], self._pad, device=device)
            ids = batch["input_ids"]
            log_probs = torch.log_softmax(self.model(**batch).logits.float(), dim=-1)
            for b, i in enumerate(chunk):
                head, end = len(heads[i]), len(rows[i])
                if end > head:  # the token at position t is predicted by the logits at t - 1
                    out[i] = log_probs[b, head - 1 : end - 1].gather(1, ids[b, head:end, None]).squeeze(1).tolist()
        return out


def _completion(stops: StopMatcher, tokens: list[int], token_logprobs: list[float], top: list, cut: bool) -> Completion:
    """One sampled sequence as a `Completion`; ``logprob`` is the sum of its tokens' terms,
    added left to right."""
    return Completion(
        stops.cut(stops.decode(tokens)), len(tokens), sum(token_logprobs), tuple(token_logprobs), tuple(map(tuple, top)), bool(cut)
    )


def _stream(seed: int, n: int, length: int) -> torch.Tensor:
    """The random numbers in (0, 1] that a prompt seeded ``seed`` draws its ``n`` samples' tokens
    with: row j for sample j, one number per position. The generator fills the rows in order,
    so the first rows do not depend on ``n`` (what ``offset`` in `LocalPolicy.sample` relies on)."""
    generator = torch.Generator().manual_seed(int(seed) % 2**64)
    return 1.0 - torch.rand(n, length, generator=generator, dtype=torch.float64)


def _chunks(n_prompts: int, n: int, batch_size: int) -> list[list[tuple[int, int]]]:
    """Split ``n`` samples of each prompt into chunks of at most ``batch_size`` sequences, as
    lists of (prompt index, samples); a prompt's samples stay together where they fit."""
    owners = [i for i in range(n_prompts) for _ in range(n)]  # the prompt of each sequence, in order
    return [[(i, len(list(run))) for i, run in groupby(owners[s : s + batch_size])] for s in range(0, len(owners), batch_size)]


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` as a torch device; None picks CUDA, then Apple's MPS, then the CPU."""
    if device is not None:
        try:
            return torch.device(device)
        except (RuntimeError, TypeError) as error:
            raise ValueError(f"unknown device {device!r} ({error}); use cpu, cuda, cuda:N or mps") from None
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def load_policy(
    name_or_path: str | Path | None = None,
    *,
    device: str | torch.device | None = None,
    dtype: torch.dtype | str | None = None,
    prompt_format: str | None = None,
    **remote,
):
    """A `LocalPolicy` for a bundled model name (default: the Countdown model), a local folder,
    a Hugging Face id (an explicit user choice; needs the network the first time), or the URL
    of an OpenAI-compatible server (``http://HOST:PORT/v1``; a `tsc.lm.remote.RemotePolicy`,
    which takes ``remote`` options such as ``max_concurrency``).

    ``device``: where the weights go (None: CUDA, then MPS, then the CPU; `pick_device`).
    ``dtype``: None keeps the bundled models and, on the CPU, every model in float32 (where
    the lean sampler applies); on a GPU a checkpoint keeps the dtype it was saved in.
    ``prompt_format``: ``compact``, ``chat`` or ``text`` (see `LocalPolicy`); None decides from
    the model.

    Local weights must be ``model.safetensors`` (pickle files are refused) and, when the
    card records ``weights_sha256``, match it; a damaged, truncated or missing file raises a
    ValueError that names it. Nothing here touches the network unless ``name_or_path`` is a
    Hub id (``owner/name``) that is neither bundled nor an existing folder, or a URL.
    """
    import re
    from os import PathLike

    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tsc.io import read_card
    from tsc.lm.checkpoint import load_checkpoint

    if name_or_path is not None and not isinstance(name_or_path, (str, PathLike)):
        raise TypeError(f"load_policy takes a model name or folder (str or Path), got {type(name_or_path).__name__}")
    if isinstance(name_or_path, str) and re.match(r"https?://", name_or_path):
        from tsc.lm.remote import RemotePolicy

        return RemotePolicy(name_or_path, prompt_format=prompt_format, **remote)
    if remote:
        raise TypeError(f"load_policy got unexpected option(s) {', '.join(sorted(remote))} (they are for a server's URL)")
    target = pick_device(device)
    bundled = {name: path for kind in LANGUAGE_MODELS for name, path in bundled_models(kind).items()}  # the causal LMs
    known = ", ".join(bundled) or "(none bundled)"
    name = DEFAULT_MODEL if name_or_path is None else str(name_or_path)
    if not name.strip():
        raise ValueError(f"empty model name: pass a bundled model ({known}), a folder or a Hugging Face id")
    if isinstance(dtype, str):
        if not isinstance(getattr(torch, dtype, None), torch.dtype):
            raise ValueError(f"unknown dtype {dtype!r}; use float32, bfloat16 or float16")
        dtype = getattr(torch, dtype)
    load_dtype = dtype or (torch.float32 if name in bundled or target.type == "cpu" else "auto")
    if name in bundled:
        path = bundled[name]
    elif name in bundled_models(kind=None):  # a bundled reward model: it has a value head, no language-model head
        kind = card_kind(bundled_models(kind=None)[name])
        raise ValueError(f"{name!r} is a bundled {kind} (a reward model), not a policy; use it as tsc.verifiers.get_verifier({name!r})")
    elif Path(name).expanduser().is_dir():
        path = Path(name).expanduser()
    elif Path(name).expanduser().exists():
        raise ValueError(f"model path {name!r} is a file; pass the folder that holds config.json")
    elif name_or_path is None or not re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", name):
        raise ValueError(f"unknown model {name!r}: not a bundled model ({known}) nor an existing folder")
    else:  # a Hugging Face id, chosen explicitly by the user: the only way to the network
        try:
            model = AutoModelForCausalLM.from_pretrained(name, use_safetensors=True, dtype=load_dtype)
            tokenizer = AutoTokenizer.from_pretrained(name)
        except OSError as error:  # not on the Hub, no network, or no safetensors weights
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ValueError(
                f"unknown model {name!r}: not a bundled model ({known}), not a folder, not loadable from the Hub ({first})"
            ) from error
        return LocalPolicy(model.to(target), tokenizer, name=name, prompt_format=prompt_format)
    if not (path / "config.json").exists():
        raise ValueError(f"{path} holds no config.json: it is not a saved model folder")
    card = read_card(path)
    if card.get("kind") in ("orm", "prm"):
        raise ValueError(f"{path} holds a {card['kind']} (a reward model), not a policy; load it with tsc.lm.reward.load_reward_model")
    model, tokenizer = load_checkpoint(path, card, "AutoModelForCausalLM", dtype=load_dtype)
    try:
        model = model.to(target)
    except (RuntimeError, AssertionError) as error:  # e.g. CUDA asked for on a machine without it
        raise ValueError(f"cannot move {path.name} to {target}: {str(error).splitlines()[0]}") from None
    return LocalPolicy(model, tokenizer, path=path, name=path.name, card=card, prompt_format=prompt_format)
