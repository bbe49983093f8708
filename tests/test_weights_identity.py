"""model.pt knows its run (issue 25, item 1).

The weights file carries the run identity (cifar_nets.engine.checkpoints.run_identity, a block of your own's
source sha256 included); evaluation, given the run it evaluates (spec_identity, the data's checksum
and train.json's fingerprint), refuses any other run's weights in one line naming both sides, and
refuses weights written without an identity with a line saying to retrain.
"""
from __future__ import annotations

import itertools
import json
import shutil
import sys

import numpy as np
import pytest

import cifar_factory as cf
from cifar_nets.engine.checkpoints import WeightsError, save_weights, spec_identity
from cifar_nets.engine.custom_blocks import _LOADED, register_custom_blocks
from cifar_nets.data.arrays import CifarArrays, content_sha256, load_cache, write_cache, write_split
from cifar_nets.engine.evaluate import evaluate_run
from cifar_nets.engine.recipe import RunSpec
from cifar_nets.engine.run import OutputPaths, train_and_write
from workflow_helpers import engine
from workflow_helpers import recipe as Recipe

FP32 = engine(device="cpu", channels_last=False, bf16=False, compile=False, train_eval_subset=0)
NAMES = tuple(f"c{i}" for i in range(10))
RECIPE = Recipe(epochs=1, batch_size=50)


def spec(block_type="res", seed=0, recipe=RECIPE):
    return RunSpec(block_type=block_type, n_blocks=1, seed=seed, recipe=recipe, n_hidden=32,
                   n_hidden_fc=32)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A tiny cache (240 training images) and its split."""
    root = tmp_path_factory.mktemp("data")
    x_hwc, y, _, _ = cf.expected_arrays(per_class_train=24, per_class_test=1, seed=1)
    x = np.ascontiguousarray(x_hwc.transpose(0, 3, 1, 2))
    y = np.asarray(y, dtype=np.int64)
    write_cache(CifarArrays(x, y, x[:10], y[:10], NAMES), root / "d.npz")
    perm = np.random.default_rng(0).permutation(240)
    write_split(root / "s.npz", perm[:200], perm[200:], 0, 0.9)
    return root / "d.npz", root / "s.npz"


def train(files, folder, run: RunSpec) -> dict:
    data, split = files
    folder.mkdir(parents=True, exist_ok=True)
    outputs = OutputPaths(weights=folder / "model.pt", history=folder / "history.csv",
                          summary=folder / "train.json", checkpoint=folder / "checkpoint.pt")
    return train_and_write(run, outputs, data=data, split=split, options=FP32,
                           log=lambda m: None, progress=False)


def evaluate(files, folder, run: RunSpec):
    """What the workflow's evaluate job does for `run` in `folder`."""
    arrays = load_cache(files[0])
    trained = json.loads((folder / "train.json").read_text())
    expect = dict(spec_identity(run), data=content_sha256(arrays.x_train, arrays.y_train))
    return evaluate_run(folder / "model.pt", arrays.x_test, arrays.y_test, arrays.class_names,
                        device="cpu", batch_size=16, channels_last=False, expect=expect,
                        run_fingerprint=trained.get("run_fingerprint"))


def refused(files, folder, run) -> str:
    with pytest.raises(WeightsError) as err:
        evaluate(files, folder, run)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{folder / 'model.pt'}: "), message
    return message


def test_a_runs_own_weights_are_evaluated(files, tmp_path):
    train(files, tmp_path / "seed0", spec(seed=0))
    ev = evaluate(files, tmp_path / "seed0", spec(seed=0))
    assert ev.metrics["block_type"] == "res" and ev.metrics["test_images"] == 10


def test_another_seeds_model_pt_copied_over_is_refused(files, tmp_path):
    train(files, tmp_path / "seed0", spec(seed=0))
    train(files, tmp_path / "seed1", spec(seed=1))
    shutil.copy(tmp_path / "seed1" / "model.pt", tmp_path / "seed0" / "model.pt")
    message = refused(files, tmp_path / "seed0", spec(seed=0))
    assert "not this run's: seed (1 in the weights, 0 for this run)" in message, message
    assert "retrain" in message


def test_a_resnets_model_pt_in_the_convnet_folder_is_refused(files, tmp_path):
    train(files, tmp_path / "res", spec("res"))
    train(files, tmp_path / "conv", spec("conv"))
    shutil.copy(tmp_path / "res" / "model.pt", tmp_path / "conv" / "model.pt")
    message = refused(files, tmp_path / "conv", spec("conv"))
    assert "block_type (res in the weights, conv for this run)" in message, message


def test_weights_of_the_same_run_settings_but_another_train_json_are_refused(files, tmp_path):
    """Same spec, other engine numerics: only the fingerprint tells them apart."""
    import torch
    train(files, tmp_path / "a", spec())
    blob = torch.load(tmp_path / "a" / "model.pt", weights_only=True)
    other = dict(blob["identity"], engine=dict(blob["identity"]["engine"], bf16=True))
    save_weights(tmp_path / "a" / "model.pt", blob["model"], spec(), blob["which"], identity=other)
    message = refused(files, tmp_path / "a", spec())
    assert "run fingerprint" in message and "in its train.json" in message, message


def test_weights_without_an_identity_are_refused_with_a_line_saying_retrain(files, tmp_path):
    import torch
    train(files, tmp_path / "old", spec())
    blob = torch.load(tmp_path / "old" / "model.pt", weights_only=True)
    del blob["identity"], blob["fingerprint"]         # as written before weights knew their run
    torch.save(blob, tmp_path / "old" / "model.pt")
    message = refused(files, tmp_path / "old", spec())
    assert "written without a run identity" in message and "retrain" in message, message
    assert "delete" in message


_counter = itertools.count()

BLOCK = """
import torch
from torch import nn


class Scaled(nn.Module):
    def __init__(self, n_hidden):
        super().__init__()
        self.conv = nn.Conv2d(n_hidden, n_hidden, 3, padding=1)

    def forward(self, x):
        return x + SCALE * self.conv(x)


SCALE = {scale}
"""


def test_a_custom_block_edited_between_training_and_evaluation_is_refused(files, tmp_path,
                                                                           monkeypatch):
    name = f"wblocks_{next(_counter)}_{tmp_path.name.replace('-', '_')}"
    source = tmp_path / f"{name}.py"
    source.write_text(BLOCK.format(scale=1.0))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    model = {"n_hidden": 32, "n_hidden_fc": 32, "custom_blocks": {"scaled": f"{name}:Scaled"}}
    register_custom_blocks(model)
    train(files, tmp_path / "run", spec("scaled"))
    evaluate(files, tmp_path / "run", spec("scaled"))          # unchanged: evaluated

    source.write_text(BLOCK.format(scale=0.5))                  # edited after training
    _LOADED.pop(("scaled", f"{name}:Scaled"))                   # the evaluation job's new process
    register_custom_blocks(model)
    message = refused(files, tmp_path / "run", spec("scaled"))
    assert "block source_sha256 (" in message and " in the weights, " in message, message


# --------------------------------------------------------------------------- the workflow

@pytest.mark.workflow
def test_the_workflow_refuses_another_seeds_model_pt(tmp_path):
    """The issue's reproduction: copy seed 1's model.pt over seed 0's and rerun: the evaluate job
    stops with the line naming both seeds, instead of scoring seed 1 again as seed 0."""
    from workflow_helpers import snakemake, tiny_config
    cfg = tiny_config(tmp_path, epochs=2, block_types=["res"], n_blocks=[1], seeds=[0, 1],
                      recipes=["notebook"])
    runs = tmp_path / "results/runs/notebook/res/n1"
    targets = [f"results/runs/notebook/res/n1/seed{s}/metrics.json" for s in (0, 1)]
    snakemake(tmp_path, "--configfile", str(cfg), "--cores", "2", *targets)
    shutil.copy(runs / "seed1" / "model.pt", runs / "seed0" / "model.pt")
    (runs / "seed0" / "metrics.json").unlink()
    snakemake(tmp_path, "--configfile", str(cfg), "--cores", "1", targets[0], ok=False)
    log = (tmp_path / "logs/evaluate/notebook/res/n1/seed0.log").read_text()
    assert "these weights are not this run's: seed (1 in the weights, 0 for this run)" in log, log
    assert not (runs / "seed0" / "metrics.json").exists()
