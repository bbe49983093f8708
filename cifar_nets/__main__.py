"""Train one run from a terminal, with a progress bar:

    python -m cifar_nets --data results/data/cifar10.npz --split results/data/split-seed42.npz \\
        --block-type res --n-blocks 6 --seed 0 --epochs 30 --out run_res

Writes OUT/model.pt, OUT/history.csv, OUT/train.json and resumes from OUT/checkpoint.pt if present.
The workflow's training rule does the same through workflow_scripts/train.py.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def main(argv=None) -> int:
    from .hardware import usable_cpus

    ap = argparse.ArgumentParser(prog="python -m cifar_nets", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="cached arrays (results/data/cifar10.npz)")
    ap.add_argument("--split", required=True, help="split file (results/data/split-seed42.npz)")
    ap.add_argument("--block-type", choices=["conv", "res", "skip"], default="res")
    ap.add_argument("--n-blocks", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--threads", type=int, default=usable_cpus())
    ap.add_argument("--bf16", choices=["auto", "on", "off"], default="auto")
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args(argv)

    import pandas as pd
    import torch

    from .data import load_cache, load_split
    from .evaluate import save_weights
    from .io import write_csv, write_json
    from .train import EngineOptions, Recipe, train_run

    torch.set_num_threads(args.threads)
    arrays = load_cache(args.data)
    tr, va = load_split(args.split)
    recipe = Recipe(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr)
    opts = EngineOptions(bf16={"auto": "auto", "on": True, "off": False}[args.bf16])
    args.out.mkdir(parents=True, exist_ok=True)
    result = train_run(arrays.x_train, arrays.y_train, tr, va, block_type=args.block_type,
                       n_blocks=args.n_blocks, seed=args.seed, recipe=recipe, options=opts,
                       checkpoint=args.out / "checkpoint.pt",
                       log=lambda m: print(m, file=sys.stderr, flush=True), progress=None)
    save_weights(args.out / "model.pt", result.weights, block_type=args.block_type,
                 n_blocks=args.n_blocks, n_hidden=32, n_hidden_fc=32, dropout=recipe.dropout,
                 mean=recipe.mean, std=recipe.std, which=result.summary["evaluated_weights"])
    write_csv(args.out / "history.csv", pd.DataFrame(result.history))
    write_json(args.out / "train.json", result.summary)
    (args.out / "checkpoint.pt").unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
