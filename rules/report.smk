# Report: one self-contained HTML file with every table and figure of the study.


rule report:
    input:
        summary=[path for path in SUMMARY_TABLES if path.endswith(".csv")],
        figures=[entry["path"] for entry in figure_entries(STUDY)],
        pairs=lambda wildcards: run_files(run_path("confused_pairs.csv")),
        tuning=tuning_report_files,  # study.tune: the choice and its grid
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
        # user text escaped: Snakemake's report shows params in a <script> (cifar_nets/params.py)
        config=escape_params(report_config()),
        study=STUDY,
        runs=lambda wildcards: study_runs(),  # the run of each input.pairs file, in order
        figures=figure_entries(STUDY),  # where each figure goes (cifar_nets/report/figures.py)
        data_label=escape_params(config["data"]["label"]),
    script:
        "../workflow_scripts/report.py"
