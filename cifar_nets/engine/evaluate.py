"""Evaluation of a trained run on the test set: accuracy, per-class accuracy, confusion matrix,
the most confused class pairs and per-image predictions.

- :func:`evaluation_options`: the device and options to evaluate with (those training resolved).
- :func:`evaluate_run`: a weights file (cifar_nets.engine.checkpoints.load_model) on the test set.
- :func:`confusion_matrix`, :func:`per_class_accuracy`, :func:`confused_pairs`: the tables.

The batches and predictions are cifar_nets.engine.batches, the device cifar_nets.machine.hardware; nothing here
imports the training loop.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from cifar_nets.engine import hooks
from cifar_nets.engine.batches import DeviceData, predict_logits
from cifar_nets.engine.checkpoints import load_model
from cifar_nets.machine.hardware import resolve_device, resolve_options
from cifar_nets.engine.models import model_name
from cifar_nets.engine.recipe import EngineOptions


def confusion_matrix(y_true, y_pred, n_classes: int) -> np.ndarray:
    """cm[i, j] = number of images of true class i predicted as class j."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has shape {y_true.shape} but y_pred has {y_pred.shape}")
    if len(y_true) and (min(y_true.min(), y_pred.min()) < 0 or max(y_true.max(), y_pred.max()) >= n_classes):
        raise ValueError(f"labels must lie in 0..{n_classes - 1}")
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(
        n_classes, n_classes)


def per_class_accuracy(cm: np.ndarray, class_names) -> pd.DataFrame:
    totals = cm.sum(axis=1)
    correct = np.diag(cm)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(totals > 0, 100.0 * correct / np.maximum(totals, 1), np.nan)
    return pd.DataFrame({"class": list(class_names), "images": totals, "correct": correct,
                         "accuracy": acc})


def confused_pairs(cm: np.ndarray, class_names) -> pd.DataFrame:
    """Unordered class pairs by how often either is taken for the other, most confused first."""
    rows = []
    n = cm.shape[0]
    for a in range(n):
        for b in range(a + 1, n):
            rows.append({"class_a": class_names[a], "class_b": class_names[b],
                         "a_as_b": int(cm[a, b]), "b_as_a": int(cm[b, a]),
                         "count": int(cm[a, b] + cm[b, a])})
    df = pd.DataFrame(rows, columns=["class_a", "class_b", "a_as_b", "b_as_a", "count"])
    return df.sort_values(["count", "class_a", "class_b"], ascending=[False, True, True],
                          kind="stable").reset_index(drop=True)


@dataclass
class Evaluation:
    metrics: dict
    per_class: pd.DataFrame
    confusion: pd.DataFrame
    pairs: pd.DataFrame
    predictions: pd.DataFrame


def evaluation_options(engine: dict, trained: dict) -> tuple[str, dict, str]:
    """Device and options for evaluating a run: those its training resolved (train.json).

    Only where evaluation runs on another kind of device than training did (e.g. trained on a
    GPU, evaluated on a CPU-only node) are bf16 and channels-last resolved again, from the
    config's `engine` settings, for this device; the returned note says so (empty otherwise).
    """
    dev = resolve_device(engine["device"])
    trained_type = str(trained.get("device", dev.type)).split(":")[0]
    opts = {"bf16": bool(trained["bf16"]), "channels_last": bool(trained["channels_last"])}
    note = ""
    if trained_type != dev.type:
        resolved = resolve_options(EngineOptions.from_dict(dict(engine, device=dev.type)), dev)
        new = {"bf16": resolved["bf16"], "channels_last": resolved["channels_last"]}
        note = (f"trained on {trained_type} with {opts}, evaluating on {dev.type}: "
                f"options resolved again for {dev.type}: {new}")
        opts = new
    return str(dev), opts, note


def evaluate_run(weights_path, x_test, y_test, class_names, *, device: str = "auto",
                 batch_size: int = 256, bf16: bool = False, channels_last: bool = True,
                 expect: dict | None = None, run_fingerprint: str | None = None) -> Evaluation:
    """The weights at `weights_path` on the test set. `expect` (the run's
    cifar_nets.engine.checkpoints.spec_identity, perhaps with its training data's checksum as `data`)
    and `run_fingerprint` (its train.json's) make weights of any other run, or without a run
    identity, a WeightsError before anything is evaluated."""
    dev = resolve_device(device)
    model, blob = load_model(weights_path, dev, expect=expect, run_fingerprint=run_fingerprint)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    data = DeviceData(x_test, y_test, dev, blob["mean"], blob["std"], channels_last)
    logits = predict_logits(model, data, None, batch_size, bf16)
    hooks.emit("test_predicted", where=weights_path)
    probs = torch.softmax(logits, dim=1)
    conf, pred = probs.max(dim=1)
    y = np.asarray(y_test, dtype=np.int64)
    pred = pred.numpy()
    n_classes = len(class_names)
    cm = confusion_matrix(y, pred, n_classes)
    per_class = per_class_accuracy(cm, class_names)
    pairs = confused_pairs(cm, class_names)
    test_acc = 100.0 * float((pred == y).mean())
    top = pairs.iloc[0] if len(pairs) else None
    metrics = {
        "model": model_name(blob["block_type"]), "block_type": blob["block_type"],
        "n_blocks": blob["n_blocks"], "test_images": int(len(y)), "test_acc": test_acc,
        "per_class_acc": dict(zip(per_class["class"], per_class["accuracy"].round(4))),
        "most_confused_pair": (f"{top['class_a']} / {top['class_b']}" if top is not None else None),
        "most_confused_count": int(top["count"]) if top is not None else 0,
        "evaluated_weights": blob["which"],
    }
    predictions = pd.DataFrame({
        "index": np.arange(len(y)), "label": y, "prediction": pred,
        "label_name": [class_names[i] for i in y], "prediction_name": [class_names[i] for i in pred],
        "confidence": conf.numpy().round(5), "correct": pred == y,
    })
    confusion = pd.DataFrame(cm, index=pd.Index(list(class_names), name="true"),
                             columns=list(class_names))
    return Evaluation(metrics, per_class, confusion, pairs, predictions)
