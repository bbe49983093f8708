"""Device slots: which GPU a job trains on, claimed with an OS file lock.

A host with G GPUs and `runs_per_gpu` R has G x R slots. A job claims one by taking an exclusive,
non-blocking `flock` on the slot's lock file and keeps the open file for the life of its process:
the kernel drops the lock when the process ends in any way (SIGKILL included), so a killed job
never leaks its slot and no stale-lock clean-up exists to go wrong. A job that finds every slot
taken waits (logging once a minute) instead of double-booking. Slots are tried GPU by GPU before
a GPU's second slot, so two jobs on a two-GPU host land on different GPUs.

The job then sets ``CUDA_VISIBLE_DEVICES`` to its slot's GPU before CUDA initialises, so inside
the job that GPU is ``cuda:0``. Where a scheduler already chose the GPUs (SLURM ``--gpus`` sets
``CUDA_VISIBLE_DEVICES`` in the job), the job keeps that choice; slots are then claimed among
the devices the scheduler listed, under a lock folder of that scheduler job only.

Nothing here imports torch: the GPU count is read by :func:`probe_gpu_count` in a child process,
so this process's CUDA is still uninitialised when the variable is set.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

try:
    import fcntl
except ImportError:  # Windows: no flock; slots are then not enforced (see claim_slot)
    fcntl = None

SCHEDULER_JOB_VARS = ("SLURM_JOB_ID", "PBS_JOBID", "LSB_JOBID")


@dataclass
class DeviceSlot:
    """The slot a job holds (or None-like fields when it holds none) and why."""
    gpu: str | None = None                 # the GPU id, as CUDA_VISIBLE_DEVICES names it
    index: int | None = None               # which of that GPU's runs_per_gpu slots
    cuda_visible_devices: str | None = None
    source: str = "none"                   # none | slot | scheduler
    claimed_at: float | None = None        # time.time() when the lock was taken
    message: str = ""
    _handle: object = field(default=None, repr=False)   # the open, locked file

    @property
    def name(self) -> str | None:
        return None if self.gpu is None else f"gpu{self.gpu}.{self.index}"

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def scheduler_job(environ: Mapping[str, str]) -> str | None:
    """'SLURM job 123' when this process runs inside a batch scheduler's job, else None."""
    for var in SCHEDULER_JOB_VARS:
        if environ.get(var):
            return f"{var.split('_')[0]} job {environ[var]}"
    return None


def parse_visible(value: str | None) -> list[str] | None:
    """The device ids a CUDA_VISIBLE_DEVICES value lists (None when unset)."""
    if value is None:
        return None
    return [v.strip() for v in value.split(",") if v.strip() and v.strip() != "-1"]


def probe_gpu_count(python: str = sys.executable, timeout: float = 120) -> int:
    """CUDA devices torch sees, asked in a child process so that this one's CUDA stays untouched.

    0 without a CUDA build, without a driver, or when the probe fails in any way. Hosts without
    an NVIDIA driver (no /dev/nvidiactl, no /proc/driver/nvidia) are answered without a probe.
    """
    if not (Path("/dev/nvidiactl").exists() or Path("/proc/driver/nvidia").exists()):
        return 0
    try:
        out = subprocess.run([python, "-c", "import torch; print(torch.cuda.device_count())"],
                             capture_output=True, text=True, timeout=timeout, check=True)
        return int(out.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return 0


def gpu_pool(gpus, environ: Mapping[str, str],
             count_gpus: Callable[[], int] = probe_gpu_count) -> tuple[list[str], str]:
    """The GPU ids this job may take a slot on, and where the list came from.

    `gpus` is the config's `engine.gpus`: "auto" or a list of ids. A scheduler's
    CUDA_VISIBLE_DEVICES wins over both; outside a scheduler an inherited CUDA_VISIBLE_DEVICES
    is the pool of "auto" (the user narrowed what the study may use).
    """
    visible = parse_visible(environ.get("CUDA_VISIBLE_DEVICES"))
    sched = scheduler_job(environ)
    if sched and visible is not None:
        return visible, f"CUDA_VISIBLE_DEVICES={environ['CUDA_VISIBLE_DEVICES']} set by {sched}"
    if gpus != "auto":
        return [str(g) for g in gpus], f"engine.gpus {list(gpus)}"
    if visible is not None:
        return visible, f"inherited CUDA_VISIBLE_DEVICES={environ['CUDA_VISIBLE_DEVICES']}"
    n = count_gpus()
    return [str(i) for i in range(n)], f"engine.gpus auto: {n} CUDA device(s) found"


def slot_order(pool: Sequence[str], runs_per_gpu: int) -> list[tuple[str, int]]:
    """Every GPU's first slot, then every GPU's second, ...: jobs spread over GPUs first."""
    return [(g, k) for k in range(runs_per_gpu) for g in pool]


def lock_folder(base: str | os.PathLike, environ: Mapping[str, str]) -> Path:
    """Slots are per host (and per scheduler job: two SLURM jobs on one node each got their own
    GPUs from SLURM, so they never compete for a slot)."""
    sched = scheduler_job(environ)
    name = socket.gethostname() + (f"-{sched.replace(' ', '-')}" if sched else "")
    return Path(base) / name


def try_claim(folder: Path, gpu: str, index: int):
    """The open, locked file of slot (gpu, index), or None when another process holds it."""
    folder.mkdir(parents=True, exist_ok=True)
    fh = open(folder / f"gpu{gpu}.{index}.lock", "a+")
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        return None
    fh.seek(0)
    fh.truncate()
    fh.write(f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%H:%M:%S')}\n")
    fh.flush()
    return fh


def claim_slot(pool: Sequence[str], runs_per_gpu: int, lock_dir: str | os.PathLike, *,
               environ: Mapping[str, str] | None = None, log: Callable[[str], None] = print,
               poll_seconds: float = 2.0, log_every: float = 60.0,
               timeout: float | None = None) -> DeviceSlot:
    """Claim a free slot among `pool` x `runs_per_gpu`, waiting while all are taken.

    Returns the held slot (release it, or let the process end). `timeout` (seconds, None:
    wait for ever) raises TimeoutError; the workflow waits, Snakemake's resources normally keep
    jobs below the slot count anyway.
    """
    environ = os.environ if environ is None else environ
    if not pool:
        return DeviceSlot(message="no GPU to claim a slot on")
    if fcntl is None:
        gpu = pool[0]
        return DeviceSlot(gpu=gpu, index=0, cuda_visible_devices=gpu, source="slot",
                          message=f"no file locks on this OS: using GPU {gpu} without a slot lock")
    folder = lock_folder(lock_dir, environ)
    order = slot_order(pool, runs_per_gpu)
    t0 = last_log = time.monotonic()
    waited = False
    while True:
        for gpu, index in order:
            fh = try_claim(folder, gpu, index)
            if fh is not None:
                wait = f" after waiting {time.monotonic() - t0:.0f} s" if waited else ""
                return DeviceSlot(gpu=gpu, index=index, cuda_visible_devices=gpu, source="slot",
                                  message=f"claimed slot gpu{gpu}.{index} of {len(order)}{wait}",
                                  claimed_at=time.time(), _handle=fh)
        now = time.monotonic()
        if not waited or now - last_log >= log_every:
            log(f"all {len(order)} device slots ({len(pool)} GPU(s) x {runs_per_gpu}) are taken; "
                f"waiting for one to free up (locks in {folder})")
            last_log, waited = now, True
        if timeout is not None and now - t0 >= timeout:
            raise TimeoutError(f"no free device slot after {timeout:.0f} s")
        time.sleep(poll_seconds)


def claim_device(device: str, gpus, runs_per_gpu: int, lock_dir: str | os.PathLike, *,
                 environ: dict | None = None, log: Callable[[str], None] = print,
                 count_gpus: Callable[[], int] = probe_gpu_count, **wait) -> DeviceSlot:
    """What a training job does first: find its GPUs, claim a slot, set CUDA_VISIBLE_DEVICES.

    `device` is `engine.device`. With "cpu" a slot is claimed only for an explicit `gpus` list
    (so slot handling is testable on a CPU); "mps" has one GPU and no slots. Mutates `environ`
    (default: os.environ) so that CUDA, once initialised, sees the slot's GPU only.
    """
    environ = os.environ if environ is None else environ
    if device == "mps" or (device == "cpu" and gpus == "auto"):
        return DeviceSlot(message=f"engine.device {device}: no GPU slot")
    pool, source = gpu_pool(gpus, environ, count_gpus)
    if not pool:
        return DeviceSlot(message=f"{source}: training on the CPU, no slot")
    slot = claim_slot(pool, runs_per_gpu, lock_dir, environ=environ, log=log, **wait)
    sched = scheduler_job(environ)
    if sched and "CUDA_VISIBLE_DEVICES" in environ and len(pool) == 1:
        slot.cuda_visible_devices = environ["CUDA_VISIBLE_DEVICES"]
        slot.source = "scheduler"
        slot.message = f"{source}: kept; {slot.message}"
    else:
        if device != "cpu":
            environ["CUDA_VISIBLE_DEVICES"] = slot.cuda_visible_devices
        else:
            slot.cuda_visible_devices = None   # a CPU job records the slot, sets no GPU
        slot.message = f"{source}: {slot.message}" + (
            f", CUDA_VISIBLE_DEVICES={slot.cuda_visible_devices}" if device != "cpu" else
            " (engine.device cpu: CUDA_VISIBLE_DEVICES not set)")
    return slot
