"""`python -m tsc --help` answers at once: no torch, no transformers (they take seconds to import)."""

from __future__ import annotations

import subprocess
import sys


def test_help_does_not_import_torch():
    code = (
        "import sys, runpy\n"
        "sys.argv = ['tsc', 'solve', '--help']\n"
        "try:\n    runpy.run_module('tsc', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'transformers', 'numpy') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert "output, the same lines in the same order" in out and "examples:" in out
    assert "HEAVY []" in out, out[-300:]
