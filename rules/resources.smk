# Threads, the `gpu` resource and the runtime of the training and evaluation jobs: the policy is
# cifar_nets/machine/policy.py; these wrappers hand it what only Snakemake knows (the cores it was
# given, whether a cluster executor runs the jobs, --resources gpu), once that is known: in
# resource and thread callables, not while the Snakefile loads.
import functools

from cifar_nets.machine import packs
from cifar_nets.machine.policy import (
    gpu_jobs,
    gpu_resource_warning,
    job_minutes,
    plan_cores,
    threads_for,
    unfinished,
)
from snakemake.logging import logger
from workflow_scripts.snakemake_api import (
    given_resource,
    provided_cores,
    runs_locally,
    set_group_components,
)


def training_on_gpu_here():
    """Whether training jobs run on a GPU: engine.device, and the executor (a cluster: its nodes)."""
    return bool(gpu_jobs(config["engine"]["device"], runs_locally(workflow)))


@functools.cache
def _advise_gpu_resource():
    """Once per run, on a local GPU host: warn when --resources gpu differs from the slots."""
    warning = gpu_resource_warning(
        config["engine"], runs_locally(workflow), given_resource(workflow, "gpu")
    )
    if warning:
        logger.warning(warning)


def _runs_per_job(wildcards):
    """engine.runs_per_job for a study training run; tuning runs (rules/tune.smk) are not packed."""
    return 1 if "point" in wildcards.keys() else config["engine"]["runs_per_job"]


def train_gpu(wildcards):
    """The `gpu` resource of a training job: 1 on a GPU (so --resources gpu=N bounds the jobs
    sharing the GPUs), 0 on the CPU (so CPU jobs run side by side, bounded by --cores) and in a
    pack of engine.runs_per_job runs on a cluster (the pack asks for one GPU: train_gres).
    """
    if not training_on_gpu_here():
        return 0
    _advise_gpu_resource()
    return packs.run_gpu(True, _runs_per_job(wildcards), runs_locally(workflow))


def train_gres(wildcards):
    """A pack's one GPU (sbatch --gres=gpu:1), or no gres (cifar_nets/machine/packs.py)."""
    return packs.pack_gres(
        training_on_gpu_here(), _runs_per_job(wildcards), runs_locally(workflow)
    )


def train_group(wildcards):
    """engine.runs_per_job K > 1 on a cluster: every training job joins one group, and Snakemake
    merges K of its jobs into one cluster job (as --group-components; set here, as the DAG
    is built: Snakemake replaces its group settings after reading the Snakefile). Else none.
    """
    group = packs.pack_group(_runs_per_job(wildcards), runs_locally(workflow))
    if group:
        set_group_components(workflow, group, config["engine"]["runs_per_job"])
    return group


def train_runtime(wildcards):
    """The `runtime` (minutes; sbatch -t on a cluster) of a training job, from its epochs (a
    tuned run: the most its choice may have; a tuning run: its grid point's, rules/tune_common.smk)
    and depth (cifar_nets/machine/policy.py). --set-resources train:runtime=N overrides it.
    """
    on_gpu = training_on_gpu_here()
    minutes = job_minutes(
        run_epochs(wildcards),
        wildcards.n_blocks,
        on_gpu,
        config["engine"],
        config["data"],
        config["split"]["train_fraction"],
    )
    # a pack's runs share one GPU: each may take K times longer (cifar_nets/machine/packs.py)
    return packs.pack_minutes(
        minutes, on_gpu, _runs_per_job(wildcards), runs_locally(workflow)
    )


def pending_runs():
    """Training runs without a train.json yet, in study order: the jobs competing for cores."""
    return unfinished(runs_of(STUDY, known_seeds()), run_path("train.json"))


def job_threads(wildcards):
    """engine.threads, or for "auto": 2 on a GPU; on the CPU the threads that finish the pending
    training runs soonest on the cores Snakemake was given (cifar_nets/machine/policy.py).
    """
    return threads_for(
        config["engine"]["threads"],
        training_on_gpu_here(),
        plan_cores(provided_cores(workflow)),
        pending_runs,
        wildcards,
    )


def tune_threads(wildcards):
    """As job_threads, over the pending tuning and study runs."""
    return threads_for(
        config["engine"]["threads"],
        training_on_gpu_here(),
        plan_cores(provided_cores(workflow)),
        lambda: unfinished(tune_runs(), tune_path("train.json")) + pending_runs(),
        wildcards,
    )
