"""What compute costs: the `Ledger` every model call is charged to, and the FLOP formulas.

FLOP counts follow Kaplan et al. (2020): a forward pass costs about ``2·N`` FLOPs per token
for the weight matrices plus ``2·n_layer·n_ctx·d_model`` for attention over a context of
``n_ctx`` tokens; training costs three forward passes (forward plus a backward twice as
expensive), about ``6·N`` per token plus three times the attention term. ``N`` here counts
every parameter of the model (the tied embedding is also the output layer's matrix).
"""

from __future__ import annotations

from dataclasses import dataclass


def forward_flops(n_params: int, n_layer: int, d_model: int, prompt_len: int, gen_len: int) -> int:
    """FLOPs to read a prompt of ``prompt_len`` tokens and generate ``gen_len`` more.

    The token at position ``t`` (1-based) attends over ``t`` tokens, so attention costs
    ``2·n_layer·d_model·t`` for it; summed over positions 1..prompt_len+gen_len.
    """
    total = prompt_len + gen_len
    attention = n_layer * d_model * total * (total + 1)  # 2·n_layer·d·Σt = n_layer·d·L(L+1)
    return 2 * n_params * total + attention


def training_flops(n_params: int, n_layer: int, d_model: int, seq_len: int) -> int:
    """FLOPs to train on one sequence of ``seq_len`` tokens: three forward passes' worth."""
    return 3 * forward_flops(n_params, n_layer, d_model, seq_len, 0)


@dataclass
class Ledger:
    """Running totals of what a computation spent; strategies return a frozen copy.

    Policy and verifier compute are kept apart so a chapter can show both on one axis.
    """

    prompt_tokens: int = 0  # prompt tokens the policy computed (prefill)
    generated_tokens: int = 0
    policy_flops: int = 0
    reused_tokens: int = 0  # prompt tokens whose keys and values were reused from an earlier call, not computed
    verifier_tokens: int = 0
    verifier_flops: int = 0
    calls: int = 0
    seconds: float = 0.0
    samples: int = 0
    flops_known: bool = True  # False once a model of unknown size (a server's) was charged tokens without FLOPs

    @property
    def tokens(self) -> int:
        """Every token the policy read or wrote."""
        return self.prompt_tokens + self.generated_tokens

    @property
    def flops(self) -> int:
        """Policy plus verifier FLOPs."""
        return self.policy_flops + self.verifier_flops

    def charge_policy(
        self, *, prompt_tokens: int, generated_tokens: int, flops: int, seconds: float, samples: int, reused_tokens: int = 0
    ) -> None:
        self.prompt_tokens += prompt_tokens
        self.reused_tokens += reused_tokens
        self.generated_tokens += generated_tokens
        self.policy_flops += flops
        self.seconds += seconds
        self.samples += samples
        self.calls += 1

    def charge_verifier(self, *, tokens: int, flops: int, seconds: float = 0.0) -> None:
        self.verifier_tokens += tokens
        self.verifier_flops += flops
        self.seconds += seconds
        self.calls += 1

    def __add__(self, other: Ledger) -> Ledger:
        return Ledger(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            generated_tokens=self.generated_tokens + other.generated_tokens,
            policy_flops=self.policy_flops + other.policy_flops,
            reused_tokens=self.reused_tokens + other.reused_tokens,
            verifier_tokens=self.verifier_tokens + other.verifier_tokens,
            verifier_flops=self.verifier_flops + other.verifier_flops,
            calls=self.calls + other.calls,
            seconds=self.seconds + other.seconds,
            samples=self.samples + other.samples,
            flops_known=self.flops_known and other.flops_known,
        )

    def to_json(self) -> dict:
        return {
            "tokens": self.tokens,
            "prompt_tokens": self.prompt_tokens,
            "generated_tokens": self.generated_tokens,
            "reused_tokens": self.reused_tokens,
            "flops": self.flops if self.flops_known else None,
            "policy_flops": self.policy_flops if self.flops_known else None,
            "verifier_flops": self.verifier_flops,
            "samples": self.samples,
            "calls": self.calls,
            "seconds": round(self.seconds, 4),
        }
