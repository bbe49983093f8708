# Everything computed from config lives here: validation, the study grid, wildcard constraints,
# input functions and the list of final outputs. Rules never parse config themselves.
import itertools
import os
import sys

sys.path.insert(0, workflow.basedir)
from cifar_nets.config import ConfigError, load_schema, validate_config  # noqa: E402

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
    f"results/summary/{name}.{ext}" for name in ("runs", "seeds", "paired") for ext in ("csv", "md")
]


def get_final_output():
    return (
        ["results/report.html", "results/figures/sample_images.png"]
        + SUMMARY_TABLES
        + overview_figures()
        + group_figures()
    )
