#!/usr/bin/env python
"""Train one network the original notebook's way, for the accuracy comparison with the engine.

The notebook's recipe (Adam, lr 1e-4, batch 128, 30 epochs, dropout 0.5, no augmentation, fp32)
fed through the notebook's pipeline (benchmarks/notebook_style.py: torchvision dataset object,
per-image PIL transforms, shuffling DataLoader with worker processes, the split of config.yaml). After every
epoch the validation accuracy is measured; at the end the test accuracy of the last weights and of
the best-validation weights (what the workflow evaluates by default). Writes one JSON file.

    python benchmarks/notebook_pipeline.py --archive cifar-10-python.tar.gz --block-type res \\
        --seed 0 --out notebook_res_s0.json

Compare with the workflow's results/runs/notebook/<block>/n6/seed<k>/ (docs/speed.md).
"""
from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import notebook_style  # noqa: E402
from cifar_nets.io import write_json  # noqa: E402
from cifar_nets.machine.hardware import usable_cpus  # noqa: E402
from cifar_nets.engine.models import BLOCK_TYPES, build_model  # noqa: E402


@torch.no_grad()
def accuracy(model, loader) -> float:
    model.eval()
    hits = total = 0
    for xb, yb in loader:
        hits += (model(xb).argmax(1) == yb).sum().item()
        total += len(yb)
    model.train()
    return 100.0 * hits / total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archive", required=True)
    ap.add_argument("--block-type", choices=BLOCK_TYPES, default="res")
    ap.add_argument("--n-blocks", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=usable_cpus())
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    with notebook_style.extracted(args.archive) as root:
        train, val, test = notebook_style.datasets(root)
        train_loader = notebook_style.loader(train, shuffle=True, workers=args.workers, seed=args.seed)
        val_loader = notebook_style.loader(val, shuffle=False, workers=args.workers, batch_size=256)
        test_loader = notebook_style.loader(test, shuffle=False, workers=args.workers, batch_size=256)
        torch.manual_seed(args.seed)
        model = build_model(args.block_type, n_blocks=args.n_blocks)
        opt = torch.optim.Adam(model.parameters(), lr=args.lr)
        history, best_val, best_state = [], -1.0, None
        t0 = time.perf_counter()
        for epoch in range(1, args.epochs + 1):
            te = time.perf_counter()
            loss_sum = n = 0
            for xb, yb in train_loader:
                loss = F.cross_entropy(model(xb), yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                loss_sum += loss.item() * len(yb)
                n += len(yb)
            val_acc = accuracy(model, val_loader)
            if val_acc > best_val:
                best_val, best_state = val_acc, copy.deepcopy(model.state_dict())
            history.append({"epoch": epoch, "train_loss": loss_sum / n, "val_acc": val_acc,
                            "seconds": time.perf_counter() - te})
            print(f"epoch {epoch:3d}/{args.epochs}  loss {loss_sum / n:.4f}  val {val_acc:.2f}%  "
                  f"{time.perf_counter() - te:.0f}s", flush=True)
        wall = time.perf_counter() - t0
        test_last = accuracy(model, test_loader)
        model.load_state_dict(best_state)
        test_best = accuracy(model, test_loader)
    result = {"pipeline": "notebook (torchvision dataset, PIL transforms, DataLoader)",
              "block_type": args.block_type, "n_blocks": args.n_blocks, "seed": args.seed,
              "epochs": args.epochs, "workers": args.workers, "threads": args.threads,
              "test_acc_best_val": test_best, "test_acc_last": test_last, "best_val_acc": best_val,
              "wall_seconds": wall, "history": history}
    write_json(args.out, result)
    print(f"test accuracy: best-validation weights {test_best:.2f}%, last weights {test_last:.2f}%  "
          f"({wall:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
