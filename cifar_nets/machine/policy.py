"""How the workflow plans its jobs on this machine: the device, thread, core and GPU-resource
policy, as plain functions of the config's `engine` and facts Snakemake knows.

rules/resources.smk and rules/setup.smk call these with what only Snakemake has (the cores it was
given, whether a cluster runs the jobs, what `--resources gpu` said); nothing here imports
Snakemake, and the host's facts come from cifar_nets.machine.hardware (each a parameter, so a test
can stand in a host of its own):

- while the Snakefile loads: :func:`host_config_error` (an engine.device or engine.gpus this host
  cannot give), :func:`core_setting` (the cores to plan with when --cores is missing or above
  the usable cores), :func:`plan_cores` (the cores a thread plan splits);
- per job: :func:`gpu_jobs` (the `gpu` resource), :func:`gpu_resource_warning` (--resources gpu
  against the device slots), :func:`threads_for` (engine.threads, or the plan for "auto"),
  :func:`unfinished` (the runs competing for cores), :func:`job_minutes` (the `runtime`).
"""
from __future__ import annotations

import os
from typing import Callable, Mapping, NamedTuple

from cifar_nets.machine.hardware import (GPU_JOB_THREADS, cpu_thread_plan, device_error,
                                         gpu_resource_advice, local_accelerator, local_gpu_count,
                                         local_physical_gpu_count, mps_available,
                                         training_on_gpu, usable_cpus)
from cifar_nets.machine.runtime import train_minutes, training_images
from cifar_nets.machine.slots import gpu_ids_error

# wildcards that are integers in a run's dict (a study run's or a tuning run's)
INTEGER_WILDCARDS = ("n_blocks", "seed")


# --------------------------------------------------------------------------- while the Snakefile loads

def host_config_error(engine: dict, *, uses_nodes: bool, in_job: bool,
                      environ: Mapping[str, str],
                      physical_gpus: Callable[[], int] = local_physical_gpu_count,
                      gpus: Callable[[], int] = local_gpu_count,
                      mps: Callable[[], bool] = mps_available) -> str | None:
    """One line when this host trains (no cluster: Snakemake was given cores, not nodes) and
    cannot give what `engine` asks: engine.gpus ids it does not have, or engine.device cuda/mps
    it cannot see (not asked inside a job a cluster executor submitted). On a cluster the login
    node has no GPU: each training job checks its own node (workflow_scripts/train.py,
    cifar_nets/machine/slots.py). `physical_gpus`, `gpus`, `mps`: the host's probes."""
    if uses_nodes:
        return None
    err = gpu_ids_error(engine["device"], engine["gpus"], physical_gpus, environ)
    if err or in_job:
        return err
    return device_error(engine["device"], gpu_count=gpus, mps=mps)


def plan_cores(given: int | None, usable: Callable[[], int] = usable_cpus) -> int:
    """The cores a thread plan splits: what Snakemake has (--cores, or what core_setting set),
    else (a cluster without --cores) the usable cores of this host."""
    return usable() if given is None else given


class CoreSetting(NamedTuple):
    """What to do with Snakemake's cores: `action` None (leave them), "default" (no --cores was
    given: run with `cores`) or "cap" (plan and schedule with `cores`, and log `warning`)."""
    action: str | None
    cores: int | None = None
    warning: str | None = None


def core_setting(given: int | None, usable: int, uses_nodes: bool) -> CoreSetting:
    """Locally, --cores above the usable cores would plan more threads than the host has (three
    one-thread jobs on two cores measured 0.96x, docs/machines.md): plan and schedule for the
    usable cores instead, with one warning line. No --cores: the usable cores (`snakemake
    results/report.html` as typed). On a cluster, what Snakemake has."""
    if uses_nodes:
        return CoreSetting(None)
    if given is None:
        return CoreSetting("default", usable)
    if given <= usable:
        return CoreSetting(None)
    return CoreSetting("cap", usable,
                       f"cifar-ablation: --cores {given} is more than the {usable} usable cores of "
                       f"this host; planning and running for {usable} (use --cores {usable})")


# --------------------------------------------------------------------------- per job

def gpu_jobs(device: str, local_exec: bool, accelerator=local_accelerator) -> int:
    """The `gpu` resource of a training job: 1 on a GPU (so --resources gpu=N bounds the jobs
    sharing the GPUs), 0 on the CPU (so CPU jobs run side by side, bounded by --cores)."""
    return int(training_on_gpu(device, local_exec, accelerator))


def gpu_resource_warning(engine: dict, local_exec: bool, given,
                         gpu_count: Callable[[], int] = local_gpu_count) -> str | None:
    """On a local CUDA host: a warning line when `--resources gpu` (`given`, None when not
    given) differs from the device slots (engine.gpus x engine.runs_per_gpu), else None."""
    if not local_exec or engine["device"] == "mps":
        return None
    advice = gpu_resource_advice(given, engine["gpus"], engine["runs_per_gpu"], gpu_count())
    return f"cifar-ablation: {advice}" if advice else None


def unfinished(runs: list[dict], done_file: str) -> list[dict]:
    """The runs (dicts of wildcards) whose `done_file` pattern names no file yet, in order: the
    training jobs competing for cores."""
    return [run for run in runs if not os.path.exists(done_file.format(**run))]


def threads_for(threads, on_gpu: bool, cores: int, pending: Callable[[], list[dict]],
                wildcards) -> int:
    """A job's threads: engine.threads (`threads`), or for "auto": GPU_JOB_THREADS on a GPU;
    on the CPU the threads that finish the `pending()` training runs soonest on `cores`
    (hardware.cpu_thread_plan: one per job when there are many, the last round's spare cores to
    its jobs); the job is the run its `wildcards` name (a job not pending: the first plan's).
    `pending` is asked only then (it looks at the disk)."""
    if threads != "auto":
        return threads
    if on_gpu:
        return GPU_JOB_THREADS
    pending = pending()
    plan = cpu_thread_plan(cores, len(pending))
    run = {k: (int(v) if k in INTEGER_WILDCARDS else v) for k, v in dict(wildcards).items()}
    return plan[pending.index(run)] if run in pending else plan[0]


def job_minutes(epochs: int, n_blocks, on_gpu: bool, engine: dict, data: dict,
                train_fraction: float) -> int:
    """The `runtime` (minutes; sbatch -t on a cluster) of a training job of `epochs` at depth
    `n_blocks`: cifar_nets/machine/runtime.py's estimate at the GPU rate on a CUDA GPU, else at
    the CPU's, over the images it trains on (config `data`, split.train_fraction)."""
    return train_minutes(epochs, int(n_blocks), on_gpu and engine["device"] != "mps",
                         training_images(data, train_fraction))
