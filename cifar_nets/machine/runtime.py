"""How long a training job needs: the `runtime` (minutes) it asks a scheduler for (issue 24,
item 3). Read by cifar_nets/machine/policy.py (`job_minutes`, for rules/resources.smk
`train_runtime`); nothing here imports torch.

    minutes = max(FLOOR_MIN, SAFETY * (epochs * training images * cost(n_blocks) / rate(device)
                                       + STARTUP_S) / 60)

`rate` is a measured images-per-second figure of the 6-block network, `cost` scales it to other
depths by forward FLOPs (models.flops_per_image, default widths: 7.70 MFLOP for the stem and head
plus 1.18 MFLOP per conv/res block; a skip block is cheaper, 0.89, and is costed as a res block).
The measured rates (images trained per second of a whole job, per-epoch validation included):

- CPU: **648 images/s**, `benchmarks/cpu_jobs.py` on 2026-11-30, one job with 1 thread, 6-block
  ResNet, fp32 (no bf16 units): a 2-core AMD EPYC without avx512_bf16, AVX2 only, PyTorch 2.14.1
  (docs/machines.md). The slowest figure the project has: a cluster job with more threads or
  bf16 (4,917 images/s, 2 threads, bf16 + channels-last, 2-core AMD EPYC with avx512_bf16,
  2026-11-29, benchmarks/bench_engine.py, docs/speed.md) finishes well inside the request.
- GPU: **not measured** (no GPU has been lent to this project). Until scripts/gpu_check.sh gives a
  figure, a GPU job is costed at the fastest CPU figure above, 4,917 images/s: a lower bound, since
  any CUDA GPU trains this 92k-parameter network faster than 2 CPU cores (an assumption, not a
  measurement).
"""
from __future__ import annotations

import math

# images/s of the 6-block network for a whole training job; see the module docstring for the
# machine and date of each figure
IMAGES_PER_S = {"cpu": 648.0, "gpu": 4917.0}
STEM_MFLOP, BLOCK_MFLOP, REFERENCE_BLOCKS = 7.70, 1.18, 6
SAFETY = 2.0         # ask for twice the estimate: shared nodes, slower CPUs, the modern recipe's augmentation
STARTUP_S = 120.0    # process start, loading the 185 MB cache, the final checkpoint and outputs
FLOOR_MIN = 10       # never ask for less than this (a queue that starts the job late, a slow filesystem)


def depth_cost(n_blocks: int) -> float:
    """Forward FLOPs of an n_blocks network relative to the 6-block one the rates were measured on."""
    return ((STEM_MFLOP + BLOCK_MFLOP * n_blocks)
            / (STEM_MFLOP + BLOCK_MFLOP * REFERENCE_BLOCKS))


def training_images(data: dict, train_fraction: float) -> int:
    """Images trained per epoch: the used training images (config `data`) times the split's
    training fraction."""
    used = data["train_images"] if data["use_train_images"] == "all" else data["use_train_images"]
    return int(used * train_fraction)


def train_minutes(epochs: int, n_blocks: int, on_gpu: bool, images: int,
                  rates: dict | None = None) -> int:
    """Minutes a training job asks for: the estimate times SAFETY, at least FLOOR_MIN."""
    rate = (rates or IMAGES_PER_S)["gpu" if on_gpu else "cpu"]
    seconds = epochs * images * depth_cost(n_blocks) / rate + STARTUP_S
    return max(FLOOR_MIN, math.ceil(SAFETY * seconds / 60))
