"""The bundled model through a serving engine against the same model in this process.

    python benchmarks/serving.py [--problems 64] [--concurrency 8]

Starts ``transformers serve`` on 127.0.0.1 with the bundled Countdown model (its folder, so
the client reads the same tokenizer and card), then solves the same held-out problems
greedily both ways and prints a table: answers that agree, tokens, FLOPs and tokens per
second. The server is `transformers`' reference engine on the CPU, one request per sequence;
the point is that strategies run unchanged through a URL, not that this engine is fast. For
speed, serve with vLLM or SGLang on GPUs (README, "Real models and serving engines").
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import tsc  # noqa: E402
from tsc.strategies import greedy, solve_many  # noqa: E402
from tsc.tasks import countdown  # noqa: E402

MODEL = Path(tsc.__file__).resolve().parent / "assets" / "countdown"


def start_server(log: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = Path(sys.executable).parent / "transformers"
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    server = subprocess.Popen(
        [str(command), "serve", str(MODEL), "--host", "127.0.0.1", "--port", str(port), "--device", "cpu", "--log-level", "error"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(log, "w"),  # noqa: SIM115
    )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=2) as answer:
                if json.loads(answer.read()).get("data"):
                    return server, url
        except OSError:
            time.sleep(0.5)
    server.kill()
    raise SystemExit(f"transformers serve did not start: {log.read_text()[-1000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    problems = countdown.generate(args.problems, seed=31)
    local = tsc.load_policy("countdown", device="cpu")
    with tempfile.TemporaryDirectory() as folder:
        server, url = start_server(Path(folder) / "server.log")
        try:
            remote = tsc.load_policy(url, max_concurrency=args.concurrency)
            rows = []
            for name, policy in (("local (this process)", local), (f"transformers serve ({args.concurrency} in flight)", remote)):
                started = time.perf_counter()
                results = solve_many(greedy, problems, policy)
                seconds = time.perf_counter() - started
                generated = sum(r.ledger.generated_tokens for r in results)
                rows.append((name, results, seconds, generated))
        finally:
            server.terminate()
            server.wait(timeout=20)
    (_, here, *_), (_, there, *_) = rows
    agree = sum(a.answer == b.answer for a, b in zip(here, there))
    print(f"{args.problems} held-out problems, greedy, the bundled Countdown model\n")
    print("| where | solved | generated tokens | FLOPs | seconds | tokens/s |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, results, seconds, generated in rows:
        flops = sum(r.ledger.flops for r in results)
        print(f"| {name} | {sum(r.correct for r in results)} | {generated:,} | {flops:.3g} | {seconds:.2f} | {generated / seconds:,.0f} |")
    print(f"\nanswers that agree: {agree} of {args.problems} (the server also writes the end token after '.', one more token each)")


if __name__ == "__main__":
    main()
