# Training: one job per (recipe, block type, n_blocks, seed). On a GPU host each claims a device
# slot (gpu=1 each); on the CPU, jobs run side by side (gpu=0), threads split among them.


rule train:
    input:
        data=DATA_CACHE,
        split=split_file,
        choice=tuning_gate,  # the tuned runs wait for the choice (rules/tune.smk)
    output:
        weights=run_path("model.pt"),
        history=run_path("history.csv"),
        summary=run_path("train.json"),
    log:
        log_path("train"),
    group:
        train_group  # engine.runs_per_job runs per cluster job (docs/cluster.md)
    conda:
        "../envs/cifar-ablation.yaml"
    threads: job_threads
    resources:
        gpu=train_gpu,
        gres=train_gres,  # a pack's one GPU; none otherwise
        mem_mb=6000,
        runtime=train_runtime,  # minutes, estimated per job (cifar_nets/machine/runtime.py)
    params:
        recipe=train_recipe,  # the config's; for the tuned runs their choice
        model=model_params,  # widths; a block of your own: its class and source sha256
        engine=numeric_engine(),
        checkpoint=checkpoint_path(),
        slot_dir=SLOT_DIR,
        tensorboard=f"logs/tensorboard/{RUN}",  # live curves, when logging.tensorboard is on
    script:
        "../workflow_scripts/train.py"
