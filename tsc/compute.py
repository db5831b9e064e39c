"""What compute costs: the `Ledger` every model call is charged to, and the FLOP formulas.

FLOP counts follow Kaplan et al. (2020) and Hoffmann et al. (2022): a forward pass costs
``2·N`` FLOPs per token for the weight matrices (a multiply and an add per parameter) plus
attention over the context: a token at position ``t`` computes ``t`` scores ``q·k`` (QKᵀ,
``2·d_model·t`` FLOPs per layer) and a weighted sum of ``t`` value vectors (AV, another
``2·d_model·t``), so ``4·n_layer·d_model·t`` in all. Training costs three forward passes
(forward plus a backward twice as expensive), about ``6·N`` per token plus three times the
attention term. ``N`` counts every parameter of the model (the tied embedding is also the
output layer's matrix). This is the one convention of the book (`FLOPS_CONVENTION`); before
7 Dec 2026 attention was counted once (QKᵀ only), and results computed then say so.

Prices turn a ledger into dollars (Chapter 7). `TokenPrice` is an API's list price per
million tokens: the prompt tokens the ledger says were computed are billed as input, those it
says were reused from a cache (``reused_tokens``) as cached input, and every generated token,
thinking included, as output; a verifier's reading is billed as input. `SelfHosted` is a
machine rented by the hour: a ledger costs the time its work takes, reading (prefill) and
writing (decode) at their own measured rates. `PerTask` charges a fixed price per problem whatever the work. `Ledger.cost` takes any
of them.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, fields, replace
from typing import Protocol, runtime_checkable

# Stored with every experiment's result and on every model card written since it changed.
FLOPS_CONVENTION = "2N per token + attention 4*n_layer*d_model*t at context t (QK^T and AV, 2*n_layer*d_model*t each)"


def forward_flops(n_params: int, n_layer: int, d_model: int, prompt_len: int, gen_len: int) -> int:
    """FLOPs to read a prompt of ``prompt_len`` tokens and generate ``gen_len`` more.

    The token at position ``t`` (1-based) attends over ``t`` tokens: QKᵀ and AV cost
    ``2·n_layer·d_model·t`` each; summed over positions 1..prompt_len+gen_len.
    """
    total = prompt_len + gen_len
    attention = 2 * n_layer * d_model * total * (total + 1)  # 4·n_layer·d·Σt = 2·n_layer·d·L(L+1)
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
        """Both ledgers' spending: every count summed; FLOPs known only if both knew them."""
        sums = {f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self) if f.name != "flops_known"}
        return Ledger(**sums, flops_known=self.flops_known and other.flops_known)

    def cost(self, price: Price) -> float:
        """What this ledger's work costs, in dollars, at ``price`` (a `TokenPrice`, `SelfHosted`,
        `PerTask`, or anything with a ``cost(ledger)`` method)."""
        if not callable(getattr(price, "cost", None)):
            raise ValueError(
                f"price must be a TokenPrice, SelfHosted or PerTask (tsc.compute), e.g. TokenPrice(input=2.0, output=8.0); got {price!r}"
            )
        return float(price.cost(self))

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


@runtime_checkable
class Price(Protocol):
    """Anything that says what a ledger's work costs in dollars."""

    def cost(self, ledger: Ledger) -> float: ...


def _dollars(owner: str, name: str, value, *, unit: str, positive: bool = False) -> float:
    """``value`` as a float, or a ValueError naming the field, its unit and what was given."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{owner} {name} must be a finite number of {unit} {bound}, got {value!r}")
    return float(value)


def _check_field(price, name: str, unit: str, *, positive: bool = False, optional: bool = False) -> None:
    """A frozen price's field ``name``, checked by `_dollars` and stored as a float (None
    stays None where the field is ``optional``)."""
    value = getattr(price, name)
    if not (optional and value is None):
        object.__setattr__(price, name, _dollars(type(price).__name__, name, value, unit=unit, positive=positive))


@dataclass(frozen=True)
class TokenPrice:
    """An API's list price, in dollars per million tokens.

    ``input`` is charged for every prompt token the ledger says was computed, ``cached_input``
    (None: the input price) for every prompt token it says was reused from a cache, and
    ``output`` for every generated token: a reasoning model's hidden thinking is generated,
    so it is billed as output. A verifier reads and writes nothing, so its tokens are billed as
    input. The ledger charges a prompt once for the ``n`` samples drawn from it in one call,
    as a provider bills one request for ``n`` completions.

    >>> TokenPrice(input=2.0, output=8.0, cached_input=0.5).cost(Ledger(prompt_tokens=1000, generated_tokens=4000))
    0.034
    """

    input: float
    output: float
    cached_input: float | None = None
    name: str = ""

    def __post_init__(self) -> None:
        for name in ("input", "output", "cached_input"):
            _check_field(self, name, "dollars per million tokens", optional=name == "cached_input")
        if not isinstance(self.name, str):
            raise ValueError(f"TokenPrice name must be a string, got {self.name!r}")

    def cost(self, ledger: Ledger) -> float:
        cached = self.input if self.cached_input is None else self.cached_input
        return (
            ledger.prompt_tokens * self.input
            + ledger.reused_tokens * cached
            + ledger.generated_tokens * self.output
            + ledger.verifier_tokens * self.input
        ) / 1e6

    def scaled(self, factor: float) -> TokenPrice:
        """Every rate times ``factor`` (0.5: a batch API's half price)."""
        factor = _dollars("TokenPrice.scaled", "factor", factor, unit="(a multiplier)")
        cached = None if self.cached_input is None else self.cached_input * factor
        return replace(self, input=self.input * factor, output=self.output * factor, cached_input=cached)


@dataclass(frozen=True)
class SelfHosted:
    """A machine rented at ``dollars_per_hour``, priced by the time a ledger's work takes on it,
    with reading and writing at their own measured rates.

    ``decode_flops_per_second`` is the useful work it does while writing (a sampler's FLOPs
    over its wall time at the batch size it serves): every decoding step reads every weight
    to write one token per sequence, so writing is slow per FLOP. ``prefill_flops_per_second``
    (None: the decode rate) is the rate while reading prompts, one parallel pass over many
    tokens per weight read, and much faster per FLOP. An API's price list says the same thing
    with its input and output prices. ``utilisation`` is the share of the paid hours the
    machine is busy (1: always; a machine busy half the time costs twice as much per unit of
    work).

    A ledger's policy FLOPs are split between reading and writing in proportion to its
    computed prompt tokens and its generated tokens (the attention term, which grows along a
    sequence, is shared out evenly: a small error at the book's lengths); reused prompt tokens
    cost nothing; a verifier only reads, at the prefill rate. `measured` builds one from the
    ledgers of timed runs.
    """

    dollars_per_hour: float
    decode_flops_per_second: float
    prefill_flops_per_second: float | None = None
    utilisation: float = 1.0
    name: str = ""

    def __post_init__(self) -> None:
        _check_field(self, "dollars_per_hour", "dollars")
        for name in ("decode_flops_per_second", "prefill_flops_per_second"):
            _check_field(self, name, "FLOPs per second", positive=True, optional=name.startswith("prefill"))
        busy = _dollars("SelfHosted", "utilisation", self.utilisation, unit="(a share of the hours, up to 1)", positive=True)
        if busy > 1:
            raise ValueError(f"SelfHosted utilisation is the busy share of the paid hours, at most 1; got {self.utilisation!r}")
        object.__setattr__(self, "utilisation", busy)

    @property
    def reading_rate(self) -> float:
        return self.decode_flops_per_second if self.prefill_flops_per_second is None else self.prefill_flops_per_second

    @classmethod
    def measured(
        cls, dollars_per_hour: float, decoding: Ledger, reading: Ledger | None = None, *, name: str = "", utilisation: float = 1.0
    ) -> SelfHosted:
        """The machine that did ``decoding``'s FLOPs in its ``seconds`` (a timed sampling run)
        and, if given, ``reading``'s in its own (a timed run that only reads prompts)."""

        def rate(ledger: Ledger) -> float:
            if not isinstance(ledger, Ledger) or not ledger.flops_known or ledger.flops <= 0 or ledger.seconds <= 0:
                raise ValueError(f"SelfHosted.measured needs the ledger of a timed run with FLOPs and seconds > 0, got {ledger!r}")
            return ledger.flops / ledger.seconds

        return cls(dollars_per_hour, rate(decoding), None if reading is None else rate(reading), utilisation=utilisation, name=name)

    def seconds(self, ledger: Ledger) -> float:
        """How long ``ledger``'s work takes on this machine (reading and writing at their rates),
        over its utilisation: the paid time it takes up."""
        if not ledger.flops_known:
            raise ValueError("this ledger's FLOPs are unknown (a server's model of unknown size): price it with a TokenPrice")
        tokens = ledger.prompt_tokens + ledger.generated_tokens
        writing = ledger.policy_flops * ledger.generated_tokens / tokens if tokens else 0.0
        reading = ledger.policy_flops - writing + ledger.verifier_flops
        return (reading / self.reading_rate + writing / self.decode_flops_per_second) / self.utilisation

    def cost(self, ledger: Ledger) -> float:
        return self.seconds(ledger) * self.dollars_per_hour / 3600

    def per_token(self, tokens_per_second: float) -> float:
        """Dollars per token at a measured ``tokens_per_second`` (a batch size's), on a machine
        busy ``utilisation`` of the paid time."""
        rate = _dollars("SelfHosted.per_token", "tokens_per_second", tokens_per_second, unit="tokens per second", positive=True)
        return self.dollars_per_hour / 3600 / rate / self.utilisation


@dataclass(frozen=True)
class PerTask:
    """A fixed price per problem, however long the model thinks (one ledger = one problem)."""

    dollars: float
    name: str = ""

    def __post_init__(self) -> None:
        _check_field(self, "dollars", "dollars per problem")

    def cost(self, ledger: Ledger) -> float:
        return self.dollars
