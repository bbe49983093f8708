"""How to spend a CPU's cores on training jobs: K jobs side by side with T threads each.

    python benchmarks/cpu_jobs.py --data results/data/cifar10.npz \\
        --split results/data/split-seed42.npz --layouts 1x2 2x1 --epochs 1 --rounds 2

Each layout KxT starts K training processes at once (``python -m cifar_nets``, ResNet, 6 blocks,
notebook recipe, the engine's defaults), each with T threads, and times the whole layout from the
first start to the last exit. Study throughput = images trained by all K jobs / wall seconds:
what decides how fast a study of many runs finishes. Layouts are interleaved over rounds (a
shared VM drifts); the table gives the median and range over rounds. Prints only; asserts nothing.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_layout(jobs: int, threads: int, args, workdir: Path) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    procs, outs = [], []
    t0 = time.perf_counter()
    for k in range(jobs):
        out = workdir / f"j{jobs}x{threads}-{k}-{time.monotonic_ns()}"
        outs.append(out)
        cmd = [sys.executable, "-m", "cifar_nets", "--data", args.data, "--split", args.split,
               "--block-type", args.block_type, "--n-blocks", "6", "--seed", str(k),
               "--epochs", str(args.epochs), "--threads", str(threads), "--out", str(out)]
        procs.append(subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, text=True))
    for p in procs:
        _, err = p.communicate()
        if p.returncode:
            raise SystemExit(f"training failed:\n{err[-2000:]}")
    wall = time.perf_counter() - t0
    images = 0
    per_job = []
    for out in outs:
        s = json.loads((out / "train.json").read_text())
        images += s["train_images_per_s"] * s["train_seconds"]
        per_job.append(s["train_images_per_s"])
    return {"wall": wall, "study_img_s": images / wall, "job_img_s": statistics.mean(per_job)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", required=True)
    ap.add_argument("--layouts", nargs="+", default=["1x2", "2x1"],
                    help="JOBSxTHREADS, e.g. 1x2 2x1 (default)")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--block-type", default="res")
    args = ap.parse_args(argv)
    layouts = [tuple(int(v) for v in spec.split("x")) for spec in args.layouts]
    results: dict = {lay: [] for lay in layouts}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for lay in layouts:
                res = run_layout(*lay, args, Path(tmp))
                results[lay].append(res)
                print(f"round {r + 1} {lay[0]}x{lay[1]}: {res['wall']:.1f} s, study "
                      f"{res['study_img_s']:.0f} img/s, per job {res['job_img_s']:.0f} img/s",
                      flush=True)
    from cifar_nets.machine.hardware import cpu_model  # noqa: PLC0415
    print(f"\nCPU: {cpu_model()} ({os.cpu_count()} cores), {platform.machine()}; "
          f"{args.epochs} epoch(s) per job, median [min-max] of {args.rounds} rounds")
    base = statistics.median(x["study_img_s"] for x in results[layouts[0]])
    print("| jobs x threads | study img/s | per-job img/s | x first layout |")
    print("| --- | --- | --- | --- |")
    for lay, rows in results.items():
        s = [x["study_img_s"] for x in rows]
        j = [x["job_img_s"] for x in rows]
        print(f"| {lay[0]} x {lay[1]} | {statistics.median(s):.0f} [{min(s):.0f}-{max(s):.0f}] | "
              f"{statistics.median(j):.0f} | {statistics.median(s) / base:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
