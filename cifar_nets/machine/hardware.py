"""Every question about the machine, answered once:

- cores: :func:`usable_cpus`, :func:`capped_threads` (what a job may use of the threads granted);
- GPUs: :func:`probe_gpu_count` and :func:`physical_gpu_count` (asked in a child process, so this
  process's CUDA stays uninitialised), :func:`local_gpu_count`, :func:`mps_available` (the one
  MPS probe), :func:`local_accelerator`, :func:`device_error` (an engine.device the host lacks);
- planning jobs on them: :func:`training_on_gpu`, :func:`cpu_thread_plan`,
  :func:`gpu_resource_advice` (read by cifar_nets/machine/policy.py);
- the device and precision a run gets: :func:`resolve_device`, :func:`cpu_has_bf16`,
  :func:`cuda_has_native_bf16`, :func:`resolve_options`, :func:`configure_backends`;
- what to record: :func:`device_name`, :func:`cpu_model`, :func:`package_version`, and
  :func:`environment_record`, the one environment record (keys :data:`ENVIRONMENT_KEYS`) that
  train.json, metrics.json and the report node's environment all use.

Nothing at module level imports torch: the Snakefile asks these questions before any job runs.
Which GPU a job takes (device slots and their lock files) is cifar_nets.machine.slots, which asks here.
"""
from __future__ import annotations

import functools
import importlib.metadata as _md
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path

NOT_INSTALLED = "not installed"
UNKNOWN = "unknown"

# Speed of one training job with T threads relative to one thread, modelled as T**ALPHA. Measured
# on the 2-core AMD EPYC (AVX2, no avx512_bf16) dev machine with benchmarks/cpu_jobs.py
# (docs/machines.md): 2 threads gave 1.16x to 1.90x one thread over four rounds (the 2-thread
# speed swings on that VM), ALPHA 0.21 to 0.93; 0.5 is near the middle. The thread plan below is
# the same for every ALPHA in that range (tests/test_devices.py).
THREAD_SCALING_ALPHA = 0.5
# Threads a GPU training job needs: it only launches kernels (the data live on the GPU).
GPU_JOB_THREADS = 2

# --------------------------------------------------------------------------- cores

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


def capped_threads(granted: int) -> int:
    """Threads a job uses: what Snakemake granted, capped at the cores it may run on."""
    return max(1, min(int(granted), usable_cpus()))

# --------------------------------------------------------------------------- GPUs

def _has_nvidia_driver() -> bool:
    return Path("/dev/nvidiactl").exists() or Path("/proc/driver/nvidia").exists()


def probe_gpu_count(python: str = sys.executable, timeout: float = 120, environ=None) -> int:
    """CUDA devices torch sees, asked in a child process so that this one's CUDA stays untouched.

    `environ` is the child's environment (default: this process's). 0 without a CUDA build,
    without a driver, or when the probe fails in any way. Hosts without an NVIDIA driver (no
    /dev/nvidiactl, no /proc/driver/nvidia) are answered without a probe.
    """
    if not _has_nvidia_driver():
        return 0
    try:
        out = subprocess.run([python, "-c", "import torch; print(torch.cuda.device_count())"],
                             capture_output=True, text=True, timeout=timeout, check=True,
                             env=None if environ is None else dict(environ))
        return int(out.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return 0


def physical_gpu_count(python: str = sys.executable) -> int:
    """CUDA devices of this host whatever CUDA_VISIBLE_DEVICES this process inherited: the ids
    `engine.gpus` lists are the host's, since a job sets CUDA_VISIBLE_DEVICES to its id itself."""
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    return probe_gpu_count(python, environ=env)


@functools.cache
def local_gpu_count() -> int:
    """CUDA devices on this host (probed once per process, see :func:`probe_gpu_count`)."""
    return probe_gpu_count()


@functools.cache
def local_physical_gpu_count() -> int:
    """CUDA devices on this host ignoring an inherited CUDA_VISIBLE_DEVICES (the count that
    `engine.gpus` ids are checked against, see slots.gpu_ids_error); probed once per process,
    and not at all when no CUDA_VISIBLE_DEVICES is set (then it is local_gpu_count())."""
    if "CUDA_VISIBLE_DEVICES" not in os.environ:
        return local_gpu_count()
    return physical_gpu_count()


def mps_available() -> bool:
    """Whether PyTorch reports Apple's GPU (MPS): the one MPS probe. Off macOS the answer is
    no without importing torch (PyTorch has MPS on macOS only)."""
    if platform.system() != "Darwin":
        return False
    import torch  # noqa: PLC0415
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


@functools.cache
def local_accelerator() -> str | None:
    """'cuda', 'mps' or None for this host (CUDA asked in a child process, and only where a
    driver exists: a CPU-only Linux host is answered without starting Python or importing torch)."""
    if local_gpu_count() > 0:
        return "cuda"
    return "mps" if mps_available() else None

def device_error(device: str, where: str = "this host", gpu_count=None, mps=None) -> str | None:
    """One line when engine.device is cuda/mps and `where` lacks it; gpu_count, mps: the probes."""
    if device == "cuda" and not (gpu_count or local_gpu_count)():
        return (f"engine.device: cuda but {where} has no CUDA device (PyTorch sees none); "
                "use engine.device: auto or cpu, or run where a GPU is")
    if device == "mps" and not (mps or mps_available)():
        return (f"engine.device: mps but {where} has no Apple GPU (PyTorch reports no MPS); "
                "use engine.device: auto or cpu")
    return None

# --------------------------------------------------------------------------- planning jobs

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

# --------------------------------------------------------------------------- device and precision

def resolve_device(name: str = "auto"):
    """The torch.device for `engine.device`. auto: CUDA when present, else Apple's GPU (MPS)
    when present, else the CPU."""
    import torch  # noqa: PLC0415
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if mps_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("engine.device: cuda was asked for but no CUDA device is available")
    if name == "mps" and not mps_available():
        raise RuntimeError("engine.device: mps was asked for but PyTorch reports no MPS device")
    return torch.device(name)


@functools.cache   # /proc/cpuinfo does not change while the process runs
def cpu_has_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def cuda_has_native_bf16(device, capability=None) -> bool:
    """bf16 tensor cores: compute capability 8.0 (Ampere) or newer. `is_bf16_supported()` also
    says yes on V100/T4, where bf16 is emulated and slower than fp32."""
    if capability is None:
        import torch  # noqa: PLC0415
        capability = torch.cuda.get_device_capability(device)
    return capability[0] >= 8


def bf16_native(device) -> bool:
    """Whether `device` computes bf16 natively (CUDA 8.0+, CPUs with avx512_bf16 or AMX)."""
    if device.type == "cuda":
        return cuda_has_native_bf16(device)
    return device.type == "cpu" and cpu_has_bf16()


def resolve_options(opts, device) -> dict:
    """`opts` (EngineOptions) with 'auto' turned into the measured best choice for `device`
    (see docs/speed.md): channels_last, bf16, compile, tf32, cudnn_benchmark."""
    cuda = device.type == "cuda"
    return {
        # channels-last: 1.12-2.01x the notebook pipeline in fp32 on the 2-core CPU over three
        # benchmark runs (docs/speed.md); GPUs not measured
        "channels_last": True if opts.channels_last == "auto" else bool(opts.channels_last),
        # bf16 + channels-last: 2.21-2.80x the notebook pipeline on the 2-core avx512_bf16 CPU, same
        # accuracy over 3 seeds per block type (docs/speed.md); CPUs without bf16 units only
        # emulate it: off there
        "bf16": bf16_native(device) if opts.bf16 == "auto" else bool(opts.bf16),
        # auto: on CUDA only, and a compile that fails falls back to eager (cifar_nets.engine.compiled)
        "compile": cuda if opts.compile == "auto" else bool(opts.compile),
        "tf32": bool(opts.tf32) and cuda,
        "cudnn_benchmark": cuda,
    }


def configure_backends(resolved: dict) -> None:
    """Process-wide numeric switches, set explicitly (PyTorch's own defaults differ between
    matmuls and convolutions): TF32 as `engine.tf32` says, cuDNN autotuning on CUDA."""
    import torch  # noqa: PLC0415
    torch.backends.cuda.matmul.allow_tf32 = resolved["tf32"]
    torch.backends.cudnn.allow_tf32 = resolved["tf32"]
    torch.backends.cudnn.benchmark = resolved["cudnn_benchmark"]

# --------------------------------------------------------------------------- the environment record

# package versions in the record (key -> distribution), read from metadata: nothing is imported
PACKAGES = {"torchvision": "torchvision", "numpy": "numpy", "pandas": "pandas",
            "matplotlib": "matplotlib", "seaborn": "seaborn", "snakemake": "snakemake"}
ENVIRONMENT_KEYS = ("host", "platform", "python", "python_executable", "cpu_model", "cpu_count",
                    "cpus_usable", "device", "device_name", "compute_capability", "torch", "cuda",
                    "cudnn", "cuda_devices", *PACKAGES)


def package_version(dist: str) -> str:
    """Installed version of distribution `dist` (from metadata, nothing is imported)."""
    try:
        return _md.version(dist)
    except _md.PackageNotFoundError:
        return NOT_INSTALLED
    except Exception:  # noqa: BLE001
        return UNKNOWN


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo when present, else what :mod:`platform` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key.strip().lower() in ("model name", "hardware", "cpu model", "processor name"):
                    if value.strip():
                        return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or UNKNOWN


def device_name(device) -> str:
    """GPU model for a CUDA device, 'Apple GPU (mps)' for MPS, else the CPU model."""
    kind = getattr(device, "type", str(device))
    if kind == "cuda":
        import torch  # noqa: PLC0415
        return torch.cuda.get_device_name(device)
    if kind == "mps":
        return "Apple GPU (mps)"
    return cpu_model()


def _torch_facts(device) -> dict:
    import torch  # noqa: PLC0415 - optional here, heavy: an ImportError means "not installed"
    cuda = torch.cuda.is_available()
    return {
        "device_name": None if device is None else device_name(device),
        "compute_capability": (".".join(map(str, torch.cuda.get_device_capability(device)))
                               if getattr(device, "type", None) == "cuda" else None),
        "torch": str(torch.__version__),
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "cuda_devices": ([torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
                         if cuda else []),
    }


def environment_record(device=None) -> dict:
    """Where and with what a job ran: the one record, keys :data:`ENVIRONMENT_KEYS`.

    `device` is the torch.device a run trained or was evaluated on (None for a job that used
    none, e.g. the report: then device, device_name and compute_capability are None). Never
    raises: a fact that cannot be had is "unknown"; torch missing makes its facts "not
    installed"; `cuda` and `cudnn` are None where torch has no CUDA or cuDNN build.
    """
    record: dict = {}

    def probe(key, fn):
        try:
            record[key] = fn()
        except Exception:  # noqa: BLE001 - a record never stops a job
            record[key] = UNKNOWN

    probe("host", socket.gethostname)
    probe("platform", platform.platform)
    probe("python", lambda: sys.version.split()[0])
    probe("python_executable", lambda: sys.executable or UNKNOWN)
    probe("cpu_model", cpu_model)
    probe("cpu_count", lambda: os.cpu_count() or UNKNOWN)
    probe("cpus_usable", usable_cpus)
    record["device"] = None if device is None else str(device)
    torch_keys = ("device_name", "compute_capability", "torch", "cuda", "cudnn", "cuda_devices")
    try:
        record.update(_torch_facts(device))
    except ImportError:
        record.update({k: NOT_INSTALLED for k in torch_keys}, cuda_devices=[])
    except Exception:  # noqa: BLE001 - a broken install must not break a job or the report
        record.update({k: UNKNOWN for k in torch_keys}, cuda_devices=[])
    for key, dist in PACKAGES.items():
        record[key] = package_version(dist)
    return {k: record[k] for k in ENVIRONMENT_KEYS}
