"""Training throughput of the ResNet (6 blocks, batch 128) on one device, option by option, and
with 1 against 4 runs sharing it.

    python benchmarks/gpu_throughput.py [--device cuda] [--steps 200] [--warmup 30] [--skip-compile]

Rows: eager fp32, bf16, channels-last, bf16 + channels-last (the engine's CUDA default without
compile), + torch.compile, and "4 runs sharing" (four processes at once with the default options;
images/s summed over them). Data are random uint8 images of CIFAR's shape: throughput does not
depend on pixel values. Prints a Markdown table in images/s; asserts nothing. scripts/gpu_check.sh
runs it on a GPU.
"""
from __future__ import annotations

import argparse
import functools
import json
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_engine import BATCH, _timed, engine_training  # noqa: E402
from cifar_nets.config import load_config  # noqa: E402
from cifar_nets.machine.hardware import configure_backends, device_name, resolve_device, resolve_options  # noqa: E402
from cifar_nets.engine.recipe import EngineOptions  # noqa: E402

ROWS = [
    ("eager fp32", dict()),
    ("bf16", dict(bf16=True)),
    ("channels-last", dict(channels_last=True)),
    ("bf16 + channels-last", dict(bf16=True, channels_last=True)),
    ("bf16 + channels-last + compile", dict(bf16=True, channels_last=True, compile=True)),
]


@functools.cache   # one data set per process, shared by every row
def synthetic(n: int = 50_000):
    gen = torch.Generator().manual_seed(0)
    return SimpleNamespace(x_train=torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=gen),
                           y_train=torch.randint(0, 10, (n,), generator=gen))


def measure(device, steps: int, warmup: int, images: int = 50_000, **options) -> float:
    step, batches = engine_training(synthetic(images), "res", device, int(0.9 * images), **options)
    return _timed(batches, step, steps, warmup, device)


def one_row(args) -> None:
    """Child process of the sharing row: print one JSON line with its images/s."""
    device = resolve_device(args.device)
    rate = measure(device, args.steps, args.warmup, args.images, bf16=args.bf16, channels_last=True)
    print(json.dumps({"img_s": rate}), flush=True)


def shared(args, runs: int) -> float:
    cmd = [sys.executable, __file__, "--child", "--device", args.device, "--steps", str(args.steps),
           "--warmup", str(args.warmup), "--images", str(args.images)] + (["--bf16"] if args.bf16 else [])
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) for _ in range(runs)]
    rates = []
    for p in procs:
        out, _ = p.communicate(timeout=600)
        if p.returncode:
            raise SystemExit(f"a sharing run failed (exit {p.returncode})")
        rates.append(json.loads(out.strip().splitlines()[-1])["img_s"])
    return sum(rates)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--images", type=int, default=50_000, help="synthetic training images")
    ap.add_argument("--skip-compile", action="store_true", help="leave out the compile row")
    ap.add_argument("--bf16", action="store_true", help="(child) bf16 for the sharing rows")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    device = resolve_device(args.device)
    speed = resolve_options(EngineOptions.from_config(load_config(), device=device.type), device)
    configure_backends(speed)
    if args.child:
        one_row(args)
        return 0
    args.bf16 = speed["bf16"]
    rows = []
    for name, opts in ROWS:
        if args.skip_compile and opts.get("compile"):
            continue
        t0 = time.perf_counter()
        try:
            rows.append((name, f"{measure(device, args.steps, args.warmup, args.images, **opts):,.0f}"))
        except Exception as exc:  # noqa: BLE001 - a row that cannot run says why
            rows.append((name, f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:80]}"))
        print(f"  {name}: {rows[-1][1]} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    default = f"bf16={args.bf16} + channels-last"
    one = shared(args, 1)
    four = shared(args, 4)
    rows.append((f"1 run alone ({default}, separate process)", f"{one:,.0f}"))
    rows.append(("4 runs sharing the device (sum)", f"{four:,.0f} ({four / one:.2f}x)"))
    print(f"\nResNet, 6 blocks, batch {BATCH}, {args.steps} timed steps after {args.warmup} warm-up; "
          f"device: {device_name(device)}; torch {torch.__version__}")
    print("| option set | images/s |")
    print("| --- | --- |")
    for name, value in rows:
        print(f"| {name} | {value} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
