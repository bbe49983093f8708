# Seeds in rounds (when study.seeds is a precision target): one checkpoint per round decides, per
# (recipe, n_blocks) group, whether its paired intervals are narrow enough or it needs more seeds.


checkpoint seed_round:
    input:
        train=lambda wildcards: round_files(
            int(wildcards.round), run_path("train.json")
        ),
        metrics=lambda wildcards: round_files(
            int(wildcards.round), run_path("metrics.json")
        ),
    output:
        SEED_ROUND,
    log:
        "logs/seeds/round{round}.log",
    conda:
        "../envs/cifar-ablation.yaml"
    params:
        target=SEED_TARGET,
    script:
        "../workflow_scripts/seed_round.py"
