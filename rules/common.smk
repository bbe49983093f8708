# Everything computed from config lives here: validation, the study grid, wildcard constraints,
# input functions and the list of final outputs. Rules never parse config themselves.
import json
import os
import sys

sys.path.insert(0, workflow.basedir)
from cifar_nets.config import ConfigError, load_schema, validate_config  # noqa: E402
from cifar_nets.engine.custom_blocks import block_params  # noqa: E402
from cifar_nets.params import escape_params  # noqa: E402 - user text in params
from cifar_nets.machine.hardware import (  # noqa: E402
    GPU_JOB_THREADS,
    cpu_thread_plan,
    device_error,
    gpu_resource_advice,
    local_gpu_count,
    local_physical_gpu_count,
    training_on_gpu,
    usable_cpus,
)
from cifar_nets.machine.runtime import train_minutes, training_images  # noqa: E402
from cifar_nets.machine import packs  # noqa: E402
from cifar_nets.study.seeds import is_target  # noqa: E402
from cifar_nets.machine.slots import gpu_ids_error  # noqa: E402
from snakemake.logging import logger  # noqa: E402
from workflow_scripts.snakemake_api import (  # noqa: E402 - Snakemake beyond its documented API
    cap_cores,
    config_source_error,
    default_cores,
    given_resource,
    profile_files,
    provided_cores,
    runs_as_job,
    runs_locally,
    set_group_components,
    uses_nodes,
)

# A second --configfile or --config, or a profile's configfile:/config: with the same flag on the
# command line: Snakemake would drop config without a word (workflow_scripts/snakemake_api.py)
_config_source = config_source_error(sys.argv, profile_files())
if _config_source:
    raise WorkflowError(f"config error: {_config_source}")

try:
    _validated = validate_config(
        config, load_schema(os.path.join(workflow.basedir, "config", "schema.yaml"))
    )
except ConfigError as exc:
    raise WorkflowError(f"config error: {exc}") from None
config.clear()
config.update(_validated)

from cifar_nets.study.tune import study_axes  # noqa: E402

# the study's axes; with study.tune on, the recipe `tuned` is one of them (rules/tune.smk)
STUDY = study_axes(config["study"])
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
    round=r"\d+",


# --------------------------------------------------------------------------- seeds

# study.seeds is a list, or a precision target {min, max, step, target_halfwidth}: then seeds
# come in rounds, one checkpoint per round (rules/seeds.smk, cifar_nets/study/seeds.py), and the
# seeds of each (recipe, n_blocks) group are known only once its last round has run.
# no noqa comment here: snakemake --lint takes any 'rule ...' followed by a colon for a rule
from cifar_nets.study.round_rule import check_round_decisions
from cifar_nets.study.seeds import (  # noqa: E402
    RoundFileError,
    SeedTarget,
    final_group_seeds,
    read_round,
    round_is_final,
    seeds_after,
)

SEED_TARGET = STUDY["seeds"] if is_target(STUDY["seeds"]) else None
SEED_ROUND = "results/seeds/round{round}.json"


def groups():
    return [(r, n) for r in STUDY["recipes"] for n in STUDY["n_blocks"]]


def _check_round_files():
    """Every round file on disk is read and checked (structure, and each decision against the
    seed rule that made it), before the DAG is built. A bad one stops the run with one
    line naming it and what to do (cifar_nets/study/round_rule.py), never a traceback.
    """
    if SEED_TARGET is None:
        return
    try:
        check_round_decisions(os.path.dirname(SEED_ROUND))
    except RoundFileError as exc:
        raise WorkflowError(str(exc)) from None


_check_round_files()


def _read_round(path):
    try:
        return read_round(path)
    except RoundFileError as exc:
        raise WorkflowError(str(exc)) from None


def seeds_for_round(r):
    """Seeds per group that round r evaluates: `min` in round 0, then what round r-1 decided (`min`
    for a group it did not decide: added to the study since). Call from input functions only (it
    asks for round r-1's checkpoint)."""
    if r == 0:
        return {g: list(range(SEED_TARGET["min"])) for g in groups()}
    prev = _read_round(checkpoints.seed_round.get(round=r - 1).output[0])
    return seeds_after(prev, groups(), SeedTarget.from_config(SEED_TARGET))


def last_round():
    """The first round that decided every group of the study and stopped them all (input
    functions only): groups added since an earlier round make the rounds go on."""
    r = 0
    while not round_is_final(
        _read_round(checkpoints.seed_round.get(round=r).output[0]), groups()
    ):
        r += 1
    return r


def final_seeds():
    """Seeds per group of the whole study: the list, or the seeds of the last round."""
    if SEED_TARGET is None:
        return {g: list(STUDY["seeds"]) for g in groups()}
    return final_group_seeds(
        _read_round(SEED_ROUND.format(round=last_round())), groups()
    )


def known_seeds():
    """Seeds per group as far as the rounds on disk say (never asks for a checkpoint)."""
    if SEED_TARGET is None:
        return final_seeds()
    target = SeedTarget.from_config(SEED_TARGET)
    seeds, r = {g: list(range(target.min)) for g in groups()}, 0
    while os.path.exists(SEED_ROUND.format(round=r)):
        seeds = seeds_after(_read_round(SEED_ROUND.format(round=r)), groups(), target)
        r += 1
    return seeds


def _runs(seeds_by_group):
    return [
        dict(recipe=r, block_type=b, n_blocks=n, seed=s)
        for r, n in groups()
        for b in STUDY["block_types"]
        for s in seeds_by_group[(r, n)]
    ]


def study_runs():
    """One dict per training job of the whole study (input functions only when seeds come in
    rounds)."""
    return _runs(final_seeds())


def run_files(pattern):
    return [pattern.format(**run) for run in study_runs()]


def round_files(r, pattern):
    return [pattern.format(**run) for run in _runs(seeds_for_round(r))]


def seed_decision(wildcards):
    """The last round's decision file, or nothing for a list of seeds."""
    return [] if SEED_TARGET is None else [SEED_ROUND.format(round=last_round())]


def model_params(wildcards):
    """The train rule's `model` params: the widths, plus for a block of your own its class and
    source sha256 (cifar_nets/engine/custom_blocks.py), so editing its file retrains its runs only.
    """
    return block_params(config["model"], wildcards.block_type)


def split_seed(wildcards):
    return (
        int(wildcards.seed)
        if config["split"]["reseed_per_run"]
        else config["split"]["seed"]
    )


def split_file(wildcards):
    return f"results/data/split-seed{split_seed(wildcards)}.npz"


# --------------------------------------------------------------------------- devices and threads

# Lock files of the device slots (cifar_nets/machine/slots.py): one folder per host (and scheduler job).
SLOT_DIR = "results/.device-slots"
# The engine options that can change what a run computes: the train/evaluate params. The others
# (threads, gpus, runs_per_gpu, eval_batch_size, checkpoint_every) are read by the job scripts
# from the config, so changing them reruns nothing.
from cifar_nets import NUMERIC_ENGINE_KEYS  # noqa: E402 - the one definition


def numeric_engine():
    return {k: config["engine"][k] for k in NUMERIC_ENGINE_KEYS}


def _local_exec():
    """True unless a cluster executor (SLURM) runs the jobs. Resource and thread callables are
    evaluated once the executor is known."""
    return runs_locally(workflow)


def training_on_gpu_here():
    return training_on_gpu(config["engine"]["device"], _local_exec())


_ADVISED = []


def _advise_gpu_resource():
    """Once per run, on a local GPU host: warn when --resources gpu differs from the slots."""
    engine = config["engine"]
    if _ADVISED or not _local_exec() or engine["device"] == "mps":
        return
    _ADVISED.append(True)
    given = given_resource(workflow, "gpu")
    advice = gpu_resource_advice(
        given, engine["gpus"], engine["runs_per_gpu"], local_gpu_count()
    )
    if advice:
        logger.warning(f"cifar-ablation: {advice}")


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
    return packs.run_gpu(True, _runs_per_job(wildcards), _local_exec())


def train_gres(wildcards):
    """A pack's one GPU (sbatch --gres=gpu:1), or no gres (cifar_nets/machine/packs.py)."""
    return packs.pack_gres(
        training_on_gpu_here(), _runs_per_job(wildcards), _local_exec()
    )


def train_group(wildcards):
    """engine.runs_per_job K > 1 on a cluster: every training job joins one group, and Snakemake
    merges K of its jobs into one cluster job (as --group-components; set here, while the DAG
    is built: Snakemake replaces its group settings after reading the Snakefile). Else none.
    """
    group = packs.pack_group(_runs_per_job(wildcards), _local_exec())
    if group:
        set_group_components(workflow, group, config["engine"]["runs_per_job"])
    return group


def train_runtime(wildcards):
    """The `runtime` (minutes; sbatch -t on a cluster) of a training job: from its recipe's
    epochs, its depth, the device and a measured images/s table, with a safety factor and a floor
    (cifar_nets/machine/runtime.py). --set-resources train:runtime=N overrides it. A tuned run: the most
    epochs its choice may have (rules/tune_common.smk); a tuning run: its grid point's.
    """
    if "point" in wildcards.keys():
        epochs = tuning_recipe(wildcards)["epochs"]
    elif wildcards.recipe == TUNED:
        epochs = tuned_epochs()
    else:
        epochs = config["recipes"][wildcards.recipe]["epochs"]
    on_gpu = training_on_gpu_here() and config["engine"]["device"] != "mps"
    minutes = train_minutes(
        epochs,
        int(wildcards.n_blocks),
        on_gpu,
        training_images(config["data"], config["split"]["train_fraction"]),
    )
    return packs.pack_minutes(minutes, on_gpu, _runs_per_job(wildcards), _local_exec())


def _check_gpu_ids():
    """Where this host trains (no cluster: Snakemake was given cores, not nodes), engine.gpus
    ids it does not have stop the run before any job. On a cluster each job checks them on its
    own node (cifar_nets/machine/slots.py)."""
    if uses_nodes(workflow):
        return
    err = gpu_ids_error(
        config["engine"]["device"],
        config["engine"]["gpus"],
        local_physical_gpu_count,
        os.environ,
    )
    if err:
        raise WorkflowError(f"config error: {err}")


_check_gpu_ids()


def _check_device():
    """engine.device cuda or mps where this host trains and cannot see one: one line before any
    job. Not on a cluster (the login node has no GPU; each training job checks its own node,
    workflow_scripts/train.py), and not inside a job a cluster executor submitted."""
    if uses_nodes(workflow) or runs_as_job(workflow):
        return
    err = device_error(config["engine"]["device"])
    if err:
        raise WorkflowError(f"config error: {err}")


_check_device()


def pending_runs():
    """Training runs without a train.json yet, in study order: the jobs competing for cores."""
    return [
        run
        for run in _runs(known_seeds())
        if not os.path.exists(run_path("train.json").format(**run))
    ]


def _cap_cores():
    """Locally, --cores above the usable cores would plan more threads than the host has (three
    one-thread jobs on two cores measured 0.96x, docs/machines.md): plan and schedule for the
    usable cores instead, with one warning line. No --cores: the usable cores."""
    given, usable = provided_cores(workflow), usable_cpus()
    if given is None and not uses_nodes(workflow):
        default_cores(workflow, usable)  # `snakemake results/report.html` as typed
        return
    if given is None or given <= usable or uses_nodes(workflow):
        return
    cap_cores(workflow, usable)
    logger.warning(
        f"cifar-ablation: --cores {given} is more than the {usable} usable cores of "
        f"this host; planning and running for {usable} (use --cores {usable})"
    )


_cap_cores()


def _cores():
    cores = provided_cores(workflow)
    return usable_cpus() if cores is None else cores


def job_threads(wildcards):
    """engine.threads, or for "auto": GPU_JOB_THREADS on a GPU; on the CPU the threads that
    finish the pending training runs soonest on the cores Snakemake was given (hardware.py:
    one per job when there are many, the last round's spare cores to its jobs)."""
    threads = config["engine"]["threads"]
    if threads != "auto":
        return threads
    if training_on_gpu_here():
        return GPU_JOB_THREADS
    pending = pending_runs()
    plan = cpu_thread_plan(_cores(), len(pending))
    run = {
        k: (int(v) if k in ("n_blocks", "seed") else v)
        for k, v in dict(wildcards).items()
    }
    return plan[pending.index(run)] if run in pending else plan[0]


def group_runs(wildcards, pattern):
    """Files of every block type and seed of one (recipe, n_blocks) group."""
    seeds = final_seeds()[(wildcards.recipe, int(wildcards.n_blocks))]
    return [
        pattern.format(
            recipe=wildcards.recipe, n_blocks=wildcards.n_blocks, block_type=b, seed=s
        )
        for b in STUDY["block_types"]
        for s in seeds
    ]


# Figures and summary tables are declared once, in the package: cifar_nets/report/figures.py (name,
# scope, drawing function, caption, report section) and cifar_nets/study/summary.py SUMMARY_FORMATS.
from cifar_nets.report.figures import figure_entries  # noqa: E402
from cifar_nets.study.summary import summary_files  # noqa: E402

REPORT_CATEGORY = {
    "data": "Data",
    "study": "Overview",
    "group": "Per-run",
    "block": "Per-run",
    "tuning": "Tuning",
}


# Snakemake's report() flag under a name that cannot start a line as the `report:` keyword does
mark_for_report = report


def figure_outputs(scope, **group):
    """The files the rule of `scope` draws ("data", "study", or "group" with its block-type
    figures, for recipe=..., n_blocks=... : wildcards in a rule), marked for Snakemake's report
    with the registry's caption."""
    scopes = ("group", "block") if scope == "group" else (scope,)
    subcategory = "{recipe} recipe, {n_blocks} blocks" if group else None
    return [
        mark_for_report(
            e["path"],
            caption="../report/figure.rst",
            category=REPORT_CATEGORY[e["scope"]],
            subcategory=subcategory,
            labels={"figure": os.path.basename(e["path"]), "shows": e["caption"]},
        )
        for e in figure_entries(STUDY, scopes, **group)
    ]


SUMMARY_TABLES = summary_files()


def get_final_output():
    return (
        ["results/report.html"]
        + SUMMARY_TABLES
        + [e["path"] for e in figure_entries(STUDY)]
    )


def report_config():
    """The config the report shows ("Configuration used"): every key that can change a number in
    it. The run-only keys (engine threads, gpus, runs_per_gpu, eval_batch_size, checkpoint_every,
    and logging) are left out, so that changing them reruns nothing; each run's train.json records
    how it ran."""
    shown = {key: value for key, value in config.items() if key != "logging"}
    shown["engine"] = numeric_engine()
    return shown
