# Tuning (study.tune, docs/tuning.md): every grid point of every block type and depth trains on
# the tuning seeds and is scored on the validation split only (no evaluation job, no test image);
# a checkpoint chooses per block type and depth; the train rule then trains each choice as the
# recipe `tuned` on the study's seeds (functions: rules/tune_common.smk, cifar_nets/study/tune.py).


rule tune_train:
    input:
        data=DATA_CACHE,
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
        runtime=train_runtime,  # minutes, from the grid point's epochs (cifar_nets/machine/runtime.py)
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
        plan=tune_plan,
        tune=config["study"]["tune"],
        # the validation accuracy of the weights that the tuned runs will have tested
        criterion=tune_criterion(),
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
