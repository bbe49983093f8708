# Training: one job per (recipe, block type, n_blocks, seed), each on one GPU when there is one.


rule train:
    input:
        data="results/data/cifar10.npz",
        split=split_file,
    output:
        weights=run_path("model.pt"),
        history=run_path("history.csv"),
        summary=run_path("train.json"),
    log:
        log_path("train"),
    params:
        recipe=lambda wildcards: config["recipes"][wildcards.recipe],
        model=config["model"],
        engine=config["engine"],
        checkpoint=checkpoint_path(),
    threads: config["engine"]["threads"]
    resources:
        gpu=1,
        mem_mb=6000,
    script:
        "../workflow_scripts/train.py"
