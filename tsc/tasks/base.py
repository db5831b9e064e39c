"""The one interface every task's problems implement, so strategies never look inside."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Problem(Protocol):
    """A problem that strategies can solve without knowing which task it belongs to."""

    task: str

    def prompt(self) -> str:
        """The compact prompt the bundled models were trained on."""
        ...

    def check(self, text: str) -> bool:
        """The oracle: is this completion a correct solution? Never raises."""
        ...

    def answer_key(self, text: str) -> str | None:
        """What majority voting compares (None for a malformed completion)."""
        ...

    def steps(self, text: str) -> list[str]:
        """The completion cut into steps (the unit of process rewards and tree search)."""
        ...

    def step_labels(self, text: str) -> list[float]:
        """The exact process labels, one per piece of `steps` (what a PRM learns to predict)."""
        ...

    @property
    def difficulty(self) -> int:
        """The problem's place on its task's difficulty dial (numbers, operations)."""
        ...

    def question_text(self) -> str:
        """The problem in words, for a real language model's prompt."""
        ...

    def to_json(self) -> dict:
        """The problem as a JSON object (what `python -m tsc solve` reads)."""
        ...
