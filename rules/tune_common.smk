# What the tuning rules (rules/tune.smk) and the train and report rules compute from study.tune:
# paths, input functions and params (the logic is cifar_nets/study/tune.py). Functions only, as in
# rules/common.smk.
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


def tune_threads(wildcards):
    """engine.threads; auto: as job_threads, over the pending tuning and study runs."""
    if config["engine"]["threads"] != "auto" or training_on_gpu_here():
        return job_threads(wildcards)
    pending = [
        run
        for run in tune_runs()
        if not os.path.exists(tune_path("train.json").format(**run))
    ] + pending_runs()
    plan = cpu_thread_plan(_cores(), len(pending))
    run = {
        k: (int(v) if k in ("n_blocks", "seed") else v)
        for k, v in dict(wildcards).items()
    }
    return plan[pending.index(run)] if run in pending else plan[0]


def tuning_report_files(wildcards):
    """The choice and the grid table for the report, when tuning is on."""
    return [TUNE_CHOICE["choice"], TUNE_CHOICE["grid"]] if tuning_on(STUDY) else []
