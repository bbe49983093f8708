# Data: fetch the CIFAR-10 python archive (md5-checked), cache the images the study uses
# (data.use_train_images / use_test_images) as one array file, split it.


rule download_cifar10:
    output:
        "results/data/cifar-10-python.tar.gz",
    log:
        "logs/data/download_cifar10.log",
    conda:
        "../envs/cifar-ablation.yaml"
    params:
        source=config["data"]["source"],
        md5=config["data"]["md5"],
    script:
        "../workflow_scripts/download.py"


rule prepare_cifar10:
    input:
        "results/data/cifar-10-python.tar.gz",
    output:
        "results/data/cifar10.npz",
    log:
        "logs/data/prepare_cifar10.log",
    conda:
        "../envs/cifar-ablation.yaml"
    resources:
        mem_mb=4000,
    params:
        md5=config["data"]["md5"],
        train_images=config["data"]["train_images"],
        test_images=config["data"]["test_images"],
        # the images the study uses: the cache holds only these, so everything after follows
        use_train_images=config["data"]["use_train_images"],
        use_test_images=config["data"]["use_test_images"],
    script:
        "../workflow_scripts/prepare.py"


rule split:
    input:
        "results/data/cifar10.npz",
    output:
        "results/data/split-seed{split_seed}.npz",
    log:
        "logs/data/split-seed{split_seed}.log",
    conda:
        "../envs/cifar-ablation.yaml"
    params:
        train_fraction=config["split"]["train_fraction"],
    script:
        "../workflow_scripts/split.py"
