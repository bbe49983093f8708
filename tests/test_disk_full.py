"""A full disk (ENOSPC) or quota (EDQUOT) while writing a checkpoint, weights or JSON is one line
naming the file and the space it needed, and nothing already written is lost (issue 25, item 10).

The disk is filled by a fake writer (cifar_nets.io.write_file raising OSError), not for real.
"""
from __future__ import annotations

import errno
import json
import os

import numpy as np
import pytest
import torch

import cifar_factory as cf
from cifar_nets import io as fileio
from cifar_nets.engine.checkpoints import save_checkpoint
from cifar_nets.io import DiskFullError, write_json
from cifar_nets.engine.train import train_run
from workflow_helpers import engine, spec
from workflow_helpers import recipe as Recipe


def fill_disk(monkeypatch, code=errno.ENOSPC, after: int = 0):
    """Every write_file call after the first `after` writes half its data, then fails."""
    real, calls = fileio.write_file, []

    def full(path, data):
        calls.append(path)
        if len(calls) <= after:
            return real(path, data)
        with open(path, "wb") as f:
            f.write(data[: len(data) // 2])
        raise OSError(code, os.strerror(code), str(path))

    monkeypatch.setattr(fileio, "write_file", full)
    return calls


def test_a_full_disk_during_a_checkpoint_write_keeps_the_last_good_one(tmp_path, monkeypatch):
    path = tmp_path / "ckpt" / "seed0.pt"
    save_checkpoint({"epoch": 1, "weights": torch.zeros(1000)}, path)
    fill_disk(monkeypatch)
    with pytest.raises(DiskFullError) as err:
        save_checkpoint({"epoch": 2, "weights": torch.ones(1000)}, path)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{path}: no space left on device"), message
    assert "needing " in message and " free there" in message and "unchanged" in message, message
    assert err.value.errno == errno.ENOSPC
    assert [p.name for p in path.parent.iterdir()] == ["seed0.pt"]        # no temporary left
    state = torch.load(path, weights_only=True)
    assert state["epoch"] == 1 and float(state["weights"].sum()) == 0.0


def test_the_size_named_is_the_size_of_what_was_written(tmp_path, monkeypatch):
    fill_disk(monkeypatch)
    with pytest.raises(DiskFullError, match=r"needing 1,001 bytes"):
        fileio.write_text(tmp_path / "a.txt", "x" * 1001)
    with pytest.raises(DiskFullError, match=r"needing 2\.0 MB"):
        fileio.write_bytes(tmp_path / "b.bin", b"x" * 2_000_000)


def test_a_quota_during_a_json_write_keeps_the_old_file(tmp_path, monkeypatch):
    write_json(tmp_path / "train.json", {"epoch": 1})
    fill_disk(monkeypatch, errno.EDQUOT)
    with pytest.raises(DiskFullError, match=r"train\.json: disk quota exceeded writing it"):
        write_json(tmp_path / "train.json", {"epoch": 2})
    assert json.loads((tmp_path / "train.json").read_text()) == {"epoch": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["train.json"]


def test_other_write_errors_are_not_called_a_full_disk(tmp_path, monkeypatch):
    fill_disk(monkeypatch, errno.EIO)
    with pytest.raises(OSError) as err:
        write_json(tmp_path / "x.json", {})
    assert not isinstance(err.value, DiskFullError) and err.value.errno == errno.EIO


def test_training_on_a_full_disk_stops_in_one_line_and_resumes_from_the_last_checkpoint(
        tmp_path, monkeypatch):
    x_hwc, y, _, _ = cf.expected_arrays(per_class_train=12, per_class_test=1, seed=1)
    x, y = np.ascontiguousarray(x_hwc.transpose(0, 3, 1, 2)), np.asarray(y, dtype=np.int64)
    split = (np.arange(100), np.arange(100, 120))
    opts = engine(device="cpu", channels_last=False, bf16=False, compile=False, train_eval_subset=0)
    ckpt = tmp_path / "seed0.pt"

    def go(logs):
        return train_run(x, y, *split, spec("conv", recipe=Recipe(epochs=2, batch_size=50)),
                         opts, checkpoint=ckpt, log=logs.append, progress=False)

    fill_disk(monkeypatch, after=1)               # epoch 1's checkpoint fits, epoch 2's does not
    with pytest.raises(DiskFullError, match=rf"^{ckpt}: no space left on device writing it "
                                            r"\(needing [\d.,]+ (MB|bytes);"):
        go([])
    assert torch.load(ckpt, weights_only=True)["epoch"] == 1
    monkeypatch.undo()                             # space freed: run again
    logs = []
    go(logs)
    assert any("resumed from" in m and "after epoch 1" in m for m in logs), logs
