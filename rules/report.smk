# Report: one self-contained HTML file with every table and figure of the study.


def report_config():
    """The config the report shows ("Configuration used"): every key that can change a number in
    it. The run-only keys (engine threads, gpus, runs_per_gpu, eval_batch_size, checkpoint_every,
    and logging) are left out, so that changing them reruns nothing; each run's train.json records
    how it ran."""
    shown = {key: value for key, value in config.items() if key != "logging"}
    shown["engine"] = numeric_engine()
    return shown


rule report:
    input:
        summary=[path for path in SUMMARY_TABLES if path.endswith(".csv")],
        figures=[entry["path"] for entry in figure_entries(STUDY)],
        pairs=lambda wildcards: run_files(run_path("confused_pairs.csv")),
    output:
        report(
            "results/report.html",
            caption="../report/study_report.rst",
            category="Conclusions",
        ),
    log:
        "logs/report/report.log",
    conda:
        "../envs/cifar-ablation.yaml"
    params:
        config=report_config(),
        study=STUDY,
        runs=lambda wildcards: study_runs(),  # the run of each input.pairs file, in order
        figures=figure_entries(STUDY),  # where each figure goes (cifar_nets/figures.py)
        data_label=config["data"]["label"],
    script:
        "../workflow_scripts/report.py"
