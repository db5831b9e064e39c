"""Tasks: problem generators, prompts, parsers and oracle checks (the ground floor)."""

from tsc.tasks import countdown
from tsc.tasks.base import Problem
from tsc.tasks.countdown import Countdown

__all__ = ["Countdown", "Problem", "countdown"]
