# Tuning (study.tune, docs/tuning.md): every grid point of every block type and depth trains on
# the tuning seeds and is scored on the validation split only (no evaluation job, no test image);
# a checkpoint chooses per block type and depth; the train rule then trains each choice as the
# recipe `tuned` on the study's seeds (cifar_nets/tune.py).
from cifar_nets.tune import (  # noqa: E402
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


rule tune_train:
    input:
        data="results/data/cifar10.npz",
        split=split_file,
    output:
        weights=tune_path("model.pt"),
        history=tune_path("history.csv"),
        summary=tune_path("train.json"),
    log:
        f"logs/tuning/{TUNE_RUN}.log",
    wildcard_constraints:
        point=r"[A-Za-z0-9_.=,+-]+",
    conda:
        "../envs/cifar-ablation.yaml"
    threads: tune_threads
    resources:
        gpu=train_gpu,
        mem_mb=6000,
    params:
        recipe=tuning_recipe,
        recipe_name=TUNING,
        model=model_params,
        engine=numeric_engine(),
        checkpoint=f"results/checkpoints/tuning/{TUNE_RUN}.pt",
        slot_dir=SLOT_DIR,
        tensorboard=f"logs/tensorboard/tuning/{TUNE_RUN}",
    script:
        "../workflow_scripts/train.py"


checkpoint tune_choice:
    input:
        train=lambda wildcards: tune_files("train.json"),
    output:
        **TUNE_CHOICE,
    log:
        "logs/tuning/choice.log",
    conda:
        "../envs/cifar-ablation.yaml"
    params:
        runs=lambda wildcards: tune_runs(),  # the run of each input file, in order
        plan=lambda wildcards: grid_plan(STUDY, config["recipes"]),
        tune=config["study"]["tune"],
        # the validation accuracy of the weights that the tuned runs will have tested
        criterion=(
            "best_val_acc"
            if config["engine"]["evaluate_weights"] == "best"
            else "final_val_acc"
        ),
        data_label=config["data"]["label"],
    script:
        "../workflow_scripts/tune_choice.py"


rule figure_tuning:
    input:
        grid=TUNE_CHOICE["grid"],
    output:
        figure_outputs("tuning"),
    log:
        "logs/figures/tuning.log",
    conda:
        "../envs/cifar-ablation.yaml"
    params:
        options=config["report"],
    script:
        "../workflow_scripts/figure_tuning.py"
