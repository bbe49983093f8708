import numpy as np
import pytest
import torch

from cifar_nets.engine.checkpoints import load_model, save_weights
from cifar_nets.engine.evaluate import confused_pairs, confusion_matrix, evaluate_run, per_class_accuracy
from cifar_nets.engine.models import build_model
from cifar_nets.engine.recipe import RunSpec
from workflow_helpers import recipe

NAMES = ["cat", "dog", "frog"]


def test_confusion_matrix_against_a_hand_made_case():
    y_true = [0, 0, 0, 1, 1, 2, 2, 2, 2]
    y_pred = [0, 1, 1, 0, 1, 2, 2, 0, 1]
    # rows = true class, columns = predicted class, counted by hand
    expected = np.array([[1, 2, 0],
                         [1, 1, 0],
                         [1, 1, 2]])
    np.testing.assert_array_equal(confusion_matrix(y_true, y_pred, 3), expected)


def test_confusion_matrix_rejects_bad_labels():
    with pytest.raises(ValueError, match="0..2"):
        confusion_matrix([0, 3], [0, 1], 3)
    with pytest.raises(ValueError, match="shape"):
        confusion_matrix([0, 1], [0], 3)


def test_per_class_accuracy_and_confused_pairs_by_hand():
    cm = np.array([[1, 2, 0], [1, 1, 0], [1, 1, 2]])
    pc = per_class_accuracy(cm, NAMES)
    assert list(pc.accuracy.round(2)) == [33.33, 50.0, 50.0]
    pairs = confused_pairs(cm, NAMES)
    # cat/dog: 2 + 1 = 3; cat/frog: 0 + 1 = 1; dog/frog: 0 + 1 = 1 (ties ordered by name)
    assert pairs.iloc[0].to_dict() == {"class_a": "cat", "class_b": "dog", "a_as_b": 2, "b_as_a": 1, "count": 3}
    assert list(pairs["count"]) == [3, 1, 1]
    assert list(pairs.class_b[1:]) == ["frog", "frog"]


def test_evaluate_run_matches_a_direct_forward_pass(tmp_path):
    torch.manual_seed(0)
    model = build_model("skip", n_blocks=2).eval()
    path = tmp_path / "model.pt"
    spec = RunSpec(block_type="skip", n_blocks=2, seed=0, n_hidden=32, n_hidden_fc=32,
                   recipe=recipe(dropout=0.5, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25)))
    save_weights(path, model.state_dict(), spec, which="last epoch (1)")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (50, 3, 32, 32), dtype=np.uint8)
    y = rng.integers(0, 10, 50)
    names = [f"c{i}" for i in range(10)]
    ev = evaluate_run(path, x, y, names, device="cpu", batch_size=16, channels_last=False)
    with torch.no_grad():
        direct = model((torch.as_tensor(x).float() / 255 - 0.5) / 0.25).argmax(1).numpy()
    np.testing.assert_array_equal(ev.predictions.prediction.to_numpy(), direct)
    assert ev.metrics["test_acc"] == pytest.approx(100 * (direct == y).mean())
    assert ev.confusion.to_numpy().sum() == 50
    assert ev.metrics["evaluated_weights"] == "last epoch (1)"
    reloaded, blob = load_model(path)
    assert blob["block_type"] == "skip" and blob["n_blocks"] == 2
