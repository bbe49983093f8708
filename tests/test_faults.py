"""Fault injection: kill, corrupt, misconfigure and race on purpose; nothing is lost or half-used.

Most tests run the real workflow (`snakemake` in a subprocess) on a tiny archive in the official
format. Kills are placed deterministically with `CIFAR_ABLATION_FAULT`, never by timing: a job
started with it installs cifar_nets/engine/faults.py as the engine's one hook
(cifar_nets/engine/hooks.py); a test in its own process installs it with `inject_fault`.
Training here is CPU fp32 (channels_last and bf16 off), where a resumed run is bit-identical to an
uninterrupted one.

    1. kill and resume       test_second_run_is_refused_while_the_first_runs,
                             test_killed_at_every_point_the_rerun_finishes_identically
    2. bad archives          test_bad_archive_stops_with_one_line_and_leaves_no_cache
    3. bad config            test_bad_config_stops_before_any_job_and_names_the_key
    4. training faults       test_diverged_run_stops_and_the_other_block_types_finish, and the
                             library-level non-finite loss and out-of-memory tests
    5. concurrency           test_second_run_is_refused_while_the_first_runs,
                             test_no_two_jobs_of_the_sweep_grid_write_the_same_file
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
import signal
import subprocess
import sys

from collections import Counter
from itertools import product
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import torch
import yaml

import cifar_factory as cf
from workflow_helpers import (ROOT, inject_fault, job_env, kill_group, planned_jobs,  # noqa: F401
                              snakemake, spec, start_snakemake, tiny_training_set, wait_for)
from cifar_nets.engine import faults, hooks
from cifar_nets.engine import train as engine
from cifar_nets.engine.train import TrainingDiverged, train_run
from workflow_helpers import engine as engine_options
from workflow_helpers import recipe

pytestmark = pytest.mark.faults

RUN = "notebook/{}/n1/seed0"                     # the run directory of block type {}
FP32 = {"device": "cpu", "threads": 1, "train_eval_subset": 0, "channels_last": False,
        "bf16": False, "compile": False, "evaluate_weights": "last"}
TIMING = ["seconds", "eval_seconds", "images_per_s"]   # history columns that are wall-clock times

# The kill-and-resume study: two runs, so one can be killed while the other finishes.
KILL_BLOCKS = ("conv", "res")
KILL_EPOCHS = 5
KILL_TARGETS = [f"results/runs/{RUN.format(bt)}/metrics.json" for bt in KILL_BLOCKS]


# --------------------------------------------------------------------------- helpers

def write_config(wd, *, blocks=("res",), epochs=2, archive=None, md5=None, data=None):
    """A config for a tiny study (n_blocks 1, seed 0) on a 120/30-image archive (made if not given)."""
    if archive is None:
        archive = wd / "source.tar.gz"
        md5 = cf.write_cifar_archive(archive, per_class_train=12, per_class_test=3)
    cfg = {
        "data": {"source": str(archive), "md5": md5, "label": "tiny", "train_images": 120,
                 "test_images": 30, **(data or {})},
        "study": {"block_types": list(blocks), "n_blocks": [1], "seeds": [0], "recipes": ["notebook"]},
        "recipes": {"notebook": {"epochs": epochs, "batch_size": 16, "lr": 3e-3}},
        "engine": dict(FP32),
    }
    path = wd / "test_config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def finished_jobs(out) -> Counter:
    return Counter(re.findall(r"Finished jobid: \d+ \(Rule: (\w+)\)", out))


def mtimes(root, *patterns) -> dict:
    return {str(p): p.stat().st_mtime_ns for pat in patterns for p in sorted(root.glob(pat))
            if p.is_file()}


def checkpoint_epoch(path):
    """The epoch a checkpoint holds, or None while there is none (it only ever appears whole)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)["epoch"]
    except FileNotFoundError:
        return None


def readable_epoch(path):
    try:
        return checkpoint_epoch(path)
    except Exception:  # noqa: BLE001 - the truncated one the test left there, until it is set aside
        return None


def temp_files(root):
    return sorted(p for p in Path(root).rglob(".*.tmp-*"))


def assert_checkpoint_on_track(ckpt, reference, block_type, epoch):
    """A checkpoint's history so far equals the uninterrupted run's first epochs, exactly."""
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    assert state["epoch"] == epoch
    got = pd.DataFrame(state["history"]).drop(columns=TIMING)
    want = pd.read_csv(Path(reference) / "results/runs" / RUN.format(block_type) / "history.csv")
    pd.testing.assert_frame_equal(got, want.drop(columns=TIMING).iloc[:epoch], check_exact=True,
                                  check_dtype=False)


def assert_same_run(a, b, block_type):
    """Two workflow directories hold bit-identical results for one run (apart from wall times)."""
    ra, rb = (Path(d) / "results/runs" / RUN.format(block_type) for d in (a, b))
    pd.testing.assert_frame_equal(pd.read_csv(ra / "history.csv").drop(columns=TIMING),
                                  pd.read_csv(rb / "history.csv").drop(columns=TIMING), check_exact=True)
    assert json.loads((ra / "metrics.json").read_text()) == json.loads((rb / "metrics.json").read_text())
    assert (ra / "predictions.csv").read_bytes() == (rb / "predictions.csv").read_bytes()
    wa, wb = (torch.load(r / "model.pt", weights_only=True) for r in (ra, rb))
    assert wa["which"] == wb["which"] == f"last epoch ({KILL_EPOCHS})"
    assert wa["model"].keys() == wb["model"].keys()
    for k in wa["model"]:
        assert torch.equal(wa["model"][k], wb["model"][k]), (block_type, k)


# --------------------------------------------------------------------------- 1, 5: reference, raced

@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """An uninterrupted run of the kill study (the reference for bit-identity), raced by a second.

    While its first training job runs, the whole run is frozen (SIGSTOP to its process group: it
    holds Snakemake's lock), a second run is started in the same directory with the same targets,
    and then the first is let go (SIGCONT) and runs to the end.
    """
    wd = tmp_path_factory.mktemp("uninterrupted")
    cfg = write_config(wd, blocks=KILL_BLOCKS, epochs=KILL_EPOCHS)
    args = ("--configfile", str(cfg), "--cores", "1", *KILL_TARGETS)
    first = start_snakemake(wd, *args)
    try:
        wait_for(lambda: (wd / "logs/train").is_dir() and any((wd / "logs/train").rglob("*.log")),
                 first, "a training job started")
        os.killpg(first.pid, signal.SIGSTOP)
        try:
            second = snakemake(wd, *args, ok=None)
            frozen = first.poll() is None
        finally:
            os.killpg(first.pid, signal.SIGCONT)
        rc = first.wait(timeout=300)
    finally:
        kill_group(first)
    return SimpleNamespace(dir=wd, args=args, rc=rc, out=Path(first.out_file.name).read_text(),
                           second=second, frozen=frozen)


def test_second_run_is_refused_while_the_first_runs(uninterrupted):
    u = uninterrupted
    assert u.frozen, "the first run ended before the second one was tried"
    assert u.second.rc != 0
    assert "LockException" in u.second.out and "Directory cannot be locked" in u.second.out
    assert finished_jobs(u.second.out) == {}                       # it ran nothing
    assert u.rc == 0, u.out[-4000:]                                # the first completed
    for bt in KILL_BLOCKS:
        run = u.dir / "results/runs" / RUN.format(bt)
        for name in ("model.pt", "history.csv", "train.json", "metrics.json", "predictions.csv"):
            assert (run / name).stat().st_size > 0, run / name
        assert len(pd.read_csv(run / "history.csv")) == KILL_EPOCHS
    assert not any((u.dir / "results/checkpoints").rglob("*.pt"))  # removed once outputs were safe
    assert temp_files(u.dir / "results") == []
    assert "Nothing to be done" in snakemake(u.dir, *u.args, "-n", ok=True).out


# --------------------------------------------------------------------------- 1: kill and resume

def test_killed_at_every_point_the_rerun_finishes_identically(uninterrupted, tmp_path):
    """One run (res) is killed at each point in turn, the workflow rerun after each kill."""
    wd = tmp_path
    cfg = write_config(wd, blocks=KILL_BLOCKS, epochs=KILL_EPOCHS)
    args = ("--configfile", str(cfg), "--cores", "1", *KILL_TARGETS)
    res = wd / "results/runs" / RUN.format("res")
    ckpt = wd / "results/checkpoints" / f"{RUN.format('res')}.pt"
    log_path = wd / "logs/train" / f"{RUN.format('res')}.log"
    partial_writes = lambda: sorted(ckpt.parent.glob(f".{ckpt.name}.tmp-*"))  # noqa: E731

    # 1. SIGKILL while epoch 2's checkpoint is half written. The other run finishes (keep-going);
    #    the checkpoint is still epoch 1's; the half-written temp file beside it does not load.
    r = snakemake(wd, *args, fault="kill_in_checkpoint_write:2@/res/", ok=False)
    planned = planned_jobs(r.out)
    assert planned["train"] == 2 and planned["evaluate"] == 2 and planned["prepare_cifar10"] == 1
    assert finished_jobs(r.out)["train"] == 1 and "Error in rule train" in r.out
    assert (wd / "results/runs" / RUN.format("conv") / "metrics.json").exists()
    assert not (res / "model.pt").exists()
    assert checkpoint_epoch(ckpt) == 1
    [partial] = partial_writes()
    assert 0 < partial.stat().st_size < ckpt.stat().st_size
    with pytest.raises(Exception):
        torch.load(partial, map_location="cpu", weights_only=True)
    finished = mtimes(wd, "results/data/*", f"results/runs/{RUN.format('conv')}/*", "logs/data/*")

    # 2. SIGKILL in the middle of epoch 3: the rerun redoes only this run, resuming after
    #    epoch 1 (never from the partial write, which it removes).
    r = snakemake(wd, *args, fault="kill_in_epoch:3@/res/", ok=False)
    assert planned_jobs(r.out) == {"train": 1, "evaluate": 1}
    log = log_path.read_text()
    assert f"removed {partial.name}" in log
    assert re.search(r"resumed from \S+ after epoch 1 ", log), log
    assert "epoch   3/5" not in log
    assert checkpoint_epoch(ckpt) == 2 and partial_writes() == []

    # 3. SIGKILL right after epoch 3's checkpoint.
    r = snakemake(wd, *args, fault="kill_after_epoch:3@/res/", ok=False)
    assert planned_jobs(r.out) == {"train": 1, "evaluate": 1}
    assert re.search(r"resumed from \S+ after epoch 2 ", log_path.read_text())
    assert_checkpoint_on_track(ckpt, uninterrupted.dir, "res", 3)   # resumed twice, still exact
    # Then the checkpoint itself is cut in half (a disk that filled up, a half-copied file).
    whole = ckpt.read_bytes()
    ckpt.write_bytes(whole[: len(whole) // 2])

    # 4. Power cut: the job freezes right after epoch 3's checkpoint and the whole workflow,
    #    Snakemake included, is SIGKILLed. The truncated checkpoint was set aside, never loaded.
    proc = start_snakemake(wd, *args, fault="stop_after_epoch:3@/res/")
    try:
        wait_for(lambda: readable_epoch(ckpt) == 3, proc, "epoch 3's checkpoint")
    finally:
        kill_group(proc)
    assert_checkpoint_on_track(ckpt, uninterrupted.dir, "res", 3)
    corrupt = ckpt.with_name(ckpt.name + ".corrupt")
    assert corrupt.read_bytes() == whole[: len(whole) // 2]
    log = log_path.read_text()
    assert re.search(r"checkpoint \S+ is unreadable .*moved to seed0\.pt\.corrupt, starting from "
                     r"epoch 0", log), log
    assert "resumed" not in log
    # Snakemake's lock outlives a SIGKILLed Snakemake: the next run refuses and says what to do.
    r = snakemake(wd, *args, ok=False)
    assert "LockException" in r.out and "--unlock" in r.out and finished_jobs(r.out) == {}
    snakemake(wd, "--configfile", str(cfg), "--unlock", ok=True)

    # 5. SIGKILL during the test-set evaluation: training resumes after epoch 3 and finishes,
    #    its outputs are kept; the evaluation leaves nothing.
    r = snakemake(wd, *args, fault="kill_in_evaluate@/res/", ok=False)
    assert planned_jobs(r.out) == {"train": 1, "evaluate": 1}
    assert finished_jobs(r.out) == {"train": 1} and "Error in rule evaluate" in r.out
    assert re.search(r"resumed from \S+ after epoch 3 ", log_path.read_text())
    assert (res / "train.json").exists() and not ckpt.exists()
    assert not any((res / n).exists() for n in ("metrics.json", "predictions.csv", "confusion.csv"))
    trained = mtimes(wd, f"results/runs/{RUN.format('res')}/*", f"logs/train/{RUN.format('res')}.log")

    # 6. A clean rerun only evaluates; nothing finished before is redone, and every result is
    #    bit-identical to the uninterrupted run's.
    r = snakemake(wd, *args, ok=True)
    assert planned_jobs(r.out) == {"evaluate": 1} and finished_jobs(r.out) == {"evaluate": 1}
    assert mtimes(wd, "results/data/*", f"results/runs/{RUN.format('conv')}/*", "logs/data/*") == finished
    assert {k: v for k, v in mtimes(wd, f"results/runs/{RUN.format('res')}/*",
                                     f"logs/train/{RUN.format('res')}.log").items()
            if k in trained} == trained
    for bt in KILL_BLOCKS:
        assert_same_run(uninterrupted.dir, wd, bt)
    assert temp_files(wd / "results") == []
    assert [p.name for p in ckpt.parent.iterdir()] == [corrupt.name]  # kept for inspection only


# --------------------------------------------------------------------------- 2: bad archives

def _malicious(module, name, code):
    return lambda wd: {"pickle_payload": ("data_batch_1", cf.malicious_pickle(code(wd), module, name))}


ARCHIVE = r"results/data/cifar-10-python\.tar\.gz"
# id -> (tamper (or a function of the work dir giving it), how to break it further, the rule
#        that must fail, what its one-line error must say)
BAD_ARCHIVES = {
    "wrong-md5": ({}, "md5", "download_cifar10",
                  r"source\.tar\.gz: md5 is [0-9a-f]{32}, expected 0{32}$"),
    "changed-after-download": ({}, "swap", "prepare_cifar10",
                               ARCHIVE + r": md5 is [0-9a-f]{32}, expected [0-9a-f]{32}$"),
    "truncated-gzip": ({}, "truncate", "prepare_cifar10",
                       ARCHIVE + r": truncated or corrupt archive \(.+\)$"),
    "dotdot-member": ({"extra_member": ("cifar-10-batches-py/../../evil.sh", b"echo owned\n")}, None,
                      "prepare_cifar10",
                      ARCHIVE + r": unsafe member name 'cifar-10-batches-py/\.\./\.\./evil\.sh'"),
    "absolute-member": ({"absolute_member": ("/tmp/cifar-evil.sh", b"echo owned\n")}, None,
                        "prepare_cifar10", ARCHIVE + r": unsafe member name '/tmp/cifar-evil\.sh'"),
    "symlink-member": ({"symlink_member": ("cifar-10-batches-py/data_batch_6", "/etc/passwd")}, None,
                       "prepare_cifar10", ARCHIVE + r": member 'cifar-10-batches-py/data_batch_6' is a "
                                                    r"symlink, expected only regular files"),
    "pickle-imports-os": (_malicious("os", "system", lambda wd: f"touch {wd / 'owned'}"), None,
                          "prepare_cifar10",
                          r"data_batch_1 in " + ARCHIVE + r": refused pickle global os\.system$"),
    "pickle-calls-eval": (_malicious("builtins", "eval", lambda wd: f"open({str(wd / 'owned')!r}, 'w')"),
                          None, "prepare_cifar10",
                          r"data_batch_1 in " + ARCHIVE + r": refused pickle global builtins\.eval$"),
    "wrong-shape": ({"bad_shape": True}, None, "prepare_cifar10",
                    r"data_batch_1 in " + ARCHIVE + r": 'data' is uint8 with shape \(24, 3071\), "
                                                    r"expected uint8 with shape \(N, 3072\)$"),
    "label-out-of-range": ({"bad_labels": True}, None, "prepare_cifar10",
                           r"data_batch_1 in " + ARCHIVE + r": label 10 at index 0 is outside 0\.\.9$"),
    "wrong-image-count": ({}, "count", "prepare_cifar10",
                          ARCHIVE + r": holds 120 training / 30 test images, expected 100 / 30 "
                                    r"\(config data\.train_images / data\.test_images\)$"),
}


@pytest.mark.parametrize("case", BAD_ARCHIVES)
def test_bad_archive_stops_with_one_line_and_leaves_no_cache(tmp_path, case):
    tamper, extra, rule, message = BAD_ARCHIVES[case]
    wd = tmp_path
    archive = wd / "source.tar.gz"
    md5 = cf.write_cifar_archive(archive, per_class_train=12, per_class_test=3,
                                 tamper=tamper(wd) if callable(tamper) else tamper)
    data = {}
    if extra == "md5":
        md5 = "0" * 32
    elif extra == "truncate":
        blob = archive.read_bytes()
        archive.write_bytes(blob[: len(blob) * 2 // 3])
        md5 = hashlib.md5(archive.read_bytes()).hexdigest()   # the md5 of what is there
    elif extra == "count":
        data = {"train_images": 100}
    elif extra == "swap":  # the downloaded copy is replaced by other bytes after the download
        snakemake(wd, "--configfile", str(write_config(wd, archive=archive, md5=md5)), "--cores",
                  "1", "results/data/cifar-10-python.tar.gz", ok=True)
        cf.write_cifar_archive(wd / "results/data/cifar-10-python.tar.gz", per_class_train=12,
                               per_class_test=3, seed=1)
    cfg = write_config(wd, archive=archive, md5=md5, data=data)

    r = snakemake(wd, "--configfile", str(cfg), "--cores", "1", "results/data/cifar10.npz", ok=False)

    log = (wd / "logs/data" / f"{rule}.log").read_text()
    last = log.rstrip("\n").splitlines()[-1]      # the traceback's final line: the whole message
    assert last.startswith("cifar_nets.data.arrays.DataError: "), log[-2000:]
    assert re.search(message, last), last
    assert f"Error in rule {rule}" in r.out and last in r.out   # shown by Snakemake too
    assert not (wd / "results/data/cifar10.npz").exists()
    assert temp_files(wd / "results") == []
    assert not (wd / "owned").exists()            # no pickled code ran
    if rule == "download_cifar10":
        assert not (wd / "results/data/cifar-10-python.tar.gz").exists()


# --------------------------------------------------------------------------- 3: bad config

BAD_CONFIGS = [
    # (YAML merged over the test config, or a --config override; what the error must say)
    ("recipes: {notebook: {epochs: -3}}", r"recipes\.notebook\.epochs: -3 is less than the minimum of 1"),
    ("recipes: {notebook: {epochs: ten}}", r"recipes\.notebook\.epochs: 'ten' is not of type 'integer'"),
    ("recipes: {notebook: {bacth_size: 8}}", r"recipes\.notebook\.bacth_size: unknown key \(allowed "
                                             r"here: augment, batch_size, .*\) - misspelled\?"),
    ("studdy: {seeds: [0, 1]}", r"studdy: unknown key \(allowed here: data, engine, logging, model, "
                                r"recipes, report, split, stats, study\) - misspelled\?"),
    ("engine: {thread: 2}", r"engine\.thread: unknown key \(allowed here: .*, threads, .*\)"),
    ("model: {n_hiden: 16}", r"model\.n_hiden: unknown key \(allowed here: custom_blocks, n_hidden, "
                            r"n_hidden_fc\)"),
    ("split: {train_fraction: 0}", r"split\.train_fraction: 0 is less than or equal to the minimum of 0"),
    ("split: {train_fraction: 1}", r"split\.train_fraction: 1 is greater than or equal to the maximum of 1"),
    ("split: {train_fraction: 0.005}", r"split\.train_fraction: 0\.005 leaves 0 training and 120 "
                                       r"validation images"),
    ("recipes: {notebook: {batch_size: 109}}", r"recipes\.notebook\.batch_size: 109 is larger than the "
                                               r"training set \(108 images"),
    ("recipes: {modern: {lr: 0}}", r"recipes\.modern\.lr: 0 is less than or equal to the minimum of 0"),
    ("study: {recipes: [notebok]}", r"study\.recipes\.0: unknown recipe 'notebok' \(defined under "
                                    r"recipes: notebook, modern\)"),
    ("--config study={block_types: [conv, dense]}", r"study\.block_types\.1: 'dense' is not one of "
                                                    r"\['conv', 'res', 'skip'\]"),
    ("model: {n_hidden: 33}", r"model\.n_hidden: 33 is odd, but SkipBlock \(block type 'skip'\) needs "
                              r"an even width"),
    ("engine: {runs_per_gpu: 0}", r"engine\.runs_per_gpu: 0 is less than the minimum of 1"),
    ("engine: {gpus: [0, 0]}", r"engine\.gpus: \[0, 0\] has non-unique elements"),
    ("study: {seeds: {min: 1, max: 4, step: 1, target_halfwidth: 1.0}}",
     r"study\.seeds\.min: 1 is less than the minimum of 2"),
    ("study: {seeds: {min: 4, max: 3, step: 1, target_halfwidth: 1.0}}",
     r"study\.seeds\.max: 3 is below study\.seeds\.min 4"),
]


@pytest.mark.parametrize("override,message", BAD_CONFIGS, ids=[o for o, _ in BAD_CONFIGS])
def test_bad_config_stops_before_any_job_and_names_the_key(tmp_path, override, message):
    cfg = write_config(tmp_path, blocks=("conv", "res", "skip"))
    if override.startswith("--config "):
        extra = ["--config", override.split(" ", 1)[1]]
    else:
        (tmp_path / "bad.yaml").write_text(override + "\n")
        extra = [str(tmp_path / "bad.yaml")]
    r = snakemake(tmp_path, "--configfile", str(cfg), *extra, "--cores", "1", ok=False)
    lines = [ln for ln in r.out.splitlines() if "config error: " in ln]
    assert lines and re.search("config error: " + message, lines[0]), r.out[-3000:]
    assert not (tmp_path / "results").exists() and not (tmp_path / "logs").exists()


# --------------------------------------------------------------------------- 4: training faults

def test_diverged_run_stops_and_the_other_block_types_finish(tmp_path):
    blocks = ("conv", "res", "skip")
    cfg = write_config(tmp_path, blocks=blocks, epochs=2)
    targets = [f"results/runs/{RUN.format(bt)}/train.json" for bt in blocks]
    r = snakemake(tmp_path, "--configfile", str(cfg), "--cores", "1", *targets,
                  fault="nan_loss:2@/skip/", ok=False)
    assert finished_jobs(r.out)["train"] == 2
    for bt in ("conv", "res"):
        summary = tmp_path / "results/runs" / RUN.format(bt) / "train.json"
        assert json.loads(summary.read_text())["epochs"] == 2
    assert not (tmp_path / "results/runs" / RUN.format("skip") / "model.pt").exists()
    log = (tmp_path / "logs/train" / f"{RUN.format('skip')}.log").read_text()
    last = log.rstrip("\n").splitlines()[-1]
    assert re.fullmatch(r"cifar_nets\.engine\.train\.TrainingDiverged: Custom_SkipNet n_blocks=1 seed=0: "
                        r"training loss became nan in epoch 2 \(lr 0\.003\); stopping this run", last), last
    assert "Error in rule train" in r.out and "block_type=skip" in r.out


@pytest.fixture(scope="module")
def tiny():
    return tiny_training_set(seed=5)


def train_tiny(tiny, **kw):
    x, y, tr, va = tiny
    return train_run(x, y, tr, va, spec("res", recipe=recipe(epochs=2, batch_size=32, lr=3e-3)),
                     engine_options(**FP32), log=lambda m: None, progress=False, **kw)


def test_fault_hooks_are_inert_unless_asked_for(monkeypatch):
    where = "results/checkpoints/notebook/res/n1/seed0.pt"
    monkeypatch.delenv(faults.ENV, raising=False)
    assert not faults.fault("kill_after_epoch", 2, where)
    monkeypatch.setenv(faults.ENV, "kill_after_epoch:2@/res/")
    assert faults.fault("kill_after_epoch", 2, where)
    assert not faults.fault("kill_after_epoch", 1, where)
    assert not faults.fault("kill_in_epoch", 2, where)
    assert not faults.fault("kill_after_epoch", 2, where.replace("/res/", "/conv/"))
    monkeypatch.setenv(faults.ENV, "kill_in_evaluate")
    assert faults.fault("kill_in_evaluate", where="anything")
    # the engine's hook does nothing and changes nothing unless one is installed
    assert hooks.hook is hooks.ignore
    assert hooks.emit("step_end", 1.5, epoch=2, step=0, where=where) == 1.5
    monkeypatch.setattr(hooks, "hook", faults.on_event)
    monkeypatch.setenv(faults.ENV, "nan_loss:2@/res/")
    assert hooks.emit("step_end", 1.5, epoch=1, step=0, where=where) == 1.5
    assert math.isnan(hooks.emit("step_end", 1.5, epoch=2, step=0, where=where))
    monkeypatch.delenv(faults.ENV)
    assert hooks.emit("step_end", 1.5, epoch=2, step=0, where=where) == 1.5


def test_a_job_started_with_the_variable_installs_the_fault_hook():
    """How a fault reaches a Snakemake job: importing the engine in a process that has
    CIFAR_ABLATION_FAULT set installs faults.on_event as its hook; without it, the no-op."""
    code = ("from cifar_nets.engine import faults, hooks, train; "
            "print(hooks.hook is faults.on_event, hooks.hook is hooks.ignore)")
    for env, want in ((job_env("kill_in_evaluate"), "True False"), (job_env(), "False True")):
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                             text=True, env=env)
        assert out.returncode == 0 and out.stdout.split() == want.split(), out.stderr


@pytest.mark.parametrize("kind", ["nan", "inf"])
def test_non_finite_loss_stops_the_run_naming_the_epoch(tiny, monkeypatch, kind):
    inject_fault(monkeypatch, f"{kind}_loss:2")
    with pytest.raises(TrainingDiverged, match=rf"training loss became {kind} in epoch 2 "):
        train_tiny(tiny)


def test_out_of_memory_in_a_training_step_is_reported_as_such(tiny, monkeypatch):
    real, calls = engine.F.cross_entropy, []

    def cross_entropy(*args, **kw):
        calls.append(1)
        if len(calls) == 5:   # the second step of epoch 2 (4 steps an epoch)
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return real(*args, **kw)

    monkeypatch.setattr(engine.F, "cross_entropy", cross_entropy)
    with pytest.raises(RuntimeError) as info:
        train_tiny(tiny)
    assert not isinstance(info.value, torch.OutOfMemoryError)
    assert re.fullmatch(r"out of memory on cpu in epoch 2 with batch_size 32: lower batch_size or "
                        r"eval_batch_size \(CUDA out of memory\. Tried to allocate 20\.00 GiB\)",
                        str(info.value)), str(info.value)


def test_out_of_memory_in_the_validation_pass_is_reported_as_such(tiny, monkeypatch):
    def predict_logits(*args, **kw):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 9.00 GiB")

    monkeypatch.setattr(engine, "predict_logits", predict_logits)
    with pytest.raises(RuntimeError, match=r"^out of memory on cpu evaluating epoch 1 with "
                                           r"eval_batch_size 256: lower eval_batch_size \(CUDA out"):
        train_tiny(tiny)


# --------------------------------------------------------------------------- 5: no two jobs write one file

JOBS_SCRIPT = r"""
import json, sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.settings.types import ConfigSettings, DAGSettings, ResourceSettings
snakefile, workdir, *configfiles = sys.argv[1:]
with SnakemakeApi() as api:
    wf_api = api.workflow(resource_settings=ResourceSettings(cores=1),
                          config_settings=ConfigSettings(configfiles=[Path(c) for c in configfiles]),
                          snakefile=Path(snakefile), workdir=Path(workdir))
    wf_api.dag(DAGSettings(forceall=True))
    wf = wf_api._workflow
    wf._prepare_dag(forceall=True, ignore_incomplete=True, lock_warn_only=True, nolock=True)
    wf._build_dag()
    jobs = [{"rule": j.rule.name, "wildcards": dict(j.wildcards_dict),
             "output": [str(f) for f in j.output], "log": [str(f) for f in j.log],
             "checkpoint": j.params.get("checkpoint")} for j in wf.dag.jobs]
print("JOBS:" + json.dumps(jobs))
"""


@pytest.mark.parametrize("reseed", [False, True], ids=["shared-split", "split-per-seed"])
def test_no_two_jobs_of_the_sweep_grid_write_the_same_file(tmp_path, reseed):
    """Every job of the sweep grid of docs/configuration.md (210 training runs) with the files it writes, taken
    from Snakemake's own DAG: outputs, logs and the training checkpoint never coincide."""
    grid = dict(block_types=["conv", "res", "skip"], n_blocks=[0, 2, 4, 6, 8, 12, 16],
                seeds=[0, 1, 2, 3, 4], recipes=["notebook", "modern"])
    cfg = write_config(tmp_path)
    (tmp_path / "grid.yaml").write_text(yaml.safe_dump(
        {"study": grid, "split": {"reseed_per_run": reseed}, "recipes": {"modern": {"batch_size": 16}}}))
    proc = subprocess.run([sys.executable, "-c", JOBS_SCRIPT, str(ROOT / "Snakefile"), str(tmp_path),
                           str(cfg), str(tmp_path / "grid.yaml")], capture_output=True, text=True,
                          timeout=300, env=job_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = json.loads(proc.stdout.split("JOBS:", 1)[1])
    train = [j for j in jobs if j["rule"] == "train"]
    expected = {(r, b, str(n), str(s)) for r, n, b, s in
                product(grid["recipes"], grid["n_blocks"], grid["block_types"], grid["seeds"])}
    assert sorted((j["wildcards"]["recipe"], j["wildcards"]["block_type"], j["wildcards"]["n_blocks"],
                   j["wildcards"]["seed"]) for j in train) == sorted(expected)
    assert Counter(j["rule"] for j in jobs)["evaluate"] == 210
    assert Counter(j["rule"] for j in jobs)["split"] == (5 if reseed else 1)

    writers = Counter()
    for j in jobs:
        for path in j["output"] + j["log"] + ([j["checkpoint"]] if j["rule"] == "train" else []):
            writers[os.path.normpath(path)] += 1
    shared = {p: n for p, n in writers.items() if n > 1}
    assert shared == {}, shared
    checkpoints = [j["checkpoint"] for j in train]
    assert all(c.startswith("results/checkpoints/") and c.endswith(".pt") for c in checkpoints)
    # The checkpoint is no rule's output, so Snakemake never deletes it when a job fails.
    outputs = {os.path.normpath(p) for j in jobs for p in j["output"]}
    assert not outputs & {os.path.normpath(c) for c in checkpoints}
