"""A run's identity, defined once: a checkpoint resumes only the run that wrote it.

What a run's result depends on (the training data's content, the split, block type, depth, seed,
recipe, model widths and the engine options that change numbers) is said by one function,
`cifar_nets.engine.checkpoints.run_identity`; the checkpoint's fingerprint is built from it. A checkpoint
written for other data (same image counts, same split indices) is set aside with a log line that
says which part differs, and training starts at epoch 0: in the library (train_run,
train_and_write) and in a real Snakemake rerun after `data.source`/`md5` are switched.
"""
from __future__ import annotations

import importlib
import json
import re
import subprocess

import numpy as np
import pytest
import torch
import yaml

import cifar_factory as cf
from cifar_nets.data.arrays import CifarArrays, content_sha256, load_cache, write_cache, write_split
from cifar_nets.engine.run import train_and_write
from cifar_nets.engine.train import train_run
from cifar_nets.engine.run import OutputPaths
from workflow_helpers import ROOT, engine, snakemake, spec, tiny_config
from workflow_helpers import recipe as Recipe

FP32 = engine(device="cpu", channels_last=False, bf16=False, compile=False, train_eval_subset=0)
NAMES = tuple(f"c{i}" for i in range(10))


def dataset(seed):
    """Images NCHW uint8 and int64 labels of a tiny generated set (240 images); every seed gives
    the same counts and the same split indices, only the content differs."""
    x_hwc, y, _, _ = cf.expected_arrays(per_class_train=24, per_class_test=1, seed=seed)
    return np.ascontiguousarray(x_hwc.transpose(0, 3, 1, 2)), np.asarray(y, dtype=np.int64)


@pytest.fixture(scope="module")
def split():
    perm = np.random.default_rng(0).permutation(240)
    return perm[:200], perm[200:]


def train(x, y, split, logs, *, epochs=2, **kw):
    run = spec(kw.pop("block_type", "res"), seed=kw.pop("seed", 7),
               recipe=kw.pop("recipe", Recipe(epochs=epochs, batch_size=50)))
    return train_run(x, y, *split, run, kw.pop("options", FP32), log=logs.append,
                     progress=False, **kw)


def write_data(path, x, y):
    write_cache(CifarArrays(x, y, x[:10], y[:10], NAMES), path)
    return path


# --------------------------------------------------------------------------- library: train_run

def test_checkpoint_of_other_data_with_the_same_counts_is_set_aside(tmp_path, split):
    """The bug: a checkpoint written on dataset A resumed a run on dataset B (same counts)."""
    xa, ya = dataset(1)
    xb, yb = dataset(2)
    assert xa.shape == xb.shape and not np.array_equal(xa, xb)
    ckpt = tmp_path / "c.pt"
    train(xa, ya, split, [], checkpoint=ckpt, max_epochs=1)      # "killed" after epoch 1
    assert torch.load(ckpt, weights_only=True)["epoch"] == 1
    logs = []
    res = train(xb, yb, split, logs, checkpoint=ckpt)
    assert not any("resumed" in m for m in logs), logs
    assert [h["epoch"] for h in res.history] == [1, 2]
    [line] = [m for m in logs if "set aside" in m]
    a, b = content_sha256(xa, ya), content_sha256(xb, yb)
    assert "other data" in line and a[:12] in line and b[:12] in line, line
    # and it is the same as training on B from scratch
    fresh = train(xb, yb, split, [])
    assert [h["train_loss"] for h in res.history] == [h["train_loss"] for h in fresh.history]


def test_checkpoint_of_the_same_data_still_resumes(tmp_path, split):
    x, y = dataset(1)
    ckpt = tmp_path / "c.pt"
    train(x, y, split, [], checkpoint=ckpt, max_epochs=1)
    logs = []
    train(x.copy(), y.copy(), split, logs, checkpoint=ckpt)   # equal content, other buffers
    assert any(re.search(r"resumed from \S+ after epoch 1 ", m) for m in logs), logs


@pytest.mark.parametrize("change,part", [
    ({"seed": 8}, "seed (7 in the checkpoint, 8 now)"),
    ({"block_type": "conv"}, "block_type (res in the checkpoint, conv now)"),
    ({"recipe": Recipe(epochs=2, batch_size=50, lr=0.0123)}, "recipe lr"),
    ({"options": engine(device="cpu", channels_last=True, bf16=False, compile=False,
                        train_eval_subset=0)},
     "engine channels_last (False in the checkpoint, True now)"),
])
def test_the_log_names_the_part_that_differs(tmp_path, split, change, part):
    x, y = dataset(1)
    ckpt = tmp_path / "c.pt"
    train(x, y, split, [], checkpoint=ckpt, max_epochs=1)
    logs = []
    res = train(x, y, split, logs, checkpoint=ckpt, **change)
    assert len(res.history) == 2
    [line] = [m for m in logs if "set aside" in m]
    assert part in line and "starting from epoch 0" in line, line


@pytest.mark.parametrize("other", ["reordered", "boundary"])
def test_other_split_indices_are_named(tmp_path, split, other):
    """Another order of the same indices, or the same permutation cut elsewhere (another
    train_fraction: the concatenated indices are unchanged), is another split."""
    x, y = dataset(1)
    ckpt = tmp_path / "c.pt"
    train(x, y, split, [], checkpoint=ckpt, max_epochs=1)
    tr, va = split
    changed = (tr[::-1], va) if other == "reordered" else (tr[:-1], np.concatenate([tr[-1:], va]))
    logs = []
    train(x, y, changed, logs, checkpoint=ckpt)
    [line] = [m for m in logs if "set aside" in m]
    assert "another train/validation split" in line, line


def test_a_checkpoint_without_an_identity_is_set_aside(tmp_path, split):
    """A checkpoint from before identities were recorded cannot prove what it was written for."""
    x, y = dataset(1)
    ckpt = tmp_path / "c.pt"
    train(x, y, split, [], checkpoint=ckpt, max_epochs=1)
    state = torch.load(ckpt, weights_only=True)
    del state["identity"]
    torch.save(state, ckpt)
    logs = []
    assert len(train(x, y, split, logs, checkpoint=ckpt).history) == 2
    assert any("set aside" in m and "no run identity" in m for m in logs), logs


def test_the_identity_covers_the_numeric_engine_keys_defined_once():
    import cifar_nets
    from cifar_nets.engine.checkpoints import run_identity
    from cifar_nets.config import load_config
    from cifar_nets.engine.recipe import RUN_ONLY_ENGINE_KEYS, EngineOptions, RunSpec
    keys = cifar_nets.NUMERIC_ENGINE_KEYS
    spec = RunSpec(block_type="res", n_blocks=1, seed=0, recipe=Recipe(), n_hidden=32,
                   n_hidden_fc=32)
    ident = run_identity(spec, FP32, torch.device("cpu"), data_sha256="0" * 64,
                         train_idx=np.arange(3), val_idx=np.arange(3, 5))
    assert tuple(ident["engine"]) == keys
    # every engine key of the config is either numeric or says only how a job runs
    run_only = set(RUN_ONLY_ENGINE_KEYS) | {"eval_batch_size", "checkpoint_every"}
    assert set(load_config()["engine"]) == set(keys) | run_only and not set(keys) & run_only
    assert set(EngineOptions.__dataclass_fields__) == set(keys) | {"eval_batch_size",
                                                                   "checkpoint_every"}
    # declared beside the option type; the package exports the same tuple, without torch
    assert cifar_nets.NUMERIC_ENGINE_KEYS is importlib.import_module("cifar_nets.engine.recipe").NUMERIC_ENGINE_KEYS
    # the workflow's params take the same tuple (one definition): rules/common.smk's
    # numeric_engine is recipe.engine_params, and no rule file defines the keys again
    common = (ROOT / "rules/common.smk").read_text()
    assert re.search(r"^from cifar_nets.engine.recipe import .*engine_params", common, re.M)
    assert re.search(r"def numeric_engine\(\):\n(?:    .*\n)*    return engine_params\(config\[\"engine\"\]\)",
                     common)
    for smk in (ROOT / "rules").glob("*.smk"):
        assert not re.search(r"NUMERIC_ENGINE_KEYS\s*=", smk.read_text()), smk


def test_a_job_takes_the_result_changing_engine_keys_from_its_params_only():
    """What a rule passes (engine_params) and what its job runs with (job_engine): the keys of
    NUMERIC_ENGINE_KEYS from the params, the rest from the config, whatever the config says."""
    from cifar_nets.config import load_config
    from cifar_nets.engine.recipe import NUMERIC_ENGINE_KEYS, engine_params, job_engine
    cfg = load_config()["engine"]
    params = engine_params(cfg)
    assert tuple(params) == NUMERIC_ENGINE_KEYS
    stale = dict(cfg, bf16="stale", threads=3)             # the config changed after the DAG
    engine = job_engine(stale, dict(params, bf16=False))
    assert engine["bf16"] is False and engine["threads"] == 3 and set(engine) == set(cfg)
    with pytest.raises(KeyError, match="tf32"):
        job_engine(cfg, {k: v for k, v in params.items() if k != "tf32"})


# ------------------------------------------------------------------------ library: train_and_write

def test_train_and_write_on_swapped_arrays_starts_at_epoch_0(tmp_path, split):
    """The files path: a checkpoint of arrays A, the cache swapped for B with the same counts."""
    xa, ya = dataset(1)
    xb, yb = dataset(2)
    write_split(tmp_path / "s.npz", *split, 0, 0.9)
    ckpt = tmp_path / "run" / "checkpoint.pt"
    train(xa, ya, split, [], checkpoint=ckpt, max_epochs=1)
    out = OutputPaths(weights=tmp_path / "run" / "model.pt",
                      history=tmp_path / "run" / "history.csv",
                      summary=tmp_path / "run" / "train.json", checkpoint=ckpt)

    def go(data, logs):
        return train_and_write(spec("res", seed=7, recipe=Recipe(epochs=2, batch_size=50)), out,
                               data=data, split=tmp_path / "s.npz", options=FP32,
                               log=logs.append)

    logs = []
    facts = go(write_data(tmp_path / "b.npz", xb, yb), logs)
    assert not any("resumed" in m for m in logs), logs
    assert any("set aside" in m and "other data" in m for m in logs), logs
    assert facts["resumed_after_epoch"] == 0
    on_disk = json.loads(out.summary.read_text())
    assert on_disk["data_sha256"] == content_sha256(xb, yb)
    cached = load_cache(tmp_path / "b.npz")
    assert on_disk["data_sha256"] == content_sha256(cached.x_train, cached.y_train)
    assert on_disk["cifar_nets_version"] == __import__("cifar_nets").__version__
    assert "git_commit" in on_disk and len(on_disk["run_fingerprint"]) == 16

    # the same arrays through the files path do resume: one definition of "the data"
    train(xa, ya, split, [], checkpoint=ckpt, max_epochs=1)
    logs = []
    facts = go(write_data(tmp_path / "a.npz", xa, ya), logs)
    assert any(re.search(r"resumed from \S+ after epoch 1 ", m) for m in logs), logs
    assert facts["resumed_after_epoch"] == 1


@pytest.mark.parametrize("swap", [False, True], ids=["same-data", "other-data"])
def test_the_terminal_cli_resumes_only_on_the_same_data(tmp_path, split, capsys, swap):
    """`python -m cifar_nets --data other.npz` with a checkpoint of other data in --out."""
    from cifar_nets.__main__ import main
    from workflow_helpers import config
    xa, ya = dataset(1)
    data = write_data(tmp_path / "d.npz", *(dataset(2) if swap else (xa, ya)))
    write_split(tmp_path / "s.npz", *split, 0, 0.9)
    out = tmp_path / "run"
    train_run(xa, ya, *split,
              spec("res", seed=7, recipe=Recipe(epochs=2, batch_size=50),
                   **{k: config()["model"][k] for k in ("n_hidden", "n_hidden_fc")}),
              engine(), checkpoint=out / "checkpoint.pt", log=lambda m: None, progress=False,
              max_epochs=1)
    capsys.readouterr()
    assert main(["--data", str(data), "--split", str(tmp_path / "s.npz"), "--block-type", "res",
                 "--n-blocks", "1", "--seed", "7", "--epochs", "2", "--batch-size", "50",
                 "--set", "data.use_train_images=240",     # what the cache holds
                 "--threads", "1", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    facts = json.loads((out / "train.json").read_text())
    if swap:
        assert "resumed" not in err and facts["resumed_after_epoch"] == 0
        [line] = [m for m in err.splitlines() if "set aside" in m]
        assert "written for other data" in line and " now); starting from epoch 0" in line, line
        assert line.count(" in the checkpoint, ") == 1, line   # the data, and nothing else
    else:
        assert "resumed from" in err and facts["resumed_after_epoch"] == 1, err


def test_content_checksum_sees_content_not_buffers():
    x, y = dataset(1)
    assert content_sha256(x, y) == content_sha256(x.copy(), y.astype(np.int32))
    assert content_sha256(x, y) == content_sha256(torch.as_tensor(x), torch.as_tensor(y))
    x2 = x.copy()
    x2[0, 0, 0, 0] ^= 1
    assert content_sha256(x2, y) != content_sha256(x, y)
    y2 = y.copy()
    y2[0] = (y2[0] + 1) % 10
    assert content_sha256(x, y2) != content_sha256(x, y)
    # the shape is part of the content: the same bytes in another layout differ
    assert content_sha256(x.reshape(240, 3, 1024), y) != content_sha256(x, y)


# --------------------------------------------------------------------------- the project's version

def test_project_version_with_and_without_git(tmp_path, monkeypatch):
    import cifar_nets
    v = cifar_nets.project_version(ROOT)
    assert v["cifar_nets_version"] == cifar_nets.__version__
    if (ROOT / ".git").exists() and subprocess.run(["git", "--version"],
                                                   capture_output=True).returncode == 0:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                              text=True).stdout.strip()
        assert v["git_commit"] == head and isinstance(v["git_dirty"], bool)
    # not a repository: no commit, no crash
    assert cifar_nets.project_version(tmp_path) == {"cifar_nets_version": cifar_nets.__version__,
                                                    "git_commit": None, "git_dirty": None}
    # no git at all
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    assert cifar_nets.project_version(ROOT)["git_commit"] is None


def test_a_repository_that_only_contains_the_package_is_not_its_commit(tmp_path):
    """A package installed inside some other repository (a venv in a checkout) has no commit."""
    import cifar_nets
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "pkg").mkdir()
    assert cifar_nets.project_version(tmp_path / "pkg")["git_commit"] is None


# --------------------------------------------------------------------------- evaluation

def test_evaluation_refuses_weights_trained_on_other_data(tmp_path):
    from cifar_nets.data.arrays import DataError
    from cifar_nets.engine.run import check_trained_on
    x, y = dataset(1)
    xb, yb = dataset(2)
    check_trained_on({"data_sha256": content_sha256(x, y)}, x, y, "d.npz", "run/train.json")
    check_trained_on({}, x, y, "d.npz", "run/train.json")     # written before checksums: no check
    with pytest.raises(DataError, match=r"run/train.json: .*trained on other data.*d\.npz"):
        check_trained_on({"data_sha256": content_sha256(x, y)}, xb, yb, "d.npz", "run/train.json")


# --------------------------------------------------------------------------- the workflow

@pytest.mark.workflow
def test_switching_the_archive_after_a_kill_trains_from_epoch_0(tmp_path):
    """Kill a training job after its first checkpoint, switch data.source/md5 to another archive
    with the same image counts, rerun: the train job sets the checkpoint aside and starts over."""
    cfg_path = tiny_config(tmp_path, epochs=2, block_types=["res"], n_blocks=[1], seeds=[0],
                           recipes=["notebook"],
                           engine={"device": "cpu", "channels_last": False, "bf16": False,
                                   "compile": False})
    run = "notebook/res/n1/seed0"
    target = f"results/runs/{run}/train.json"
    args = ("--configfile", str(cfg_path), "--cores", "1", target)
    snakemake(tmp_path, *args, fault="kill_after_epoch:1", ok=False)
    ckpt = tmp_path / "results/checkpoints" / f"{run}.pt"
    assert torch.load(ckpt, weights_only=True)["epoch"] == 1

    cfg = yaml.safe_load(cfg_path.read_text())
    other = tmp_path / "other.tar.gz"
    cfg["data"]["md5"] = cf.write_cifar_archive(other, per_class_train=12, per_class_test=3, seed=5)
    cfg["data"]["source"] = str(other)
    cfg_path.write_text(yaml.safe_dump(cfg))
    snakemake(tmp_path, *args, ok=True)

    second = (tmp_path / "logs/train" / f"{run}.log").read_text()   # the rerun's job's log
    assert "resumed" not in second, second
    assert re.search(r"checkpoint \S+ set aside, .*written for other data \(sha256 \w{12}\.\. in "
                     r"the checkpoint, \w{12}\.\. now\); starting from epoch 0", second), second
    facts = json.loads((tmp_path / target).read_text())
    cached = load_cache(tmp_path / "results/data/cifar10.npz")
    assert facts["data_sha256"] == content_sha256(cached.x_train, cached.y_train)
    assert facts["resumed_after_epoch"] == 0 and not ckpt.exists()
    history = (tmp_path / f"results/runs/{run}/history.csv").read_text().splitlines()
    assert len(history) == 3   # header + epochs 1 and 2, both trained on the new archive
