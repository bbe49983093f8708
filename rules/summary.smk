# Summary: one row per run, seed statistics and paired comparisons between block types, as CSV,
# Markdown and (seeds, paired) LaTeX: cifar_nets/study.py SUMMARY_FORMATS.


rule summarize:
    input:
        train=lambda wildcards: run_files(run_path("train.json")),
        metrics=lambda wildcards: run_files(run_path("metrics.json")),
        rounds=seed_decision,
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
        synthetic=config["data"]["synthetic"],  # the tables then say their numbers mean nothing
        target=SEED_TARGET,
    script:
        "../workflow_scripts/summarize.py"
