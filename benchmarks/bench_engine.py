#!/usr/bin/env python
"""Training throughput: the notebook's input pipeline against the project's engine.

For each block type, trains a fixed number of steps (batch 128, Adam, the notebook's recipe) with

  (a) notebook   torchvision's CIFAR10 dataset object, per-image PIL transforms (Resize, ToTensor,
                 Normalize) and a multi-worker shuffling DataLoader, as the original notebook;
  (b) engine     cifar_nets.engine.batches: uint8 tensor on the device, seeded permutation, batch slices,
                 batch normalisation, with each speed option on its own;

and prints images/s (median of interleaved rounds), the ratio to (a), the achieved GFLOP/s (3 x
forward FLOPs per image: forward + backward) and its fraction of this machine's measured fp32 and
bf16 compute peaks (the larger of a big matmul and a big 3x3 convolution).

    python benchmarks/bench_engine.py --archive /path/to/cifar-10-python.tar.gz [--steps 60]

Nothing here is asserted: it prints measurements. Run it on an otherwise idle machine.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import notebook_style  # noqa: E402
from cifar_nets.data.archive import read_cifar_archive  # noqa: E402
from cifar_nets.machine.hardware import resolve_device, usable_cpus  # noqa: E402
from cifar_nets.engine.models import BLOCK_TYPES, build_model, flops_per_image, model_name  # noqa: E402
from notebook_style import NOTEBOOK_MEAN, NOTEBOOK_STD  # noqa: E402
from cifar_nets.engine.batches import DeviceData, autocast  # noqa: E402

BATCH = 128


def _rate(fn, flops: float, device: torch.device, seconds: float) -> float:
    """GFLOP/s of calling fn() repeatedly for about `seconds` (after two warm-up calls)."""
    for _ in range(2):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    reps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn()
        reps += 1
        if device.type == "cuda":
            torch.cuda.synchronize()
    return flops * reps / (time.perf_counter() - t0) / 1e9


@torch.inference_mode()
def compute_peak(dtype: torch.dtype, device: torch.device, n: int = 2048, seconds: float = 1.5) -> dict:
    """The practical compute ceiling of this device for `dtype`, measured two ways.

    A square n x n matmul and a large 3x3 convolution in channels-last (the conv
    library the network itself runs on: oneDNN on CPUs, cuDNN on GPUs) with n/8 channels on
    16x16 maps, batch 128. The larger of the two is the ceiling: on this project's AMD CPU the fp32
    matmul reaches less than half of what the fp32 convolution does.
    """
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    matmul = _rate(lambda: a @ b, 2 * n ** 3, device, seconds)
    c, hw, batch = max(8, n // 8), 16, 128
    x = torch.randn(batch, c, hw, hw, device=device, dtype=dtype).contiguous(memory_format=torch.channels_last)
    conv = torch.nn.Conv2d(c, c, 3, padding=1, bias=False).to(device=device, dtype=dtype,
                                                                memory_format=torch.channels_last)
    conv3x3 = _rate(lambda: conv(x), 2 * batch * c * c * 9 * hw * hw, device, seconds)
    return {"matmul": matmul, "conv3x3": conv3x3, "peak": max(matmul, conv3x3)}


def step_fn(model, opt, bf16, device):
    def step(xb, yb):
        with autocast(device, bf16):
            loss = F.cross_entropy(model(xb).float(), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def _timed(batches, step, steps, warmup, device) -> float:
    it = iter(batches)
    for _ in range(warmup):
        step(*next(it))
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step(*next(it))
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * BATCH / (time.perf_counter() - t0)


def bench_notebook(train_set, block_type: str, steps: int, warmup: int, workers: int, device) -> float:
    loader = notebook_style.loader(train_set, shuffle=True, workers=workers)
    torch.manual_seed(0)
    model = build_model(block_type).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    step = step_fn(model, opt, False, device)

    def batches():
        while True:
            for xb, yb in loader:
                yield xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
    return _timed(batches(), step, steps, warmup, device)


def engine_training(arrays, block_type: str, device, n_train: int, *, channels_last=False, bf16=False,
                    compile=False, fused=False):
    """The engine's training step for a fresh model, and an endless iterator of its batches
    (seeded permutations of the first `n_train` training images, as the engine draws them)."""
    data = DeviceData(arrays.x_train, arrays.y_train, device, NOTEBOOK_MEAN, NOTEBOOK_STD, channels_last)
    torch.manual_seed(0)
    model = build_model(block_type).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, fused=fused or None)  # fused: one kernel per step
    if compile:
        # a fresh start for every compiled model: the compiled graphs of earlier measurements
        # would otherwise count towards dynamo's recompile limit (8), past which it silently runs
        # the model eagerly and the "compile" row would measure eager mode
        torch.compiler.reset()
    step = step_fn(torch.compile(model) if compile else model, opt, bf16, device)
    gen = torch.Generator().manual_seed(0)

    def batches():
        while True:
            perm = torch.randperm(n_train, generator=gen).to(device)
            for s in range(0, n_train - BATCH + 1, BATCH):
                yield data.batch(perm[s:s + BATCH])
    return step, batches()


def bench_engine(arrays, block_type, steps, warmup, device, n_train, **options) -> float:
    step, batches = engine_training(arrays, block_type, device, n_train, **options)
    return _timed(batches, step, steps, warmup, device)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archive", required=True, help="cifar-10-python.tar.gz (official or stand-in)")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2, help="DataLoader workers of the notebook pipeline")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--blocks", default=",".join(BLOCK_TYPES))
    ap.add_argument("--options", default="fp32,channels_last,bf16,bf16+channels_last,compile,compile+channels_last",
                    help="engine option sets to measure: '+'-joined fp32, channels_last, bf16, compile, "
                         "fused (Adam's fused implementation)")
    ap.add_argument("--threads", type=int, default=usable_cpus())
    ap.add_argument("--repeats", type=int, default=3, help="interleaved rounds per block type (median)")
    ap.add_argument("--peak-n", type=int, default=2048,
                    help="matrix side of the matmul peak (the convolution peak uses n/8 channels)")
    args = ap.parse_args()

    device = resolve_device(args.device)
    torch.set_num_threads(args.threads)
    arrays = read_cifar_archive(args.archive)
    peaks = {dt: compute_peak(dt, device, n=args.peak_n) for dt in (torch.float32, torch.bfloat16)}
    print(f"device {device}, threads {torch.get_num_threads()}, torch {torch.__version__}")
    for dt, name in ((torch.float32, "fp32"), (torch.bfloat16, "bf16")):
        pk = peaks[dt]
        print(f"measured {name} peak: {pk['peak']:.0f} GFLOP/s (matmul {pk['matmul']:.0f}, "
              f"3x3 convolution {pk['conv3x3']:.0f})")
    with notebook_style.extracted(args.archive) as root:
        table(args, arrays, root, device, peaks[torch.float32]["peak"], peaks[torch.bfloat16]["peak"])
    return 0


def table(args, arrays, root: Path, device, peak32: float, peak16: float) -> None:
    """Each block type: `repeats` rounds, each measuring every pipeline once (interleaved, so a
    slow spell of a shared machine hits all of them); the median of the rounds is printed."""
    print(f"images/s: median of {args.repeats} interleaved rounds (min-max); ratio of medians")
    header = (f"{'model':16s} {'pipeline':34s} {'img/s':>8s} {'(min-max)':>13s} {'x notebook':>10s} "
              f"{'GFLOP/s':>8s} {'% peak':>7s}")
    print(header)
    print("-" * len(header))
    train_set, _, _ = notebook_style.datasets(root)
    n_train = len(train_set)   # the engine trains on as many images as the notebook's split keeps
    for bt in args.blocks.split(","):
        flops = 3 * flops_per_image(build_model(bt))
        names = ["notebook (DataLoader)"] + [f"engine {opt}" for opt in args.options.split(",")]
        runs = {name: [] for name in names}
        for _ in range(args.repeats):
            runs[names[0]].append(bench_notebook(train_set, bt, args.steps, args.warmup, args.workers, device))
            for opt in args.options.split(","):
                parts = set(opt.split("+"))
                runs[f"engine {opt}"].append(bench_engine(
                    arrays, bt, args.steps, args.warmup, device, n_train, channels_last="channels_last" in parts,
                    bf16="bf16" in parts, compile="compile" in parts, fused="fused" in parts))
        base = float(np.median(runs[names[0]]))
        for name in names:
            ips = float(np.median(runs[name]))
            gf = ips * flops / 1e9
            peak = peak16 if "bf16" in name else peak32
            spread = f"({min(runs[name]):.0f}-{max(runs[name]):.0f})"
            print(f"{model_name(bt):16s} {name:34s} {ips:8.0f} {spread:>13s} {ips / base:10.2f} {gf:8.1f} "
                  f"{100 * gf / peak:6.1f}%", flush=True)


if __name__ == "__main__":
    sys.exit(main())
