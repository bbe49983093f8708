"""Shared by the workflow tests: run Snakemake on the real Snakefile, and a tiny study config."""
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from cifar_nets.engine import faults, hooks

from cifar_factory import write_cifar_archive

ROOT = Path(__file__).resolve().parent.parent


def snakemake_cmd(*args):
    """The command line that runs this project's Snakefile with the test interpreter."""
    return [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), *args]


def job_env(fault=None, env=None):
    """The environment of a test's Snakemake: one OpenMP thread, and the fault (cifar_nets/engine/faults.py)
    asked for, or none."""
    env = dict(os.environ if env is None else env, OMP_NUM_THREADS="1")
    env.pop(faults.ENV, None)
    if fault:
        env[faults.ENV] = fault
    return env


def inject_fault(monkeypatch, fault):
    """Ask this test's own process for `fault` (CIFAR_ABLATION_FAULT's form): the variable set
    and cifar_nets/engine/faults.py installed as the engine's hook (cifar_nets/engine/hooks.py),
    both undone after the test. A job process started with the variable installs it itself."""
    monkeypatch.setenv(faults.ENV, fault)
    monkeypatch.setattr(hooks, "hook", faults.on_event)


def snakemake(workdir, *args, ok=True, fault=None, timeout=900, env=None):
    """Run snakemake on the project's Snakefile in `workdir`. `ok=True` / `ok=False` asserts that
    it succeeds / fails, `ok=None` asserts nothing. The result has `.rc` and `.out` (stdout and
    stderr together) beside subprocess's fields."""
    proc = subprocess.run(snakemake_cmd(*args), cwd=workdir, capture_output=True, text=True,
                          timeout=timeout, env=job_env(fault, env))
    proc.rc, proc.out = proc.returncode, proc.stdout + proc.stderr
    if ok is not None and (proc.rc == 0) != ok:
        raise AssertionError(f"snakemake {' '.join(args)} (fault {fault}) exited {proc.rc}:\n"
                             f"{proc.out[-6000:]}")
    return proc


def start_snakemake(workdir, *args, fault=None):
    """Snakemake in its own session (process group), so the test can freeze or kill all of it."""
    out = open(Path(workdir) / f"snakemake-{time.monotonic_ns()}.out", "w")
    proc = subprocess.Popen(snakemake_cmd(*args), cwd=workdir, stdout=out, stderr=subprocess.STDOUT,
                            env=job_env(fault), start_new_session=True)
    proc.out_file = out
    return proc


def kill_group(proc):
    """SIGKILL the process group of a `start_snakemake` run (while its leader is not yet reaped,
    so the group id cannot have been reused)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.out_file.close()


def wait_for(condition, proc, what, timeout=180):
    t0 = time.monotonic()
    while not condition():
        if proc.poll() is not None:
            proc.out_file.flush()
            raise AssertionError(f"snakemake exited ({proc.returncode}) before {what}:\n"
                                 + Path(proc.out_file.name).read_text()[-4000:])
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)




def planned_jobs(out) -> dict:
    """The 'Job stats' table Snakemake prints before it starts: rule -> number of jobs."""
    m = re.search(r"Job stats:\njob\s+count\n[- ]+\n(.*?)\ntotal\s+\d+", out, re.S)
    return {k: int(v) for k, v in re.findall(r"^(\w+)\s+(\d+)$", m.group(1), re.M)} if m else {}


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


def config(**overrides):
    """The project's config.yaml, validated, with `overrides` merged in."""
    from cifar_nets.config import load_config
    return load_config(overrides=overrides)


def recipe(name="notebook", **fields):
    """A recipe of config.yaml with some fields changed (the library restates no default)."""
    from cifar_nets.engine.recipe import Recipe
    return Recipe.from_config(config(), name, **fields)


def spec(block_type="res", n_blocks=1, seed=0, recipe=None, n_hidden=32, n_hidden_fc=32):
    """A RunSpec (which run to train) of the tests' small networks; `recipe` defaults to
    config.yaml's notebook recipe."""
    from cifar_nets.engine.recipe import Recipe, RunSpec
    return RunSpec(block_type=block_type, n_blocks=n_blocks, seed=seed,
                   recipe=recipe if recipe is not None else Recipe.from_config(config(), "notebook"),
                   n_hidden=n_hidden, n_hidden_fc=n_hidden_fc)


def engine(**keys):
    """config.yaml's engine options with some keys changed."""
    from cifar_nets.engine.recipe import EngineOptions
    return EngineOptions.from_config(config(), **keys)


def tiny_training_set(seed, per_class_train=12):
    """(images NCHW uint8, labels, train indices, validation indices) of a tiny generated set:
    the first 100 of a fixed permutation train, the rest validate."""
    import numpy as np

    from cifar_factory import expected_arrays
    x_hwc, y, _, _ = expected_arrays(per_class_train=per_class_train, per_class_test=1, seed=seed)
    perm = np.random.default_rng(0).permutation(len(y))
    return np.ascontiguousarray(x_hwc.transpose(0, 3, 1, 2)), np.asarray(y), perm[:100], perm[100:]
