"""Checkers for the classroom exercises: clear feedback, never an exception (what they share
is in `tsc.exercises.feedback`). One module per chapter (``ch01``, ``ch05``, …); every
checker is importable from here.
"""

from tsc.exercises.ch01 import *  # noqa: F403
from tsc.exercises.ch02 import *  # noqa: F403
from tsc.exercises.ch03 import *  # noqa: F403
from tsc.exercises.ch04 import *  # noqa: F403
from tsc.exercises.ch05 import *  # noqa: F403
from tsc.exercises.ch06 import *  # noqa: F403
from tsc.exercises.ch07 import *  # noqa: F403
from tsc.exercises.ch08 import *  # noqa: F403
from tsc.exercises.ch09 import *  # noqa: F403
from tsc.exercises.feedback import NOT_ATTEMPTED, Feedback, selftest

__all__ = ["NOT_ATTEMPTED", "Feedback", "selftest"]
__all__ += [name for name in dir() if name.startswith("check_")]
