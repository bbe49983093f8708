# Data: fetch the dataset's python archive (md5-checked), cache the images the study uses
# (data.use_train_images / use_test_images) as one array file, split it. The dataset
# (data.dataset, cifar_nets/data/sets/) names the files: CIFAR-10's are
# results/data/cifar-10-python.tar.gz and results/data/cifar10.npz; every rule reads DATA_CACHE.
from cifar_nets.data.dataset import dataset_of  # noqa: E402

DATASET = dataset_of(config["data"])
DATA_ARCHIVE = DATASET.archive_path
DATA_CACHE = DATASET.cache_path


rule download_cifar10:
    output:
        DATA_ARCHIVE,
    log:
        f"logs/data/download_{DATASET.name}.log",
    conda:
        "../envs/cifar-ablation.yaml"
    params:
        source=config["data"]["source"],
        md5=config["data"]["md5"],
    script:
        "../workflow_scripts/download.py"


rule prepare_cifar10:
    input:
        DATA_ARCHIVE,
    output:
        DATA_CACHE,
    log:
        f"logs/data/prepare_{DATASET.name}.log",
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
        DATA_CACHE,
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
