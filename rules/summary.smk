# Summary: one row per run, seed statistics and paired comparisons between block types, as CSV,
# Markdown and (seeds, paired) LaTeX: cifar_nets/study/summary.py SUMMARY_FORMATS.


rule summarize:
    input:
        train=lambda wildcards: run_files(run_path("train.json")),
        metrics=lambda wildcards: run_files(run_path("metrics.json")),
        predictions=lambda wildcards: run_files(run_path("predictions.csv")),
        rounds=seed_decision,
        data=DATA_CACHE,  # whether its images are synthetic
    output:
        [
            (
                report(
                    path,
                    caption="../report/summary_table.rst",
                    category="Overview",
                    subcategory="Summary tables",
                )
                if path.endswith(".csv")
                else path
            )
            for path in SUMMARY_TABLES
        ],
    log:
        "logs/summary/summarize.log",
    conda:
        "../envs/cifar-ablation.yaml"
    params:
        data_label=escape_params(config["data"]["label"]),  # Snakemake's report shows it
        # true adds the mark of synthetic data; the cache's own mark cannot be taken away
        synthetic=config["data"]["synthetic"],
        target=SEED_TARGET,
        stats=config["stats"],  # how the verdicts are judged (docs/statistics.md)
    script:
        "../workflow_scripts/summarize.py"
