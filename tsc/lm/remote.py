"""A `tsc.core.Policy` that samples from an OpenAI-compatible server: the scale-out path.

When one machine is not enough, serve the model with an engine built for it — vLLM or
SGLang across GPUs (tensor parallelism, continuous batching, prefix caching), or
``transformers serve`` — and point `tsc` at it::

    policy = tsc.load_policy("http://127.0.0.1:8000/v1")
    python -m tsc solve --model http://127.0.0.1:8000/v1 --strategy majority --n 64 ...

`tsc` never runs its own server. Every strategy runs unchanged: this class has the methods
strategies use (`format`, `sample`) and charges the server's token counts to the ledger.

* **Prompts.** When the served model's id is a checkpoint folder this machine can read (a
  bundled model served by its folder, say), its tokenizer and card decide the prompt format
  and the FLOPs, exactly as for the local model: the compact prompt goes to
  ``/v1/completions``. Otherwise the problem goes to ``/v1/chat/completions`` as messages
  (`tsc.tasks.messages`) and the server applies its own chat template.
* **FLOPs** come from the checkpoint's parameter count, or from ``params=`` (a declared
  count); without either the ledger counts tokens only and says so (``flops_known``).
* **Samples.** ``n`` is asked for in one request; a server that returns fewer choices
  (``transformers serve`` ignores ``n``) gets one request per missing sample, at most
  ``max_concurrency`` in flight. Stop strings are sent, and always applied here as well (a
  server that refuses them is asked again without). ``seed`` is sent per request.
* **Log-probabilities.** Every request asks for them (``logprobs``; with ``top_logprobs=k``
  also the k alternatives: ``logprobs=k`` on ``/v1/completions``, ``top_logprobs=k`` on the
  chat endpoint). A server that gives none (``transformers serve`` ignores the field) leaves
  ``token_logprobs`` empty and ``logprob`` NaN; asking it for ``top_logprobs`` is a one-line
  ValueError that says so. ``confidence_stop`` cuts a completion here, at the token where
  `tsc.core.confidence_cut` cuts it, but the server wrote it whole and the ledger pays for all
  of it (vLLM can stop it earlier with a logits processor, as DeepConf's code does).
* **Failures.** A dropped connection or a 5xx is retried with exponential backoff; a server
  that is down, an unknown model id or a refused request is a one-line ValueError.
"""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tsc.compute import Ledger
from tsc.core import Completion, check_request, confidence_cut
from tsc.lm.base import PolicyBase
from tsc.tasks.prompts import cut_at_stop


class ChatPrompt(str):
    """A prompt that is a list of chat messages (the server applies its template); as text it
    reads as the messages, one per line, for logs and error messages."""

    messages: list[dict]

    def __new__(cls, messages: list[dict]):
        prompt = super().__new__(cls, "\n".join(f"{m['role']}: {m['content']}" for m in messages))
        prompt.messages = messages
        return prompt


class RemotePolicy(PolicyBase):
    """A model behind an OpenAI-compatible server at ``url`` (``http://HOST:PORT/v1``)."""

    def __init__(
        self,
        url: str,
        *,
        model: str | None = None,
        prompt_format: str | None = None,
        params: int | None = None,
        api_key: str | None = None,
        max_concurrency: int = 8,
        timeout: float = 120.0,
        retries: int = 4,
    ):
        if not isinstance(max_concurrency, int) or max_concurrency < 1:
            raise ValueError(f"max_concurrency must be a positive integer, got {max_concurrency!r}")
        if not isinstance(retries, int) or retries < 0:
            raise ValueError(f"retries must be a non-negative integer, got {retries!r}")
        if params is not None and (not isinstance(params, int) or params < 1):
            raise ValueError(f"params (the served model's parameter count) must be a positive integer, got {params!r}")
        self.url = url.rstrip("/")
        self.api_key, self.timeout, self.retries, self.max_concurrency = api_key, timeout, retries, max_concurrency
        served = self._served_models()
        ids = [entry.get("id") for entry in served]
        if model is None:
            if len(ids) != 1:
                raise ValueError(f"the server at {self.url} serves {len(ids)} models ({', '.join(map(str, ids)) or 'none'}): choose one")
            model = ids[0]
        elif model not in ids:
            raise ValueError(f"the server at {self.url} does not serve {model!r}; it serves: {', '.join(map(str, ids)) or 'nothing'}")
        self.model_id = model
        self.name = model
        # transformers serve lists its models with a load status, and samples only when asked
        # through its own generation_config (it reads temperature but not do_sample)
        self._transformers_serve = any(isinstance(e.get("status"), dict) for e in served)
        self._server_stops = True  # cleared if the server refuses stop strings
        self._local(prompt_format, params)

    def _local(self, prompt_format: str | None, params: int | None) -> None:
        """What this machine knows of the served model: its tokenizer, card and size when the
        model id is a readable checkpoint folder (or a bundled model's name)."""
        from tsc.lm.checkpoint import bundled_models

        folder = Path(self.model_id).expanduser() if not self.model_id.startswith(("http:", "https:")) else None
        bundled = bundled_models()
        if self.model_id in bundled:
            folder = bundled[self.model_id]
        self.path, self.tokenizer, self.card = None, None, {}
        self.n_layer = self.d_model = None
        self.max_len = 1 << 20
        self.n_params = params
        if folder is not None and (folder / "config.json").is_file():
            from transformers import AutoConfig, AutoTokenizer

            from tsc.io import read_card

            self.path, self.card = folder, read_card(folder)
            self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            config = AutoConfig.from_pretrained(folder, local_files_only=True)
            self.n_layer, self.d_model = config.num_hidden_layers, config.hidden_size
            self.max_len = getattr(config, "max_position_embeddings", None) or self.max_len
            self.n_params = params or self.card.get("params") or _count_parameters(folder)
        prompt_format = self._pick_format(prompt_format, self.card)
        if prompt_format == "chat" and self.tokenizer is not None and not getattr(self.tokenizer, "chat_template", None):
            prompt_format = "text"
        self.prompt_format = prompt_format
        self.lean = False

    def __repr__(self) -> str:
        return f"RemotePolicy({self.model_id!r} at {self.url}, {self.prompt_format} prompts)"

    def format(self, problem) -> str:
        """The prompt for ``problem``: the model's own format when this machine has its
        tokenizer, else chat messages for the server's template (a `ChatPrompt`)."""
        from tsc.tasks import messages

        if self.prompt_format == "chat" and self.tokenizer is None:
            return ChatPrompt(messages(problem))
        return super().format(problem)

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
        offset: int = 0,
        stop_after: int | None = None,
        top_logprobs: int = 0,
        confidence_stop: tuple[int, float] | None = None,
    ) -> list[list[Completion]]:
        """``n`` completions of each prompt from the server (see `tsc.lm.policy.LocalPolicy.sample`).

        Each prompt's requests carry its own seed (``seed`` + its index, or the list's entry;
        sample ``j`` of a fanned-out prompt ``seed + j``), so a prompt's completions do not
        depend on the others in the call, as far as the server's sampling is reproducible.
        ``offset`` shifts the seeds by as much: a fanned-out prompt's sample ``j`` is then the
        one a single call would have drawn; a server that answers ``n`` in one request draws
        its own streams, so rounds are reproducible and distinct, not the same samples.
        The ledger is charged the server's token counts and, when the model's size is known,
        their FLOPs; ``logprob`` is the sum of the server's token log-probabilities
        (``token_logprobs``), or NaN where it offers none. ``top_logprobs`` and
        ``confidence_stop`` as in the module's docs.
        ``stop_after`` is accepted and has no effect: a server writes every sample to its end,
        and each is charged.
        """
        seeds, ledgers, thresholds = check_request(
            prompts, n=n, max_new_tokens=max_new_tokens, seed=seed, offset=offset, ledger=ledger, temperature=temperature,
            top_k=top_k, top_p=top_p, min_p=min_p, top_logprobs=top_logprobs, confidence_stop=confidence_stop,
        )  # fmt: skip
        seeds = [s + offset for s in (seeds or [int(seed) + i for i in range(len(prompts))])]
        stops = tuple(self.stop if stop is None else stop)
        knobs = dict(temperature=temperature, top_p=top_p, top_k=top_k, min_p=min_p, max_new_tokens=max_new_tokens, stops=stops)
        knobs["top_logprobs"] = top_logprobs
        stops_at = [None] * len(prompts) if thresholds is None else [(confidence_stop[0], t) for t in thresholds]  # (window, threshold)
        started = time.perf_counter()

        def ask(i: int, j: int, count: int) -> tuple[list[Completion], dict]:  # `count` samples of prompt i from sample j on
            return self._request(prompts[i], n=count, seed=(seeds[i] + j) % 2**31, confidence_stop=stops_at[i], **knobs)

        with ThreadPoolExecutor(self.max_concurrency) as pool:
            first = list(pool.map(ask, range(len(prompts)), [0] * len(prompts), [n] * len(prompts)))
            missing = [(i, j) for i, (choices, _) in enumerate(first) for j in range(len(choices), n)]  # a server that ignored n
            extra = list(pool.map(lambda ij: ask(*ij, 1), missing))
        rows = [list(choices) for choices, _ in first]
        usages = [[usage] for _, usage in first]
        for (i, _), (choices, usage) in zip(missing, extra):
            rows[i] += choices[:1]
            usages[i].append(usage)
        seconds = time.perf_counter() - started
        completions = []
        for i, (row, used) in enumerate(zip(rows, usages)):
            completions.append(row[:n])
            target = ledgers[i] if ledgers is not None else ledger
            if target is not None:
                self._charge(target, used, completions[-1], seconds / len(prompts))
        return completions

    def _charge(self, ledger: Ledger, usages: list[dict], completions: list[Completion], seconds: float) -> None:
        """Charge one prompt's requests: the prompt tokens the server read (those it reports
        as cached are reused), the tokens it wrote, and their FLOPs when the size is known."""
        prompt = sum(int(u.get("prompt_tokens") or 0) for u in usages)
        cached = sum(int((u.get("prompt_tokens_details") or {}).get("cached_tokens") or 0) for u in usages)
        written = sum(int(u.get("completion_tokens") or 0) for u in usages) or sum(c.num_tokens for c in completions)
        per_request = prompt // max(1, len(usages))
        flops = 0
        if self.flops_known:  # each request reads its prompt (less what the server cached), then writes
            flops = sum(self.flops(per_request, 0) for _ in usages) - (self.flops(cached // len(usages), 0) * len(usages) if cached else 0)
            flops += sum(self.flops(per_request, c.num_tokens) - self.flops(per_request, 0) for c in completions)
        ledger.charge_policy(
            prompt_tokens=prompt - cached, reused_tokens=cached, generated_tokens=written, flops=flops, seconds=seconds,
            samples=len(completions),
        )  # fmt: skip
        if not self.flops_known:
            ledger.flops_known = False

    def _request(
        self, prompt: str, *, n: int, seed: int, temperature, top_p, top_k, min_p, max_new_tokens, stops, top_logprobs=0,
        confidence_stop=None,
    ) -> tuple[list[Completion], dict]:  # fmt: skip
        """One request for ``n`` samples of ``prompt``: (completions, usage)."""
        body: dict = {"model": self.model_id, "n": n, "max_tokens": max_new_tokens, "temperature": float(temperature), "seed": seed}
        if top_p < 1:
            body["top_p"] = top_p
        if top_k:  # not in OpenAI's API; vLLM and SGLang read it
            body["top_k"] = top_k
        if min_p:
            body["min_p"] = min_p
        if self._transformers_serve and temperature > 0:
            config = {"do_sample": True, "temperature": float(temperature), "max_new_tokens": max_new_tokens, "top_p": top_p}
            config.update({"top_k": top_k} if top_k else {"top_k": None})
            config.update({"min_p": min_p} if min_p else {})
            body["generation_config"] = json.dumps(config)
        if isinstance(prompt, ChatPrompt):
            endpoint, body["messages"] = "chat/completions", prompt.messages
            body["logprobs"] = True
            if top_logprobs:
                body["top_logprobs"] = top_logprobs
        else:
            endpoint = "completions"
            body["prompt"] = self._bos() + prompt
            body["logprobs"] = max(1, top_logprobs)
        if stops and self._server_stops:
            body["stop"] = list(stops)
        while True:  # a server that refuses the stop strings is asked again without them
            try:
                answer = self._call("POST", endpoint, body)
                break
            except _Refused as refusal:
                if "stop" not in body:
                    raise ValueError(f"the server at {self.url} refused the request: {refusal}") from None
                self._server_stops = False  # e.g. transformers serve cannot match stop strings for every tokenizer
                body.pop("stop")
        choices = []
        for choice in answer.get("choices") or []:
            whole = choice.get("text") if "text" in choice else (choice.get("message") or {}).get("content") or ""
            text = cut_at_stop(whole or "", stops)
            pieces, values, tops = _token_logprobs(choice, top_logprobs)
            if top_logprobs and (not values or len(tops) != len(values)):
                raise ValueError(
                    f"the server at {self.url} returned no log-probabilities (top_logprobs={top_logprobs} was asked): confidence "
                    "measures such as DeepConf need a server that returns them (vLLM, SGLang; transformers serve does not)"
                )
            if pieces and len(pieces) == len(values):  # the tokens after a stop string this client cut away go too
                kept, length = 0, 0
                while kept < len(pieces) and length < len(text):
                    length += len(pieces[kept])
                    kept += 1
                pieces, values, tops = pieces[:kept], values[:kept], tops[:kept]
            count = self._count(text, choice, n, answer)
            cut = False
            if confidence_stop is not None:  # cut here where the sampler would have; the server wrote it all
                at = confidence_cut(tops, *confidence_stop)
                if at is not None and at < len(values):
                    cut, values, tops = True, values[:at], tops[:at]
                    text = "".join(pieces[:at]) if len(pieces) >= at else text
            logprob = sum(values) if values else math.nan
            choices.append(Completion(text, count, logprob, tuple(values), tuple(tops), cut))
        return choices, answer.get("usage") or {}

    def _bos(self) -> str:
        """The beginning-of-sequence token as text, for a compact model the server tokenizes
        without special tokens (a chat template writes its own)."""
        if self.prompt_format == "compact" and self.tokenizer is not None and self.tokenizer.bos_token:
            return self.tokenizer.bos_token
        return ""

    def _count(self, text: str, choice: dict, n: int, answer: dict) -> int:
        """Tokens one choice wrote: the server's count when it is the only choice, else the
        local tokenizer's (plus the end token), else the usage split evenly."""
        usage = answer.get("usage") or {}
        if len(answer.get("choices") or []) == 1 and usage.get("completion_tokens") is not None:
            return max(1, int(usage["completion_tokens"]))
        if self.tokenizer is not None:
            return max(1, len(self.tokenizer(text, add_special_tokens=False)["input_ids"]) + (choice.get("finish_reason") == "stop"))
        return max(1, int(usage.get("completion_tokens") or n) // max(1, len(answer.get("choices") or [1])))

    def _served_models(self) -> list[dict]:
        try:
            answer = self._call("GET", "models", None)
        except _Refused as refusal:
            raise ValueError(f"the server at {self.url} does not list its models ({refusal}); is it OpenAI-compatible?") from None
        data = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(data, list):
            raise ValueError(f"the server at {self.url} answered /models with no model list; is it OpenAI-compatible?")
        return [entry for entry in data if isinstance(entry, dict)]

    def _call(self, method: str, endpoint: str, body: dict | None) -> dict:
        """One HTTP call with retries: a dropped connection, a timeout or a 5xx is tried again
        after 0.5, 1, 2, ... seconds; a 4xx is a refusal (`_Refused`)."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(min(8.0, 0.5 * 2 ** (attempt - 1)))
            request = urllib.request.Request(f"{self.url}/{endpoint}", data=data, headers=headers, method=method)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return json.loads(response.read().decode("utf-8"))
            except urllib.error.HTTPError as error:
                detail = _detail(error)
                if 400 <= error.code < 500:
                    raise _Refused(f"HTTP {error.code}: {detail}") from None
                if endpoint != "models" and body is not None and "stop" in body and error.code == 500:
                    raise _Refused(f"HTTP {error.code}: {detail}") from None  # maybe the stop strings: asked again without
                last = f"HTTP {error.code}: {detail}"
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as error:
                reason = getattr(error, "reason", error)
                last = f"{type(reason).__name__}: {reason}"
            except ValueError as error:  # not JSON
                last = f"an answer that is not JSON ({error})"
        raise ValueError(f"cannot reach the server at {self.url} ({last}) after {self.retries + 1} tries: is it running?")


class _Refused(Exception):
    """The server answered, and said no."""


def _detail(error: urllib.error.HTTPError) -> str:
    try:
        text = error.read().decode("utf-8", "replace")
        payload = json.loads(text)
        message = payload.get("detail") or payload.get("message") or (payload.get("error") or {}).get("message") or text
    except Exception:
        message = str(error.reason)
    return " ".join(str(message).split())[:200]


def _token_logprobs(choice: dict, k: int) -> tuple[list[str], list[float], list[tuple[float, ...]]]:
    """A choice's tokens (as text, where the server names them), their log-probabilities, and
    each token's ``k`` largest alternatives' log-probabilities, largest first, in either
    format: ``/v1/completions`` (``tokens``, ``token_logprobs``, ``top_logprobs`` as dicts)
    or the chat endpoint (``content``: one entry per token with its ``top_logprobs`` list).
    Empty lists where the server gave none."""
    logprobs = choice.get("logprobs")
    if not isinstance(logprobs, dict):
        return [], [], []
    if isinstance(logprobs.get("content"), list):  # chat
        entries = [e for e in logprobs["content"] if isinstance(e, dict)]
        pieces = [str(e.get("token", "")) for e in entries]
        values = [e.get("logprob") for e in entries]
        alternatives = [[a.get("logprob") for a in e.get("top_logprobs") or [] if isinstance(a, dict)] for e in entries]
    else:
        pieces = [str(t) for t in logprobs.get("tokens") or []]
        values = list(logprobs.get("token_logprobs") or [])
        alternatives = [list(d.values()) if isinstance(d, dict) else [] for d in logprobs.get("top_logprobs") or []]
    if not values or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return pieces, [], []
    tops = []
    if k:  # as DeepConf's code does, the mean runs over the alternatives the server gave (up to k)
        for alts in alternatives:
            found = sorted((float(a) for a in alts if isinstance(a, (int, float)) and not isinstance(a, bool)), reverse=True)[:k]
            if not found:
                return pieces, [float(v) for v in values], []
            tops.append(tuple(found))
    return pieces, [float(v) for v in values], tops


def _count_parameters(folder: Path) -> int | None:
    """Parameters in a checkpoint's safetensors files, from their headers (no weights read)."""
    from safetensors import SafetensorError, safe_open

    total = 0
    for file in sorted(folder.glob("*.safetensors")):
        try:
            with safe_open(file, framework="numpy") as weights:
                total += sum(math.prod(weights.get_slice(key).get_shape()) for key in weights.keys())
        except (OSError, SafetensorError):
            return None
    return total or None
