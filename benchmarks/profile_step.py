#!/usr/bin/env python
"""Where one training step of the engine spends its time on the CPU, by kind of operation.

Trains each block type for a few steps with the engine's options (default: what `auto` resolves
to on this device) under torch.profiler and prints, per step, the milliseconds spent in the
convolutions (forward and backward, with their achieved GFLOP/s), batch norm, max pooling, ReLU,
the linear layers, the optimizer step and everything else (dropout, casts, loss, batch gather).

    python benchmarks/profile_step.py --archive /path/to/cifar-10-python.tar.gz [--steps 20]

It answers how far the speed options can go: how much of a step is convolution (and how fast the
convolutions run, to set against bench_engine.py's measured peak) and how much is operations that
move memory and do no multiply-adds. Nothing here is asserted; run it on an otherwise idle machine.
"""
from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import notebook_style  # noqa: E402
from bench_engine import BATCH, engine_training  # noqa: E402
from cifar_nets.data.archive import read_cifar_archive  # noqa: E402
from cifar_nets.machine.hardware import resolve_options, usable_cpus  # noqa: E402
from cifar_nets.engine.models import BLOCK_TYPES, build_model, flops_per_image, model_name  # noqa: E402
from cifar_nets.config import load_config  # noqa: E402
from cifar_nets.engine.recipe import EngineOptions  # noqa: E402

# aten operator (self time) -> kind; anything else is "other"
KINDS = {
    "aten::mkldnn_convolution": "conv forward", "aten::_convolution": "conv forward",
    "aten::convolution_backward": "conv backward",
    "aten::native_batch_norm": "batch norm", "aten::native_batch_norm_backward": "batch norm",
    "aten::_batch_norm_with_update": "batch norm", "aten::batch_norm_backward": "batch norm",
    "aten::max_pool2d_with_indices": "max pool", "aten::max_pool2d_with_indices_backward": "max pool",
    "aten::clamp_min": "relu", "aten::relu": "relu", "aten::threshold_backward": "relu",
    "aten::mm": "linear", "aten::addmm": "linear",
}
ORDER = ["conv forward", "conv backward", "batch norm", "max pool", "relu", "linear", "optimizer", "other"]


def kind_of(event_name: str) -> str:
    return KINDS.get(event_name, "other")


def _gflops(flops: float, ms: float) -> float:
    return flops / (ms / 1e3) / 1e9 if ms else 0.0


def profile_block(arrays, block_type: str, steps: int, warmup: int, speed: dict, n_train: int) -> dict:
    """Milliseconds per step by kind, total ms per step, and the convolutions' GFLOP/s."""
    step, batches = engine_training(arrays, block_type, torch.device("cpu"), n_train,
                                    channels_last=speed["channels_last"], bf16=speed["bf16"])
    for _ in range(warmup):
        step(*next(batches))
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step(*next(batches))
    # Self times add up to the whole profiled time. The optimizer's aten ops (lerp_, addcdiv_,
    # sqrt, ...) are no convolution/norm/pool/relu/linear kind, so they land in "other" first;
    # the optimizer records' inclusive time moves them over.
    ms = defaultdict(float)
    for ev in prof.key_averages():
        if ev.key.startswith("Optimizer."):
            ms["optimizer"] += ev.cpu_time_total / 1e3
            ms["other"] -= (ev.cpu_time_total - ev.self_cpu_time_total) / 1e3
        else:
            ms[kind_of(ev.key)] += ev.self_cpu_time_total / 1e3
    per_step = {k: v / steps for k, v in ms.items()}
    total = sum(per_step.values())
    conv_flops = BATCH * flops_per_image(build_model(block_type))  # forward; backward ~2x
    gflops = {"conv forward": _gflops(conv_flops, per_step["conv forward"]),
              "conv backward": _gflops(2 * conv_flops, per_step["conv backward"])}
    return {"ms": per_step, "total_ms": total, "gflops": gflops}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archive", required=True, help="cifar-10-python.tar.gz (official or stand-in)")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=8)
    ap.add_argument("--blocks", default=",".join(BLOCK_TYPES))
    ap.add_argument("--bf16", default="auto", choices=["auto", "true", "false"])
    ap.add_argument("--channels-last", default="auto", choices=["auto", "true", "false"])
    ap.add_argument("--threads", type=int, default=usable_cpus())
    args = ap.parse_args()

    device = torch.device("cpu")
    torch.set_num_threads(args.threads)
    flag = {"auto": "auto", "true": True, "false": False}
    speed = resolve_options(EngineOptions.from_config(load_config(), device="cpu", bf16=flag[args.bf16],
                                                      channels_last=flag[args.channels_last]), device)
    arrays = read_cifar_archive(args.archive)
    n_train = int(len(arrays.y_train) * notebook_style.split_settings()[0])  # the split's training part
    print(f"device {device}, threads {torch.get_num_threads()}, torch {torch.__version__}, "
          f"bf16 {speed['bf16']}, channels_last {speed['channels_last']}, {args.steps} profiled steps")
    header = f"{'model':16s} " + " ".join(f"{k:>13s}" for k in ORDER) + f" {'step ms':>8s} {'conv GFLOP/s f/b':>17s}"
    print("ms per step (share of the step)")
    print(header)
    print("-" * len(header))
    for bt in args.blocks.split(","):
        r = profile_block(arrays, bt, args.steps, args.warmup, speed, n_train)
        cells = " ".join(f"{r['ms'].get(k, 0.0):6.2f} ({100 * r['ms'].get(k, 0.0) / r['total_ms']:3.0f}%)"
                         for k in ORDER)
        print(f"{model_name(bt):16s} {cells} {r['total_ms']:8.2f} "
              f"{r['gflops']['conv forward']:8.0f}/{r['gflops']['conv backward']:<8.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
