# Figures: sample images, per-group curves and confusion figures, overview across the study.


rule figure_samples:
    input:
        "results/data/cifar10.npz",
    output:
        report("results/figures/sample_images.png", caption="../report/sample_images.rst", category="Data"),
    log:
        "logs/figures/sample_images.log",
    params:
        per_class=config["report"]["sample_images_per_class"],
    conda:
        "../envs/cifar-ablation.yaml"
    script:
        "../workflow_scripts/figure_samples.py"


rule figures_group:
    input:
        histories=lambda wildcards: group_runs(wildcards, run_path("history.csv")),
        metrics=lambda wildcards: group_runs(wildcards, run_path("metrics.json")),
        confusion=lambda wildcards: group_runs(wildcards, run_path("confusion.csv")),
        pairs=lambda wildcards: group_runs(wildcards, run_path("confused_pairs.csv")),
    output:
        [
            report(
                f"results/figures/{{recipe}}/n{{n_blocks}}/{name}.png",
                caption="../report/group_figure.rst",
                category="Per-run",
                subcategory="{recipe} recipe, {n_blocks} blocks",
            )
            for name in GROUP_FIGURES
        ],
    log:
        "logs/figures/{recipe}/n{n_blocks}.log",
    params:
        top=config["report"]["top_confused_pairs"],
    conda:
        "../envs/cifar-ablation.yaml"
    script:
        "../workflow_scripts/figures_group.py"


rule figures_overview:
    input:
        runs="results/summary/runs.csv",
    output:
        [
            report(path, caption="../report/overview_figure.rst", category="Overview")
            for path in overview_figures()
        ],
    log:
        "logs/figures/overview.log",
    conda:
        "../envs/cifar-ablation.yaml"
    script:
        "../workflow_scripts/figures_overview.py"
