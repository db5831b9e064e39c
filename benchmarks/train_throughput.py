"""Training throughput: tokens per second of the training loop, padded against packed batches,
with and without `torch.compile`, on this machine's CPU.

    python benchmarks/train_throughput.py [--steps 12] [--shapes 32x2,128x4]

Each row trains a fresh model on the same Countdown batches (`tsc.lm.train.training_examples`)
and counts real tokens only (padding is waste, not throughput). The first steps (and the
compilation) are not timed.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import torch

from tsc.lm.model import ModelShape, build_model
from tsc.lm.tokenizer import build_char_tokenizer
from tsc.lm.train import RECIPES, collate, optimizer_step, pack, training_examples


def measure(shape: ModelShape, *, packed: bool, compiled: bool, steps: int, warmup: int = 3) -> dict:
    recipe = replace(RECIPES["countdown"], shape=shape)
    tokenizer = build_char_tokenizer()
    model = build_model(shape, tokenizer, seed=0).train()
    forward = torch.compile(model, dynamic=True) if compiled else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.lr)
    tokens = 0
    seconds = 0.0
    computed = 0
    for step in range(warmup + steps):
        examples = training_examples(recipe, step)
        started = time.perf_counter()
        if packed:
            batch = pack(tokenizer, examples, shape.max_len)
            lengths = batch.pop("lengths")
        else:
            batch = collate(tokenizer, examples)
            lengths = batch["attention_mask"].sum(1)
        loss = forward(**batch).loss
        optimizer_step(model, optimizer, recipe, step, loss)
        if step >= warmup:
            seconds += time.perf_counter() - started
            tokens += int(lengths.sum())
            computed += batch["input_ids"].numel()
    return {"tokens_per_s": tokens / seconds, "padding": 1 - tokens / computed, "s_per_step": seconds / steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--shapes", default="32x2,128x4", help="d_model x n_layer, comma-separated")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch 256 Countdown sequences\n")
    print(f"{'model':<22}{'batches':<10}{'compile':<9}{'tokens/s':>10}{'padding':>9}{'s/step':>8}{'speed-up':>10}")
    for spec in args.shapes.split(","):
        d, n = (int(x) for x in spec.split("x"))
        shape = ModelShape(d_model=d, n_layer=n, n_head=max(2, d // 32), d_ff=4 * d)
        params = sum(p.numel() for p in build_model(shape, build_char_tokenizer()).parameters())
        base = None
        for packed, compiled in ((False, False), (True, False), (True, True)):
            row = measure(shape, packed=packed, compiled=compiled, steps=args.steps)
            base = base or row["tokens_per_s"]
            name = f"d{d} x {n} ({params / 1e6:.2f} M)"
            print(
                f"{name:<22}{'packed' if packed else 'padded':<10}{'yes' if compiled else 'no':<9}"
                f"{row['tokens_per_s']:>10,.0f}{row['padding']:>9.0%}{row['s_per_step']:>8.2f}{row['tokens_per_s'] / base:>9.2f}x"
            )


if __name__ == "__main__":
    main()
