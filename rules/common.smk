# Everything computed from config lives here: validation, the study grid, wildcard constraints,
# input functions and the list of final outputs. Rules never parse config themselves.
import itertools
import os
import sys

sys.path.insert(0, workflow.basedir)
from cifar_nets.config import ConfigError, load_schema, validate_config  # noqa: E402
from cifar_nets.hardware import (  # noqa: E402
    GPU_JOB_THREADS,
    cpu_threads_per_job,
    gpu_resource_advice,
    local_gpu_count,
    training_on_gpu,
    usable_cpus,
)
from snakemake.logging import logger  # noqa: E402

try:
    _validated = validate_config(
        config, load_schema(os.path.join(workflow.basedir, "config", "schema.yaml"))
    )
except ConfigError as exc:
    raise WorkflowError(f"config error: {exc}") from None
config.clear()
config.update(_validated)

STUDY = config["study"]
RUN = "{recipe}/{block_type}/n{n_blocks}/seed{seed}"
RUN_DIR = f"results/runs/{RUN}"


def run_path(name):
    """Path of a file of one run: results/runs/{recipe}/{block_type}/n{n_blocks}/seed{seed}/NAME."""
    return f"{RUN_DIR}/{name}"


def log_path(step):
    return f"logs/{step}/{RUN}.log"


def checkpoint_path():
    """The resumable training checkpoint: not a rule output, so a killed job's one survives."""
    return f"results/checkpoints/{RUN}.pt"


wildcard_constraints:
    recipe="|".join(STUDY["recipes"]),
    block_type="|".join(STUDY["block_types"]),
    n_blocks=r"\d+",
    seed=r"\d+",
    split_seed=r"\d+",


def study_runs():
    """One dict per training job: the product of the study's axes."""
    return [
        dict(recipe=r, block_type=b, n_blocks=n, seed=s)
        for r, n, b, s in itertools.product(
            STUDY["recipes"], STUDY["n_blocks"], STUDY["block_types"], STUDY["seeds"]
        )
    ]


def run_files(pattern):
    return [pattern.format(**run) for run in study_runs()]


def split_seed(wildcards):
    return int(wildcards.seed) if config["split"]["reseed_per_run"] else config["split"]["seed"]


def split_file(wildcards):
    return f"results/data/split-seed{split_seed(wildcards)}.npz"


# --------------------------------------------------------------------------- devices and threads

# Lock files of the device slots (cifar_nets/slots.py): one folder per host (and scheduler job).
SLOT_DIR = "results/.device-slots"
# The engine options that can change what a run computes: the train/evaluate params. The others
# (threads, gpus, runs_per_gpu, eval_batch_size, checkpoint_every) are read by the job scripts
# from the config, so changing them reruns nothing.
NUMERIC_ENGINE_KEYS = ("device", "channels_last", "bf16", "compile", "tf32", "train_eval_subset",
                       "evaluate_weights")


def numeric_engine():
    return {k: config["engine"][k] for k in NUMERIC_ENGINE_KEYS}


def _local_exec():
    """True unless a cluster executor (SLURM) runs the jobs. Resource and thread callables are
    evaluated once the executor is known."""
    plugin = workflow.executor_plugin
    return plugin is None or plugin.common_settings.local_exec


def training_on_gpu_here():
    return training_on_gpu(config["engine"]["device"], _local_exec())


_ADVISED = []


def _advise_gpu_resource():
    """Once per run, on a local GPU host: warn when --resources gpu differs from the slots."""
    engine = config["engine"]
    if _ADVISED or not _local_exec() or engine["device"] == "mps":
        return
    _ADVISED.append(True)
    try:  # Snakemake's parsed --resources; not a public API, so a change there only skips this
        given = workflow.global_resources.get("gpu")
        given = getattr(given, "value", given)
    except Exception:  # noqa: BLE001
        return
    advice = gpu_resource_advice(given, engine["gpus"], engine["runs_per_gpu"], local_gpu_count())
    if advice:
        logger.warning(f"cifar-ablation: {advice}")


def train_gpu(wildcards):
    """The `gpu` resource of a training job: 1 on a GPU (so --resources gpu=N bounds the jobs
    sharing the GPUs), 0 on the CPU (so CPU jobs run side by side, bounded by --cores)."""
    if not training_on_gpu_here():
        return 0
    _advise_gpu_resource()
    return 1


def pending_runs():
    """Training runs without a train.json yet: the jobs that will compete for the cores."""
    return sum(not os.path.exists(run_path("train.json").format(**run)) for run in study_runs())


def job_threads(wildcards):
    """engine.threads, or for "auto": GPU_JOB_THREADS on a GPU; on the CPU the threads per job
    that finish the pending runs soonest on the cores Snakemake was given (hardware.py)."""
    threads = config["engine"]["threads"]
    if threads != "auto":
        return threads
    if training_on_gpu_here():
        return GPU_JOB_THREADS
    cores = workflow._cores if isinstance(workflow._cores, int) else usable_cpus()
    return cpu_threads_per_job(cores, max(1, pending_runs()))


def group_runs(wildcards, pattern):
    """Files of every block type and seed of one (recipe, n_blocks) group."""
    return [
        pattern.format(recipe=wildcards.recipe, n_blocks=wildcards.n_blocks, block_type=b, seed=s)
        for b in STUDY["block_types"]
        for s in STUDY["seeds"]
    ]


GROUP_FIGURES = ["accuracy_curves"] + [
    f"{kind}_{b}" for b in STUDY["block_types"] for kind in ("confusion", "confused_pairs")
]
OVERVIEW_FIGURES = ["test_accuracy_by_model"] + (
    ["accuracy_vs_depth", "accuracy_vs_parameters"] if len(STUDY["n_blocks"]) > 1 else []
)


def group_figure_entries():
    """One dict per figure of a (recipe, n_blocks) group: its keys, kind, block type and path."""
    kinds = [("curves", None, "accuracy_curves")] + [
        (kind, b, f"{name}_{b}")
        for b in STUDY["block_types"]
        for kind, name in (("confusion", "confusion"), ("pairs", "confused_pairs"))
    ]
    return [
        dict(recipe=r, n_blocks=n, kind=kind, block_type=b, path=f"results/figures/{r}/n{n}/{name}.png")
        for r in STUDY["recipes"]
        for n in STUDY["n_blocks"]
        for kind, b, name in kinds
    ]


def group_figures():
    return [entry["path"] for entry in group_figure_entries()]


def overview_figures():
    return [f"results/figures/{name}.png" for name in OVERVIEW_FIGURES]


SUMMARY_TABLES = [
    f"results/summary/{name}.{ext}"
    for name in ("runs", "seeds", "paired", "environments")
    for ext in ("csv", "md")
]


def get_final_output():
    return (
        ["results/report.html", "results/figures/sample_images.png"]
        + SUMMARY_TABLES
        + overview_figures()
        + group_figures()
    )
