"""Shared by the workflow tests: run Snakemake on the real Snakefile, and a tiny study config."""
import os
import subprocess
import sys
from pathlib import Path

import yaml

from cifar_factory import write_cifar_archive

ROOT = Path(__file__).resolve().parent.parent


def snakemake_cmd(*args):
    """The command line that runs this project's Snakefile with the test interpreter."""
    return [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), *args]


def snakemake(workdir, *args, check=True, timeout=900, env=None):
    env = dict(os.environ if env is None else env, OMP_NUM_THREADS="1")
    proc = subprocess.run(snakemake_cmd(*args), cwd=workdir, capture_output=True, text=True,
                          timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    return proc


def tiny_config(tmp_path, *, per_class_train=12, per_class_test=3, epochs=2, engine=None, **study):
    """A tiny archive in the official format under `tmp_path` and a config that trains on it.

    The defaults (120 training and 30 test images, 2 epochs) are what the workflow tests use;
    `engine` keys are merged over the test engine settings; keyword arguments set `study`.
    """
    md5 = write_cifar_archive(tmp_path / "tiny.tar.gz", per_class_train=per_class_train,
                              per_class_test=per_class_test)
    cfg = {
        "data": {"source": str(tmp_path / "tiny.tar.gz"), "md5": md5, "label": "tiny test archive",
                 "train_images": 10 * per_class_train, "test_images": 10 * per_class_test},
        "recipes": {"notebook": {"epochs": epochs, "batch_size": 16, "lr": 3e-3},
                    "modern": {"epochs": epochs, "batch_size": 16}},
        "engine": {"threads": 1, "train_eval_subset": 0, **(engine or {})},
    }
    if study:
        cfg["study"] = study
    path = tmp_path / "test_config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path
