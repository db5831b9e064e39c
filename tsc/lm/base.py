"""What the package's own policies share: `tsc.lm.policy.LocalPolicy` (a checkpoint on this
machine) and `tsc.lm.remote.RemotePolicy` (a served model) put problems to the model the same
way and count its FLOPs the same way. Strategies never see this class: they see the `Policy`
protocol of `tsc.core`."""

from __future__ import annotations

from typing import Any

from tsc.compute import forward_flops
from tsc.tasks import render
from tsc.tasks.countdown import Countdown
from tsc.tasks.prompts import FORMATS, answer_stops, default_format


class PolicyBase:
    """What the package's own policies share (`tsc.lm.policy.LocalPolicy`,
    `tsc.lm.remote.RemotePolicy`): problems put to the model in its ``prompt_format`` and
    read with its ``tokenizer`` (None for a server's model this machine cannot read), the
    format's stop strings, and FLOPs from the model's size (``n_params`` None: unknown)."""

    name: str
    prompt_format: str
    tokenizer: Any = None
    n_params: int | None = None
    n_layer: int | None = None
    d_model: int | None = None

    def _pick_format(self, prompt_format: str | None, card: dict) -> str:
        """``prompt_format`` checked, or None: the model's own (`tsc.tasks.prompts.default_format`),
        chat messages for a model whose tokenizer this machine lacks."""
        if prompt_format is None:
            prompt_format = default_format(card, self.tokenizer) if self.tokenizer is not None else "chat"
        if prompt_format not in FORMATS:
            raise ValueError(f"prompt_format must be one of {', '.join(FORMATS)}, got {prompt_format!r}")
        return prompt_format

    @property
    def stop(self) -> tuple[str, ...]:
        """The stop strings that end a whole answer in this model's prompt format."""
        return answer_stops(self.prompt_format)

    @property
    def flops_known(self) -> bool:
        return self.n_params is not None

    def format(self, problem) -> str:
        """The prompt for any task's problem in this model's format (`tsc.tasks.prompts`)."""
        return render(problem, self.prompt_format, self.tokenizer)

    def prompt(self, numbers: list[int], target: int) -> str:
        """The Countdown prompt in this model's format, e.g. ``"13 4 7 2>48:"``."""
        return self.format(Countdown(tuple(numbers), target))

    def encode(self, prompts: list[str]) -> list[list[int]]:
        """Token ids of each prompt as the model reads them, starting with the
        beginning-of-sequence token where the model was trained with one (a chat template
        writes its own)."""
        if self.tokenizer is None:
            raise ValueError(f"{self.name!r} is not a checkpoint this machine can read: its tokens are counted by the server")
        bos = self.tokenizer.bos_token_id
        wants_bos = self.prompt_format == "compact" or (self.prompt_format == "text" and getattr(self.tokenizer, "add_bos_token", False))
        first = [bos] if bos is not None and wants_bos else []
        return [first + ids for ids in self.tokenizer(list(prompts), add_special_tokens=False)["input_ids"]]

    def flops(self, prompt_len: int, gen_len: int) -> int:
        """Forward FLOPs to read ``prompt_len`` tokens and write ``gen_len`` (`tsc.compute`);
        0 when the size is unknown, and a declared size without its layers counts 2N per
        token, no attention term."""
        if self.n_params is None:
            return 0
        return forward_flops(self.n_params, self.n_layer or 0, self.d_model or 0, prompt_len, gen_len)
