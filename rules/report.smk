# Report: one self-contained HTML file with every table and figure of the study.


rule report:
    input:
        runs="results/summary/runs.csv",
        seeds="results/summary/seeds.csv",
        paired="results/summary/paired.csv",
        environments="results/summary/environments.csv",
        samples="results/figures/sample_images.png",
        overview=overview_figures(),
        groups=group_figures(),
        pairs=run_files(run_path("confused_pairs.csv")),
    output:
        "results/report.html",
    log:
        "logs/report/report.log",
    params:
        config=config,
        study=STUDY,
        runs=study_runs(),  # the (recipe, block_type, n_blocks, seed) of each input.pairs file, in order
        groups=group_figure_entries(),  # the keys of each input.groups figure, in order
        data_label=config["data"]["label"],
    script:
        "../workflow_scripts/report.py"
