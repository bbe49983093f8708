"""The machine a job runs on: usable cores, whether training goes to a GPU, how many threads a
CPU training job gets, and the per-run hardware record (host, device, versions).

Nothing at module level imports torch: the Snakefile asks these questions before any job runs.
"""
from __future__ import annotations

import functools
import math
import os
import platform
import socket
import subprocess
import sys

from .slots import gpu_ids_error, physical_gpu_count, probe_gpu_count  # noqa: F401 (re-exported)

# Speed of one training job with T threads relative to one thread, modelled as T**ALPHA. Measured
# on the 2-core AMD EPYC (AVX2, no avx512_bf16) dev machine with benchmarks/cpu_jobs.py
# (docs/machines.md): 2 threads gave 1.16x to 1.90x one thread over four rounds (the 2-thread
# speed swings on that VM), ALPHA 0.21 to 0.93; 0.5 is near the middle. The thread plan below is
# the same for every ALPHA in that range (tests/test_devices.py).
THREAD_SCALING_ALPHA = 0.5
# Threads a GPU training job needs: it only launches kernels (the data live on the GPU).
GPU_JOB_THREADS = 2


def usable_cpus() -> int:
    """Cores this process may run on: its affinity mask where the OS has one (Linux), else
    os.cpu_count() (macOS and Windows have no sched_getaffinity)."""
    getaffinity = getattr(os, "sched_getaffinity", None)
    if getaffinity is not None:
        try:
            return max(1, len(getaffinity(0)))
        except OSError:
            pass
    return max(1, os.cpu_count() or 1)


def job_threads(granted: int) -> int:
    """Threads a job uses: what Snakemake granted, capped at the cores it may run on."""
    return max(1, min(int(granted), usable_cpus()))


def _probe_mps(python: str = sys.executable) -> bool:
    if platform.system() != "Darwin":
        return False
    try:
        out = subprocess.run([python, "-c", "import torch; print(torch.backends.mps.is_available())"],
                             capture_output=True, text=True, timeout=120, check=True)
        return out.stdout.strip().endswith("True")
    except (OSError, subprocess.SubprocessError):
        return False


@functools.cache
def local_gpu_count() -> int:
    """CUDA devices on this host (probed once per process, see slots.probe_gpu_count)."""
    return probe_gpu_count()


@functools.cache
def local_physical_gpu_count() -> int:
    """CUDA devices on this host ignoring an inherited CUDA_VISIBLE_DEVICES (the count that
    `engine.gpus` ids are checked against, see slots.gpu_ids_error); probed once per process,
    and not at all when no CUDA_VISIBLE_DEVICES is set (then it is local_gpu_count())."""
    if "CUDA_VISIBLE_DEVICES" not in os.environ:
        return local_gpu_count()
    return physical_gpu_count()


@functools.cache
def local_accelerator() -> str | None:
    """'cuda', 'mps' or None for this host, as torch sees it (asked in a child process, and only
    where a driver exists: a CPU-only Linux host is answered without starting Python)."""
    if local_gpu_count() > 0:
        return "cuda"
    return "mps" if _probe_mps() else None


def gpu_resource_advice(given, gpus, runs_per_gpu: int, gpu_count: int) -> str | None:
    """A warning when `--resources gpu=N` does not match the device slots, else None."""
    n_gpus = len(gpus) if gpus != "auto" else gpu_count
    slots = n_gpus * runs_per_gpu
    if not slots:
        return None
    if given is None:
        return (f"no --resources gpu given: up to --cores training jobs start at once and wait for "
                f"one of the {slots} device slots; use --resources gpu={slots}")
    if given != slots:
        return (f"--resources gpu={given}, but there are {slots} device slots ({n_gpus} GPU(s) x "
                f"engine.runs_per_gpu {runs_per_gpu}): "
                + ("jobs beyond the slots wait for one" if given > slots else "slots stay idle")
                + f"; use --resources gpu={slots}")
    return None


def training_on_gpu(device: str, local_exec: bool, accelerator=local_accelerator) -> bool:
    """Whether training jobs run on a GPU: decides their `gpu` resource and their threads.

    `device` is `engine.device`. "auto" on a cluster executor (not local) means the compute
    nodes' GPUs: the submitting node (a login node) has none and is not asked. Locally, "auto"
    means whatever this host has.
    """
    if device == "cpu":
        return False
    if device in ("cuda", "mps") or not local_exec:
        return True
    return accelerator() is not None


def cpu_thread_plan(cores: int, n_jobs: int, alpha: float = THREAD_SCALING_ALPHA) -> list[int]:
    """Threads for each of `n_jobs` pending CPU training jobs, in study order.

    For each uniform count T, cores // T jobs run per round; the jobs of a last, partial round
    of R jobs get the cores that round would leave idle (cores // R threads each). The plan with
    the shortest modelled time wins (a job with T threads runs T**alpha times as fast as with
    one). 3 jobs on 2 cores: 1, 1, 2 threads, so the third job does not run alone on one core
    while the other core idles; 210 jobs on 16 cores: one thread each, the last 2 with 8.
    """
    cores, n_jobs = max(1, int(cores)), max(1, int(n_jobs))
    best_plan, best_time = None, None
    for t in range(1, cores + 1):
        per_round = max(1, cores // t)
        rounds, rest = divmod(n_jobs, per_round)
        tail = max(t, cores // rest) if rest else t
        time_units = rounds / t ** alpha + (1 / tail ** alpha if rest else 0.0)
        if best_time is None or time_units < best_time - 1e-9:
            best_plan = [t] * (n_jobs - rest) + [tail] * rest
            best_time = time_units
    return best_plan


def device_name(device) -> str:
    """GPU model for a CUDA device, 'Apple GPU (mps)' for MPS, else the CPU model."""
    from .sysinfo import cpu_model  # noqa: PLC0415
    kind = getattr(device, "type", str(device))
    if kind == "cuda":
        import torch  # noqa: PLC0415
        return torch.cuda.get_device_name(device)
    if kind == "mps":
        return "Apple GPU (mps)"
    return cpu_model()


def run_environment(device) -> dict:
    """Where and with what a run trained or was evaluated: recorded in train.json/metrics.json."""
    import torch  # noqa: PLC0415
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    info = {
        "host": socket.gethostname(),
        "device_name": device_name(device),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": cudnn,
        "platform": platform.platform(),
        "cpus_usable": usable_cpus(),
    }
    if getattr(device, "type", None) == "cuda":
        info["compute_capability"] = ".".join(map(str, torch.cuda.get_device_capability(device)))
    return info
