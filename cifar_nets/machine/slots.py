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

Nothing here imports torch: the facts about the host (how many CUDA devices, counted in a child
process by :func:`cifar_nets.machine.hardware.physical_gpu_count`) come from cifar_nets.machine.hardware, so this
process's CUDA is still uninitialised when the variable is set.

What keeps a lock file safe (no symlink followed, nothing foreign written) is cifar_nets.machine.slot_files.
"""
from __future__ import annotations

import os
import re
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

from cifar_nets.machine.hardware import physical_gpu_count, probe_gpu_count
from cifar_nets.machine.slot_files import (HAVE_FLOCK, LOCK_MARKER, SlotError, _Unusable,  # noqa: F401 - LOCK_MARKER: public
                         lock_name, open_folder, safe_component, try_claim)

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


_LEADING_INT = re.compile(r"[+-]?\d+")


def parse_visible(value: str | None) -> list[str] | None:
    """The device ids a CUDA_VISIBLE_DEVICES value lists, as CUDA reads it (None when unset).

    As CUDA (and torch.cuda._parse_visible_devices) does: ids are comma-separated, spaces around
    an id are ignored, an id counts by its leading digits ("1gpu2" is 1), the list stops at the
    first invalid id ("0,-1,1" is [0]; "" is none), and a repeated id hides every device. A value
    starting with GPU- or MIG- lists UUIDs, up to the first element without that prefix.
    """
    if value is None:
        return None
    for prefix in ("GPU-", "MIG-"):
        if value.startswith(prefix):
            uuids: list[str] = []
            for elem in value.split(","):
                if elem in uuids:
                    return []
                if not elem.startswith(prefix):
                    break
                uuids.append(elem)
            return uuids
    ids: list[int] = []
    for elem in value.split(","):
        m = _LEADING_INT.match(elem.strip())
        x = int(m.group()) if m else -1
        if x in ids:
            return []
        if x < 0:
            break
        ids.append(x)
    return [str(x) for x in ids]


def gpu_ids_error(device: str, gpus, gpu_count: int | Callable[[], int],
                  environ: Mapping[str, str] | None = None) -> str | None:
    """One line when `engine.gpus` lists ids this host does not have, else None.

    Applies only where the ids are used: not with `engine.device` cpu (ids on a CPU test slot
    handling) or mps, not with `gpus: auto`, not where a scheduler's CUDA_VISIBLE_DEVICES wins,
    and not with device auto on a host without CUDA (it trains on the CPU or MPS). `gpu_count` is
    the host's CUDA device count, or a callable that returns it (called only when the check
    applies). `environ`: the job's environment (default: empty, no scheduler).
    """
    environ = {} if environ is None else environ
    if device in ("cpu", "mps") or gpus == "auto":
        return None
    if scheduler_job(environ) and parse_visible(environ.get("CUDA_VISIBLE_DEVICES")) is not None:
        return None
    count = gpu_count() if callable(gpu_count) else int(gpu_count)
    if count == 0 and device != "cuda":
        return None
    ids = list(gpus)
    if all(0 <= int(g) < count for g in ids):
        return None
    have = f"(ids 0..{count - 1})" if count else "(none)"
    return (f"engine.gpus: {ids} but this host has {count} visible CUDA device(s) {have}; "
            + (f"list ids below {count} or use engine.gpus: auto" if count else
               "use engine.device: cpu, or run where CUDA is"))


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
    GPUs from SLURM, so they never compete for a slot). Always a direct child of `base`."""
    sched = scheduler_job(environ)
    name = safe_component(socket.gethostname())
    if sched:
        name += "-" + safe_component(sched.replace(" ", "-"))
    return Path(base) / name


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
    if not HAVE_FLOCK:
        gpu = pool[0]
        return DeviceSlot(gpu=gpu, index=0, cuda_visible_devices=gpu, source="slot",
                          message=f"no file locks on this OS: using GPU {gpu} without a slot lock")
    folder = lock_folder(lock_dir, environ)
    order = slot_order(pool, runs_per_gpu)
    t0 = last_log = time.monotonic()
    waited = False
    skipped: dict[str, str] = {}     # lock file name -> why it cannot be used (logged once)
    while True:
        dfd = open_folder(folder)
        busy = 0
        try:
            for gpu, index in order:
                try:
                    fh = try_claim(folder, gpu, index, dfd)
                except _Unusable as exc:
                    name = lock_name(gpu, index)
                    if name not in skipped:
                        log(f"device slot lock {folder / name} cannot be used ({exc}); "
                            "trying the next slot")
                    skipped[name] = str(exc)
                    continue
                if fh is None:
                    busy += 1
                    continue
                wait = f" after waiting {time.monotonic() - t0:.0f} s" if waited else ""
                return DeviceSlot(gpu=gpu, index=index, cuda_visible_devices=gpu, source="slot",
                                  message=f"claimed slot gpu{gpu}.{index} of {len(order)}{wait}",
                                  claimed_at=time.time(), _handle=fh)
        finally:
            os.close(dfd)
        if not busy:
            name, why = next(iter(skipped.items()))
            raise SlotError(
                f"none of the {len(order)} device slots can be used: no lock file in {folder} is "
                f"usable (e.g. {name}: {why}); remove what is not this workflow's there, the "
                "folder holds only its lock files")
        now = time.monotonic()
        if not waited or now - last_log >= log_every:
            unusable = f", {len(skipped)} of them unusable" if skipped else ""
            log(f"all {len(order)} device slots ({len(pool)} GPU(s) x {runs_per_gpu}) are taken"
                f"{unusable}; waiting for one to free up (locks in {folder})")
            last_log, waited = now, True
        if timeout is not None and now - t0 >= timeout:
            raise TimeoutError(f"no free device slot after {timeout:.0f} s")
        time.sleep(poll_seconds)


def claim_device(device: str, gpus, runs_per_gpu: int, lock_dir: str | os.PathLike, *,
                 environ: dict | None = None, log: Callable[[str], None] = print,
                 count_gpus: Callable[[], int] = physical_gpu_count, **wait) -> DeviceSlot:
    """What a training job does first: find its GPUs, claim a slot, set CUDA_VISIBLE_DEVICES.

    `device` is `engine.device`. With "cpu" a slot is claimed only for an explicit `gpus` list
    (so slot handling is testable on a CPU); "mps" has one GPU and no slots. Mutates `environ`
    (default: os.environ) so that CUDA, once initialised, sees the slot's GPU only.
    """
    environ = os.environ if environ is None else environ
    if device == "mps" or (device == "cpu" and gpus == "auto"):
        return DeviceSlot(message=f"engine.device {device}: no GPU slot")
    counted: list[int] = []

    def count_once() -> int:
        if not counted:
            counted.append(count_gpus())
        return counted[0]

    error = gpu_ids_error(device, gpus, count_once, environ)
    if error:
        raise SlotError(error)
    pool, source = gpu_pool(gpus, environ, count_once)
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
