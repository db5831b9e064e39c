"""Tasks: problem generators, prompts, parsers and oracle checks (the ground floor)."""

from tsc.tasks import arithmetic, countdown
from tsc.tasks.arithmetic import Arithmetic
from tsc.tasks.base import Problem
from tsc.tasks.countdown import Countdown

__all__ = ["Arithmetic", "Countdown", "Problem", "arithmetic", "countdown"]
