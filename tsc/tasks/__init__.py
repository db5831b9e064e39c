"""Tasks: problem generators, prompts, parsers and oracle checks (the ground floor)."""

from tsc.tasks import arithmetic, countdown
from tsc.tasks.arithmetic import Arithmetic
from tsc.tasks.base import Problem
from tsc.tasks.countdown import Countdown

TASKS = ("countdown", "arithmetic")  # what `python -m tsc solve --task` and the recipes take

__all__ = ["TASKS", "Arithmetic", "Countdown", "Problem", "arithmetic", "countdown"]
