"""`make test-latest`'s report: each package pinned in requirements.txt whose version in this
environment differs (run with the fresh environment's python)."""

from __future__ import annotations

import importlib.metadata as metadata
import re
import sys
from pathlib import Path


def differences(requirements: Path) -> list[tuple[str, str, str]]:
    rows = []
    for line in requirements.read_text().splitlines():
        pin = line.split("#")[0].strip()
        if "==" not in pin:
            continue
        name, pinned = re.sub(r"\[.*\]", "", pin).split("==")
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue  # the book's toolchain (Sphinx, jupyter-book...), which Colab does not have
        if installed != pinned:
            rows.append((name, pinned, installed))
    return rows


if __name__ == "__main__":
    rows = differences(Path(sys.argv[1] if len(sys.argv) > 1 else "requirements.txt"))
    print(f"{len(rows)} packages newer (or older) than requirements.txt pins:")
    for name, pinned, installed in rows:
        print(f"  {name:<28} {pinned:>16} -> {installed}")
