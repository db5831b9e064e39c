"""``python -m tsc bench``: how fast `LocalPolicy.sample` is, next to `transformers`' own `generate`.

Both sample the same Countdown prompts with the same settings (temperature 1, no top-k or
top-p, at most ``max_new_tokens`` new tokens, stopping at the full stop) in this process,
one after the other, several times; the table gives the median. Only generated tokens up to
each sequence's end count. The machine's own limit comes from a timed 1024 × 1024 matrix
product, so the table also says what fraction of it the sampler reaches. Every number is
measured by the run; nothing is read from a file.
"""

from __future__ import annotations

import contextlib
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass

import torch

from tsc.compute import Ledger
from tsc.lm.fast import pad_rows
from tsc.tasks.countdown import generate as generate_problems
from tsc.zoo import markdown_table

BATCHES = (1, 32, 256, 1024)
SAMPLES_PER_PROMPT = 32


@dataclass(frozen=True)
class BenchRow:
    """One batch size: median tokens/s of each path, their ratio, and what the fast path reaches."""

    batch: int
    prompts: int
    tokens: int
    tsc_tokens_per_s: float
    generate_tokens_per_s: float
    ratio: float
    tsc_gflops: float
    fraction_of_matmul: float
    tsc_peak_mb: float
    generate_peak_mb: float


def matmul_gflops(size: int = 1024, repeats: int = 20) -> float:
    """The machine's measured fp32 matrix-product speed (median of ``repeats`` products)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - started)
    return 2 * size**3 / statistics.median(times) / 1e9


class Measured:
    """Wall time (``seconds``) and peak resident memory of this process (``mb``) of a ``with``
    block; on a GPU ``device`` the clock waits for the work asked of it, since its calls
    return before the work is done. Linux reads the memory's high-water mark after resetting
    it; elsewhere the process's lifetime peak."""

    def __init__(self, device: torch.device | None = None):
        self.gpu = device if device is not None and device.type == "cuda" else None

    def __enter__(self):
        with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        self._synchronize()
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self._synchronize()
        self.seconds = time.perf_counter() - self.started
        self.mb = _peak_mb()

    def _synchronize(self) -> None:
        if self.gpu is not None:
            torch.cuda.synchronize(self.gpu)


def _peak_mb() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def _prompts(policy, batch: int) -> tuple[list[str], int]:
    """Held-out Countdown prompts for ``batch`` sequences: up to 32 samples of each prompt."""
    n = min(SAMPLES_PER_PROMPT, batch)
    problems = generate_problems(max(1, batch // n), seed=7, split="test")
    return [policy.format(p) for p in problems], n


def time_tsc(policy, prompts: list[str], n: int, *, max_new_tokens: int, seed: int) -> tuple[int, float, int, float]:
    """(generated tokens, seconds, FLOPs, peak MB) of one `LocalPolicy.sample` call."""
    ledger = Ledger()
    with Measured() as measured:
        rows = policy.sample(prompts, n=n, temperature=1.0, max_new_tokens=max_new_tokens, seed=seed, ledger=ledger)
    return sum(c.num_tokens for row in rows for c in row), measured.seconds, ledger.policy_flops, measured.mb


@torch.no_grad()
def time_generate(policy, prompts: list[str], n: int, *, max_new_tokens: int, seed: int) -> tuple[int, float, float]:
    """(generated tokens up to each sequence's end, seconds, peak MB) of one `generate` call."""
    stop = policy._stop_ids((".",)).tolist()
    rows = [ids for ids in policy.encode(prompts) for _ in range(n)]
    width, pad, device = max(map(len, rows)), policy._pad, policy.device
    input_ids, mask = pad_rows(rows, pad, left=True, device=device).values()
    torch.manual_seed(seed)
    with Measured(device) as measured:
        out = policy.model.generate(
            input_ids=input_ids,
            attention_mask=mask,
            do_sample=True,
            temperature=1.0,
            top_k=0,
            top_p=1.0,
            max_new_tokens=max_new_tokens,
            eos_token_id=stop,
            pad_token_id=pad,
        )
    tokens = 0
    for row in out[:, width:].tolist():
        ends = [i for i, t in enumerate(row) if t in stop]
        tokens += ends[0] + 1 if ends else len(row)
    return tokens, measured.seconds, measured.mb


def run(
    policy,
    *,
    batches=BATCHES,
    repeats: int = 5,
    max_new_tokens: int = 48,
    gflops: float | None = None,
    progress=None,
    generate_policy=None,
) -> list[BenchRow]:
    """Measure both paths at each batch size, alternating them ``repeats`` times after a warm-up.

    ``generate_policy``: the same model on another device (a GPU) for the `generate` column;
    `tsc`'s lean sampler runs on the CPU (``policy``) either way."""
    generate_policy = generate_policy or policy
    from transformers.utils import logging

    gflops = gflops or matmul_gflops()
    logging.set_verbosity_error()  # generate's notes on its settings are not part of the table
    results = []
    for batch in batches:
        prompts, n = _prompts(policy, batch)
        time_tsc(policy, prompts, n, max_new_tokens=max_new_tokens, seed=0)
        time_generate(generate_policy, prompts, n, max_new_tokens=max_new_tokens, seed=0)
        fast, slow = [], []
        for seed in range(1, repeats + 1):
            fast.append(time_tsc(policy, prompts, n, max_new_tokens=max_new_tokens, seed=seed))
            slow.append(time_generate(generate_policy, prompts, n, max_new_tokens=max_new_tokens, seed=seed))
        fast_rate = statistics.median(t / s for t, s, _, _ in fast)
        slow_rate = statistics.median(t / s for t, s, _ in slow)
        flop_rate = statistics.median(f / s for _, s, f, _ in fast) / 1e9
        results.append(
            BenchRow(
                batch=len(prompts) * n,
                prompts=len(prompts),
                tokens=round(statistics.median(t for t, _, _, _ in fast)),
                tsc_tokens_per_s=fast_rate,
                generate_tokens_per_s=slow_rate,
                ratio=fast_rate / slow_rate,
                tsc_gflops=flop_rate,
                fraction_of_matmul=flop_rate / gflops,
                tsc_peak_mb=max(m for *_, m in fast),
                generate_peak_mb=max(m for *_, m in slow),
            )
        )
        if progress:
            progress(results[-1])
    return results


def fresh_process_memory(model: str | None, sequences: int, *, max_new_tokens: int = 48) -> dict:
    """Peak resident memory (MB) of a new Python process that loads the model, then samples
    ``sequences`` sequences in one `LocalPolicy.sample` call: after loading, and at the peak."""
    import json
    import os
    import subprocess
    from pathlib import Path

    code = f"from tsc.bench import _memory_child; _memory_child({model!r}, {sequences}, {max_new_tokens})"
    root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the memory measurement failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _memory_child(model: str | None, sequences: int, max_new_tokens: int) -> None:
    import json

    from tsc.lm.policy import load_policy

    policy = load_policy(model)
    prompts, n = _prompts(policy, sequences)
    loaded = _peak_mb()
    policy.sample(prompts, n=n, temperature=1.0, max_new_tokens=max_new_tokens)
    print(json.dumps({"sequences": len(prompts) * n, "loaded_mb": loaded, "peak_mb": _peak_mb()}))


def machine() -> str:
    cpu = " ".join(filter(None, [platform.machine(), platform.processor()]))
    return f"{cpu}, {torch.get_num_threads()} torch threads, torch {torch.__version__}"


def table(rows: list[BenchRow], gflops: float, memory: list[dict] = ()) -> str:
    """The results as a Markdown table, with the machine's matmul speed and the fresh-process
    memory measurements underneath."""
    header = "| batch: | prompts × samples: | tsc tokens/s: | generate tokens/s: | ratio: | tsc GFLOP/s: | of matmul limit: "
    cells = lambda r: (
        [r.batch, f"{r.prompts} × {r.batch // r.prompts}", f"{r.tsc_tokens_per_s:,.0f}", f"{r.generate_tokens_per_s:,.0f}"]
        + [f"{r.ratio:.1f}×", f"{r.tsc_gflops:.1f}", f"{r.fraction_of_matmul:.0%}", f"{r.tsc_peak_mb:,.0f}", f"{r.generate_peak_mb:,.0f}"]
    )
    lines = [markdown_table(header + "| tsc peak MB: | generate peak MB: |", map(cells, rows))]
    lines.append(f"\nfp32 1024×1024 matmul: {gflops:.0f} GFLOP/s on {machine()}")
    for m in memory:
        lines.append(
            f"{m['sequences']:,} sequences in one call, fresh process: peak {m['peak_mb']:,.0f} MB ({m['loaded_mb']:,.0f} MB after loading)"
        )
    return "\n".join(lines)


def as_json(rows: list[BenchRow], gflops: float, memory: list[dict] = ()) -> dict:
    return {"matmul_gflops": gflops, "machine": machine(), "rows": [asdict(r) for r in rows], "fresh_process_memory": list(memory)}
