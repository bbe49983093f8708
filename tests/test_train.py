import math

import numpy as np
import pytest
import torch

from cifar_factory import expected_arrays
from cifar_nets.engine.batches import augment_batch
from cifar_nets.engine.checkpoints import load_checkpoint
from cifar_nets.engine.recipe import EngineOptions
from cifar_nets.engine.train import TrainingDiverged, train_run
from workflow_helpers import engine, spec
from workflow_helpers import recipe as Recipe

FP32 = engine(device="cpu", channels_last=False, bf16=False, compile=False, train_eval_subset=0)


@pytest.fixture(scope="module")
def tiny():
    x_hwc, y, _, _ = expected_arrays(per_class_train=24, per_class_test=2, seed=3)
    x = np.ascontiguousarray(x_hwc.transpose(0, 3, 1, 2))
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(y))
    return x, np.asarray(y), perm[:200], perm[200:]


def run(tiny, epochs=3, **kw):
    x, y, tr, va = tiny
    kw.setdefault("options", FP32)
    run = spec(kw.pop("block_type", "res"), n_blocks=2, seed=7,
               recipe=kw.pop("recipe", Recipe(epochs=epochs, batch_size=32, lr=3e-3)))
    return train_run(x, y, tr, va, run, kw.pop("options"), log=lambda m: None, progress=False,
                     **kw)


def test_loss_falls_and_accuracy_beats_chance(tiny):
    result = run(tiny, epochs=4)
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < losses[0] * 0.8
    assert result.summary["best_val_acc"] > 30.0  # chance is 10%
    assert result.summary["parameters"] > 0
    assert [h["epoch"] for h in result.history] == [1, 2, 3, 4]


def test_same_seed_gives_identical_results_in_fp32(tiny):
    a, b = run(tiny), run(tiny)
    assert [h["train_loss"] for h in a.history] == [h["train_loss"] for h in b.history]
    for k in a.weights:
        assert torch.equal(a.weights[k], b.weights[k])


def test_resume_after_kill_equals_uninterrupted(tiny, tmp_path):
    full = run(tiny, epochs=4)
    ckpt = tmp_path / "ckpt.pt"
    part = run(tiny, epochs=4, checkpoint=ckpt, max_epochs=2)  # "killed" after epoch 2
    assert part.summary["stopped_after_epoch"] == 2 and ckpt.exists()
    state = torch.load(ckpt, weights_only=True)  # checkpoints load with weights_only=True
    assert state["epoch"] == 2
    logs = []
    resumed = train_run(*tiny, spec("res", n_blocks=2, seed=7,
                                    recipe=Recipe(epochs=4, batch_size=32, lr=3e-3)),
                        FP32, checkpoint=ckpt, log=logs.append, progress=False)
    assert any("resumed" in m and "epoch 2" in m for m in logs)
    assert [h["train_loss"] for h in resumed.history] == [h["train_loss"] for h in full.history]
    assert [h["val_acc"] for h in resumed.history] == [h["val_acc"] for h in full.history]
    for k in full.weights:
        assert torch.equal(full.weights[k], resumed.weights[k]), k


def test_resume_with_augmentation_and_schedule_is_exact(tiny, tmp_path):
    recipe = Recipe("modern", epochs=3, batch_size=32, lr=2e-3, optimizer="adamw",
                    weight_decay=0.05, schedule="cosine", warmup_epochs=1, label_smoothing=0.1,
                    augment=True)
    full = run(tiny, recipe=recipe)
    ckpt = tmp_path / "c.pt"
    run(tiny, recipe=recipe, checkpoint=ckpt, max_epochs=1)
    resumed = run(tiny, recipe=recipe, checkpoint=ckpt)
    assert [h["train_loss"] for h in resumed.history] == [h["train_loss"] for h in full.history]


def test_truncated_checkpoint_is_never_loaded(tiny, tmp_path):
    ckpt = tmp_path / "c.pt"
    run(tiny, epochs=3, checkpoint=ckpt, max_epochs=1)
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[: len(data) // 2])  # cut off mid-write
    logs = []
    assert load_checkpoint(ckpt, "anything", logs.append) is None
    assert "unreadable" in logs[0] and not ckpt.exists()
    assert (tmp_path / "c.pt.corrupt").exists()


def test_checkpoint_of_other_settings_is_not_resumed(tiny, tmp_path):
    ckpt = tmp_path / "c.pt"
    run(tiny, epochs=3, checkpoint=ckpt, max_epochs=1)
    other = run(tiny, recipe=Recipe(epochs=3, batch_size=32, lr=1e-3), checkpoint=ckpt)
    assert len(other.history) == 3  # trained all epochs itself


def test_diverging_loss_stops_with_epoch_in_message(tiny):
    with pytest.raises(TrainingDiverged, match=r"epoch 1"):
        run(tiny, recipe=Recipe(epochs=2, batch_size=32, lr=1e12))


def test_batch_larger_than_training_set(tiny):
    with pytest.raises(ValueError, match="batch_size 500"):
        run(tiny, recipe=Recipe(epochs=1, batch_size=500))


def test_best_or_last_weights_are_evaluated(tiny):
    best = run(tiny, epochs=3)
    last = run(tiny, epochs=3, options=EngineOptions(**{**FP32.__dict__, "evaluate_weights": "last"}))
    assert "best validation" in best.summary["evaluated_weights"]
    assert "last epoch" in last.summary["evaluated_weights"]
    assert best.summary["best_val_acc"] == max(h["val_acc"] for h in best.history)


def test_channels_last_gives_the_same_model_up_to_rounding(tiny):
    a = run(tiny, epochs=1)
    b = run(tiny, epochs=1, options=EngineOptions(**{**FP32.__dict__, "channels_last": True}))
    assert math.isclose(a.history[0]["train_loss"], b.history[0]["train_loss"], rel_tol=1e-3)


def test_augment_batch_crops_and_flips_per_image():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).view(2, 3, 8, 8)
    gen = torch.Generator().manual_seed(0)
    out = augment_batch(x, gen, padding=0)
    for i in range(2):
        assert torch.equal(out[i], x[i]) or torch.equal(out[i], x[i].flip(2))
    out = augment_batch(x, torch.Generator().manual_seed(1), padding=2)
    assert out.shape == x.shape
    # a shifted crop: every row of the output is a (possibly flipped, zero-padded) slice of input
    assert (out == 0).any() or torch.equal(out.abs().sum(), x.abs().sum())


def test_terminal_cli_trains_and_writes_outputs(tiny, tmp_path):
    from cifar_nets.__main__ import main
    from cifar_nets.data.arrays import CifarArrays, write_cache, write_split

    x, y, tr, va = tiny
    write_cache(CifarArrays(x, y.astype(np.int64), x[:10], y[:10].astype(np.int64),
                            tuple(f"c{i}" for i in range(10))), tmp_path / "d.npz")
    write_split(tmp_path / "s.npz", tr, va, 0, 0.9)
    out = tmp_path / "run"
    assert main(["--data", str(tmp_path / "d.npz"), "--split", str(tmp_path / "s.npz"),
                 "--block-type", "skip", "--n-blocks", "1", "--epochs", "1", "--batch-size", "32",
                 "--set", f"data.use_train_images={len(y)}",   # what the cache holds
                 "--threads", "1", "--out", str(out)]) == 0
    assert (out / "model.pt").exists() and (out / "history.csv").exists()
    assert not (out / "checkpoint.pt").exists()


@pytest.mark.parametrize("has_bf16", [True, False])
def test_bf16_auto_follows_the_cpu(monkeypatch, has_bf16):
    from cifar_nets.machine import hardware
    monkeypatch.setattr(hardware, "cpu_has_bf16", lambda: has_bf16)
    auto = hardware.resolve_options(engine(device="cpu"), torch.device("cpu"))
    assert auto["bf16"] is has_bf16
    assert auto["channels_last"] is True and auto["compile"] is False
    forced = hardware.resolve_options(engine(device="cpu", bf16=False), torch.device("cpu"))
    assert forced["bf16"] is False
