"""What Colab does: build the wheel, install it (not editable) into a fresh virtual
environment, copy a chapter out of the repository and run it from there.

It catches a wheel that misses `tsc/assets` (the bundled models, the shipped results) and a
chapter that reads paths of the repository. The environment takes its packages from the
pinned requirements (the local package cache serves them), as a student's would from PyPI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAPTER = "01_new_scaling_law.ipynb"  # the chapter a student opens first
RUNTIME = ("torch", "transformers", "tokenizers", "safetensors", "numpy", "scipy", "matplotlib", "ipywidgets", "tqdm")
KERNEL = ("ipykernel", "nbclient", "nbformat", "jupyter_client", "myst-nb")


def run(*command: str, cwd: Path | None = None, timeout: int = 900) -> str:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("PYTHONPATH", None)
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    build = tmp_path_factory.mktemp("build")
    shutil.copytree(ROOT, build / "src", ignore=shutil.ignore_patterns(".venv", "_build", "runs", ".git", "*.egg-info", "__pycache__"))
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(out), str(build / "src"))
    [found] = out.glob("tsc-*.whl")
    return found


def test_the_wheel_carries_the_models_and_the_results(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for model in ("countdown", "prm", "orm", "trace", "arithmetic"):
        assert f"tsc/assets/{model}/model.safetensors" in names and f"tsc/assets/{model}/card.json" in names
    shipped = sorted((ROOT / "tsc" / "assets" / "results").glob("*.json"))
    assert all(f"tsc/assets/results/{p.name}" in names for p in shipped)
    assert "tsc/py.typed" in names


def test_a_chapter_runs_from_an_installed_wheel_outside_the_repository(wheel, tmp_path):
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", str(venv))
    python = str(venv / "bin" / "python")
    pins = [line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    pinned = {p.split("==")[0].split("[")[0].lower(): p.split("[serving]")[0] if "[serving]" in p else p for p in pins if "==" in p}
    wanted = [pinned[name.lower()] for name in RUNTIME + KERNEL if name.lower() in pinned]
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("\n".join(p.replace("[serving]", "") for p in pins if "==" in p) + "\n")
    run(python, "-m", "pip", "install", "-q", "-c", str(constraints), str(wheel), *wanted)
    where = run(python, "-c", "import tsc, pathlib; print(pathlib.Path(tsc.__file__).resolve())", cwd=tmp_path)
    assert str(ROOT) not in where and "site-packages" in where  # the installed copy, not the checkout
    run(python, "-m", "ipykernel", "install", "--sys-prefix", "--name", "python3")
    reader = tmp_path / "reader"
    reader.mkdir()
    shutil.copy(ROOT / "book" / CHAPTER, reader / CHAPTER)
    execute = (
        "import nbformat, sys\n"
        "from nbclient import NotebookClient\n"
        "from tsc.grade import wake_after_widget_sends\n"
        "wake_after_widget_sends()  # as the book build does: no stall after an explorer's first draw\n"
        f"nb = nbformat.read({CHAPTER!r}, as_version=4)\n"
        "NotebookClient(nb, timeout=900, kernel_name='python3', resources={'metadata': {'path': '.'}}).execute()\n"
        "print('RAN', sum(c.cell_type == 'code' for c in nb.cells), 'cells')\n"
    )
    out = run(python, "-c", execute, cwd=reader, timeout=1500)
    assert "RAN" in out
