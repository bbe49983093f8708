# The workflow's paths and what the rules read from the config: the study grid, the files of a
# run, wildcard constraints, input and params functions, the final outputs (the config itself is
# validated by rules/setup.smk first). A rule reads a config value as it is (`config["data"]["md5"]`)
# and everything computed from the config through a function here, in rules/seeds.smk (which
# seeds), rules/resources.smk (threads, GPU and runtime) or rules/tune_common.smk (study.tune),
# each a thin wrapper around cifar_nets.
from cifar_nets.engine.custom_blocks import block_params
from cifar_nets.engine.recipe import engine_params  # NUMERIC_ENGINE_KEYS, the one list
from cifar_nets.params import escape_params  # user text in params
from cifar_nets.report.figures import figure_entries
from cifar_nets.study.rounds import runs_of
from cifar_nets.study.summary import summary_files
from cifar_nets.study.tune import study_axes

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


# --------------------------------------------------------------------------- runs and their params


def study_runs():
    """One dict per training job of the whole study (input functions only when seeds come in
    rounds: rules/seeds.smk final_seeds)."""
    return runs_of(STUDY, final_seeds())


def run_files(pattern):
    return [pattern.format(**run) for run in study_runs()]


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


def numeric_engine():
    """The `engine` params of the train, tune_train and evaluate rules: the engine keys that can
    change what a run computes (NUMERIC_ENGINE_KEYS, cifar_nets/engine/recipe.py), so changing
    one reruns the runs. The job scripts read the other engine keys from the config
    (recipe.job_engine): changing them reruns nothing."""
    return engine_params(config["engine"])


# Lock files of the device slots (cifar_nets/machine/slots.py): one folder per host (and scheduler job).
SLOT_DIR = "results/.device-slots"


# --------------------------------------------------------------------------- figures, tables, report

# Figures and summary tables are declared once, in the package: cifar_nets/report/figures.py (name,
# scope, drawing function, caption, report section) and cifar_nets/study/summary.py SUMMARY_FORMATS.

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
    it. The run-only keys (the engine keys outside numeric_engine, and logging) are left out, so
    that changing them reruns nothing; each run's train.json records how it ran."""
    shown = {key: value for key, value in config.items() if key != "logging"}
    shown["engine"] = numeric_engine()
    return shown
