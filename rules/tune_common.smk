# What the tuning rules (rules/tune.smk) and the train and report rules compute from study.tune:
# paths, input functions and params (the logic is cifar_nets/study/tune.py). Functions only, as in
# rules/common.smk; the tuning jobs' threads are rules/resources.smk's.
from cifar_nets.study.tune import (  # noqa: E402
    TUNED,
    TUNING,
    chosen_recipe,
    grid_plan,
    grid_points,
    point_label,
    point_recipe,
    tuning_on,
    tuning_runs,
)

TUNE_RUN = "{block_type}/n{n_blocks}/{point}/seed{seed}"
TUNE_CHOICE = {
    "choice": "results/tuning/choice.json",
    "grid": "results/tuning/grid.csv",
    "grid_md": "results/tuning/grid.md",
}


def tune_path(name):
    """A file of one tuning run: results/tuning/runs/{block_type}/n{n_blocks}/{point}/seed{seed}/NAME."""
    return f"results/tuning/runs/{TUNE_RUN}/{name}"


def tune_runs():
    return tuning_runs(STUDY) if tuning_on(STUDY) else []


def tune_files(name):
    return [tune_path(name).format(**run) for run in tune_runs()]


def tuning_recipe(wildcards):
    """A tuning run's recipe: the base recipe with its grid point's values."""
    points = {
        point_label(p): p for p in grid_points(STUDY["tune"], wildcards.block_type)
    }
    return point_recipe(config["recipes"], STUDY["tune"], points[wildcards.point])


def tuned_epochs():
    """The most epochs a tuned run's choice may have (the base recipe's, or a grid's epochs)."""
    return max(
        point_recipe(config["recipes"], STUDY["tune"], p)["epochs"]
        for bt in STUDY["block_types"]
        for p in grid_points(STUDY["tune"], bt)
    )


def train_recipe(wildcards):
    """The train rule's recipe: the config's, or for the tuned runs the choice of their block
    type and depth (choice.json; tuning_gate has waited for it)."""
    if wildcards.recipe != TUNED:
        return config["recipes"][wildcards.recipe]
    choice = checkpoints.tune_choice.get().output.choice
    return chosen_recipe(choice, wildcards.block_type, int(wildcards.n_blocks))


def tuning_gate(wildcards):
    """Tuned runs wait for the choice. The choice file is no input of theirs: a choice made again
    with the same result retrains nothing; their recipe params say what changed."""
    if wildcards.recipe == TUNED:
        checkpoints.tune_choice.get()
    return []


def run_epochs(wildcards):
    """A training job's epochs: a tuning run's grid point's, the most a tuned run's choice may
    have (tuned_epochs), else its recipe's (the `runtime` it asks for, rules/resources.smk).
    """
    if "point" in wildcards.keys():
        return tuning_recipe(wildcards)["epochs"]
    if wildcards.recipe == TUNED:
        return tuned_epochs()
    return config["recipes"][wildcards.recipe]["epochs"]


def tune_criterion():
    """What the choice compares: the validation accuracy of the weights that the tuned runs will
    have tested (engine.evaluate_weights)."""
    return (
        "best_val_acc"
        if config["engine"]["evaluate_weights"] == "best"
        else "final_val_acc"
    )


def tune_plan(wildcards):
    """The grid of every block type and depth, with each point's recipe (tune_choice's params)."""
    return grid_plan(STUDY, config["recipes"])


def tuning_report_files(wildcards):
    """The choice and the grid table for the report, when tuning is on."""
    return [TUNE_CHOICE["choice"], TUNE_CHOICE["grid"]] if tuning_on(STUDY) else []
