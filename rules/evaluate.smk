# Evaluation: test accuracy, per-class accuracy, confusion matrix, confused pairs, predictions.


rule evaluate:
    input:
        data=DATA_CACHE,
        weights=run_path("model.pt"),
        train_summary=run_path("train.json"),
        choice=tuning_gate,  # a tuned run's recipe (params) is its choice (rules/tune.smk)
    output:
        metrics=run_path("metrics.json"),
        per_class=run_path("per_class.csv"),
        confusion=run_path("confusion.csv"),
        pairs=run_path("confused_pairs.csv"),
        predictions=run_path("predictions.csv"),
    log:
        log_path("evaluate"),
    conda:
        "../envs/cifar-ablation.yaml"
    threads: job_threads
    resources:
        mem_mb=4000,
    params:
        engine=numeric_engine(),  # what it resolved for training comes from train.json
        recipe=train_recipe,  # the run's recipe, as the train rule had it: its identity
    script:
        "../workflow_scripts/evaluate.py"
