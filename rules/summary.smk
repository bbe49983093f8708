# Summary: one row per run, seed statistics and paired comparisons between block types.


rule summarize:
    input:
        train=run_files(run_path("train.json")),
        metrics=run_files(run_path("metrics.json")),
    output:
        SUMMARY_TABLES,
    log:
        "logs/summary/summarize.log",
    params:
        data_label=config["data"]["label"],
    script:
        "../workflow_scripts/summarize.py"
