# Figures: one rule per scope of cifar_nets/report/figures.py, the one list of the study's figures (its
# files, drawing functions and captions): the data's, each (recipe, n_blocks) group's, the study's.


rule figure_samples:
    input:
        DATA_CACHE,
    output:
        figure_outputs("data"),
    log:
        "logs/figures/data.log",
    conda:
        "../envs/cifar-ablation.yaml"
    params:
        options=config["report"],
        synthetic=config["data"]["synthetic"],
    script:
        "../workflow_scripts/figure_samples.py"


rule figures_group:
    input:
        histories=lambda wildcards: group_runs(wildcards, run_path("history.csv")),
        metrics=lambda wildcards: group_runs(wildcards, run_path("metrics.json")),
        confusion=lambda wildcards: group_runs(wildcards, run_path("confusion.csv")),
        data=DATA_CACHE,  # whether its images are synthetic
    output:
        figure_outputs("group", recipe="{recipe}", n_blocks="{n_blocks}"),
    log:
        "logs/figures/{recipe}/n{n_blocks}.log",
    conda:
        "../envs/cifar-ablation.yaml"
    params:
        options=config["report"],
        synthetic=config["data"]["synthetic"],
    script:
        "../workflow_scripts/figures_group.py"


rule figures_overview:
    input:
        runs="results/summary/runs.csv",
    output:
        figure_outputs("study"),
    log:
        "logs/figures/overview.log",
    conda:
        "../envs/cifar-ablation.yaml"
    params:
        options=config["report"],
    script:
        "../workflow_scripts/figures_overview.py"
