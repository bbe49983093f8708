"""Packs: several training runs in one cluster job (`engine.runs_per_job`, docs/cluster.md).

With `runs_per_job` K > 1 and a cluster executor, every study training job joins the Snakemake
group PACK_GROUP and Snakemake merges K of them (`--group-components`) into one SLURM job, in
which one Snakemake runs the K runs side by side on the job's CPUs. Snakemake sums a group's
resources over jobs that run side by side: K x threads CPUs and K x memory, as wanted, but also
K x `gpu`. So a packed run asks for no `gpu` of its own, and the pack asks for its one GPU
through a `gres` string (strings are not summed): `sbatch --gres=gpu:1`. Inside the job the K
runs share that GPU through the device slots (at least K slots per GPU). Every run keeps its own
outputs, log, checkpoint and identity; locally `runs_per_job` changes nothing.
"""
from __future__ import annotations

import os
from collections.abc import Mapping

from cifar_nets.machine.slots import scheduler_job

PACK_GROUP = "train-pack"


def packing(runs_per_job: int, local: bool) -> bool:
    """True when training runs go to the cluster in packs of `runs_per_job`."""
    return runs_per_job > 1 and not local


def pack_group(runs_per_job: int, local: bool) -> str | None:
    """The train rule's `group`: PACK_GROUP when packing, else none."""
    return PACK_GROUP if packing(runs_per_job, local) else None


def run_gpu(on_gpu: bool, runs_per_job: int, local: bool) -> int:
    """The `gpu` resource of one training run: 1 on a GPU, 0 on the CPU or inside a pack (the
    pack asks for its GPU with pack_gres)."""
    return int(on_gpu and not packing(runs_per_job, local))


def pack_gres(on_gpu: bool, runs_per_job: int, local: bool) -> str | None:
    """The `gres` resource of a packed run on a GPU: "gpu:1", the same for every run of the pack,
    so the pack's is one GPU; None (no gres) otherwise."""
    return "gpu:1" if on_gpu and packing(runs_per_job, local) else None


def pack_minutes(minutes: int, on_gpu: bool, runs_per_job: int, local: bool) -> int:
    """A run's time limit inside a pack: K runs sharing one GPU may each take K times longer;
    on the CPU each run has its own threads."""
    return minutes * runs_per_job if on_gpu and packing(runs_per_job, local) else minutes


def slots_per_gpu(runs_per_gpu: int, runs_per_job: int, environ: Mapping[str, str] | None = None) -> int:
    """Device slots per GPU for a training job: `runs_per_gpu`, and inside a scheduler job at
    least `runs_per_job`, so that the runs of a pack share the pack's GPU instead of waiting."""
    environ = os.environ if environ is None else environ
    return max(runs_per_gpu, runs_per_job) if scheduler_job(environ) else runs_per_gpu
