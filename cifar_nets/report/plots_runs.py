"""The figures of the data and of one (recipe, n_blocks) group: sample images, accuracy curves,
confusion matrices and the most confused class pairs.

``plot_*`` draw from plain arrays and tables; ``draw_<figure>`` are the registry's drawing
functions (:mod:`cifar_nets.report.figures`): ``draw_<figure>(source, path, options)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator
import numpy as np
import pandas as pd
import seaborn as sns

from cifar_nets import MODEL_NAMES
from cifar_nets.report.plots import MODEL_ORDER, PALETTE, empty_figure, save_figure, short_name


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------
# More classes than this: the sample images show one image per class in a square grid, the
# confusion heatmap has no counts in its cells and no class name on its axes (the most
# confused pairs name them)
MANY_CLASSES = 20


def plot_sample_images(images, labels, class_names, path, n_per_class: int = 4,
                       title: str | None = None) -> Path:
    """Grid of example images: one column per class (class name as the column title),
    ``n_per_class`` rows. ``images`` is uint8 (N, 3, 32, 32) (channels-last is accepted too).
    With more than MANY_CLASSES classes: one image per class, in a square grid, each titled.
    `title`: by default the dataset's whose class names these are ("CIFAR-10 sample images")."""
    imgs = np.asarray(images)
    labels = np.asarray(labels).astype(int).ravel()
    if imgs.ndim != 4:
        raise ValueError(f"images must be 4-D (N, C, H, W), got shape {imgs.shape}")
    if imgs.shape[1] in (1, 3) and imgs.shape[-1] not in (1, 3):
        imgs = imgs.transpose(0, 2, 3, 1)
    if len(imgs) != len(labels):
        raise ValueError(f"{len(imgs)} images but {len(labels)} labels")
    if imgs.dtype != np.uint8:
        f = imgs.astype(float)
        if f.max() <= 1.0:
            f = f * 255.0
        imgs = np.clip(f, 0, 255).astype(np.uint8)
    if imgs.shape[-1] == 1:
        imgs = np.repeat(imgs, 3, axis=-1)
    class_names = list(class_names)
    n_cls = len(class_names)
    n_per_class = max(1, int(n_per_class))
    title = title or _sample_title(class_names)
    if n_cls > MANY_CLASSES:
        return _sample_grid(imgs, labels, class_names, path, title)

    fig, axes = plt.subplots(n_per_class, n_cls, figsize=(1.25 * n_cls, 1.3 * n_per_class + 0.3),
                             squeeze=False)
    for c, name in enumerate(class_names):
        idx = np.flatnonzero(labels == c)[:n_per_class]
        for r in range(n_per_class):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            for sp in ax.spines.values():
                sp.set_visible(False)
            if r < len(idx):
                ax.imshow(imgs[idx[r]], interpolation="nearest")
            if r == 0:
                ax.set_title(str(name), fontsize=10)
    fig.suptitle(title, fontsize=12)
    fig.tight_layout()
    return save_figure(fig, path)


def _sample_grid(imgs, labels, class_names, path, title: str) -> Path:
    """One image per class (its first), in label order, in a square grid."""
    n_cls = len(class_names)
    ncols = int(np.ceil(np.sqrt(n_cls)))
    nrows = int(np.ceil(n_cls / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.1 * ncols, 1.2 * nrows + 0.4), squeeze=False)
    for c in range(nrows * ncols):
        ax = axes[c // ncols, c % ncols]
        ax.axis("off")
        if c < n_cls:
            idx = np.flatnonzero(labels == c)
            if len(idx):
                ax.imshow(imgs[idx[0]], interpolation="nearest")
            ax.set_title(str(class_names[c]), fontsize=6)
    fig.suptitle(f"{title}, one per class", fontsize=12)
    fig.tight_layout()
    return save_figure(fig, path)


# --------------------------------------------------------------------------------------------
# training curves
# --------------------------------------------------------------------------------------------
def _as_history_list(h) -> list[pd.DataFrame]:
    if isinstance(h, pd.DataFrame):
        return [h]
    return [x for x in h if x is not None and len(x)]


def _curve_stats(hists: list[pd.DataFrame], col: str) -> pd.DataFrame:
    """mean / min / max / std of ``col`` across histories, per epoch."""
    long = pd.concat([h[["epoch", col]].assign(_run=i) for i, h in enumerate(hists)],
                     ignore_index=True)
    g = long.groupby("epoch")[col]
    return pd.DataFrame({"mean": g.mean(), "min": g.min(), "max": g.max(),
                         "std": g.std(ddof=1), "n": g.count()}).reset_index()


def plot_accuracy_curves(histories: Mapping[str, pd.DataFrame | Sequence[pd.DataFrame]],
                         test_acc: Mapping[str, float | Sequence[float]], path,
                         title: str | None = None) -> Path:
    """One subplot per model label: train and validation accuracy vs epoch, plus a dashed
    horizontal guide at the test accuracy (value in the legend).

    A label may map to a list of histories (seeds): then the mean curve is drawn with a min-max
    band, and the test line is the mean of the given test accuracies.
    """
    labels = [k for k in histories if len(_as_history_list(histories[k]))]
    if not labels:
        return empty_figure(path, "no training histories", title)
    n = len(labels)
    ncols = min(n, 3)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.0 * ncols, 3.8 * nrows),
                             sharey=True, squeeze=False)
    colors = {"train_acc": PALETTE[0], "val_acc": PALETTE[1]}
    names = {"train_acc": "train", "val_acc": "validation"}
    for i, label in enumerate(labels):
        ax = axes[i // ncols, i % ncols]
        hists = _as_history_list(histories[label])
        multi = len(hists) > 1
        for col in ("train_acc", "val_acc"):
            if not all(col in h.columns for h in hists):
                continue
            st = _curve_stats(hists, col)
            name = names[col] + (f" (mean of {len(hists)})" if multi else "")
            ax.plot(st["epoch"], st["mean"], color=colors[col], lw=1.8, label=name,
                    marker="o" if len(st) <= 15 else None, ms=3)
            if multi:
                ax.fill_between(st["epoch"], st["min"], st["max"], color=colors[col],
                                alpha=0.2, lw=0)
        t = test_acc.get(label) if test_acc is not None else None
        if t is not None:
            tv = np.asarray(t, dtype=float).ravel()
            tv = tv[np.isfinite(tv)]
            if len(tv):
                tm = float(tv.mean())
                lab = f"test {tm:.2f}%" + (f" (mean of {len(tv)})" if len(tv) > 1 else "")
                ax.axhline(tm, color="black", ls="--", lw=1.2, label=lab)
        ax.set_title(short_name(label) if label in MODEL_ORDER else str(label))
        if multi:
            ax.fill_between([], [], [], color="gray", alpha=0.25, lw=0,
                            label=f"band: min-max over {len(hists)} seeds")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        if i % ncols == 0:
            ax.set_ylabel("accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    for j in range(n, nrows * ncols):
        axes[j // ncols, j % ncols].axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------
def plot_confusion_matrix(cm: pd.DataFrame, path, title: str) -> Path:
    """Heatmap of a confusion matrix (rows = true class, columns = predicted) with counts.

    With more than MANY_CLASSES classes the cells hold no counts and the axes no class names
    (100 names would overlap): ticks mark every tenth class index, and the most confused pairs
    (:func:`plot_confused_pairs`) name the classes."""
    cm = pd.DataFrame(cm)
    values = cm.to_numpy()
    is_int = np.issubdtype(values.dtype, np.integer) or (
        np.all(np.isfinite(values)) and np.allclose(values, np.round(values)))
    data = cm.astype(int) if is_int else cm
    k = max(len(cm.index), len(cm.columns))
    few = k <= MANY_CLASSES
    size = max(5.0, 0.75 * k + 1.5) if few else 9.0
    fig, ax = plt.subplots(figsize=(size + 1.0, size))
    sns.heatmap(data, annot=few, fmt="d" if is_int else ".2f", cmap="Blues", square=True,
                cbar_kws={"label": "count", "shrink": 0.8}, annot_kws={"fontsize": 8},
                linewidths=0.5 if few else 0, linecolor="white", ax=ax,
                xticklabels=True if few else False, yticklabels=True if few else False)
    if few:
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        plt.setp(ax.get_xticklabels(), rotation=45, ha="right")
        plt.setp(ax.get_yticklabels(), rotation=0)
    else:
        ticks = np.arange(0, k, 10)
        ax.set_xticks(ticks + 0.5, [str(t) for t in ticks], rotation=0)
        ax.set_yticks(ticks + 0.5, [str(t) for t in ticks], rotation=0)
        ax.set_xlabel(f"predicted class (index of {k}; the most confused pairs name them)")
        ax.set_ylabel("true class (index)")
    ax.set_title(title)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_confused_pairs(pairs: pd.DataFrame, path, title: str, top: int = 10) -> Path:
    """Horizontal bars for the ``top`` most confused class pairs, labelled "a / b"; each bar is
    split into the two directions (a predicted as b, b predicted as a)."""
    if pairs is None or len(pairs) == 0:
        return empty_figure(path, "no confused pairs", title)
    df = pairs.sort_values("count", ascending=False, kind="stable").head(int(top))
    df = df.iloc[::-1]  # largest on top
    labels = [f"{a} / {b}" for a, b in zip(df["class_a"], df["class_b"])]
    y = np.arange(len(df))
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(df) + 1.4))
    if {"a_as_b", "b_as_a"} <= set(df.columns):
        ab = df["a_as_b"].to_numpy(dtype=float)
        ba = df["b_as_a"].to_numpy(dtype=float)
        ax.barh(y, ab, color=PALETTE[0], label="first predicted as second")
        ax.barh(y, ba, left=ab, color=PALETTE[1], label="second predicted as first")
        ax.legend(fontsize=8, loc="lower right")
    else:
        ax.barh(y, df["count"].to_numpy(dtype=float), color=PALETTE[0])
    total = df["count"].to_numpy(dtype=float)
    for yi, t in zip(y, total):
        ax.text(t, yi, f" {t:g}", va="center", fontsize=8)
    ax.set_yticks(y)
    ax.set_yticklabels(labels)
    ax.set_xlabel("misclassified test images (both directions)")
    ax.set_xlim(0, max(total.max(), 1) * 1.12)
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path)


# --------------------------------------------------------------------------------------------
# the registry's drawing functions (cifar_nets/report/figures.py)
# --------------------------------------------------------------------------------------------
def draw_sample_images(arrays, path, options) -> Path:
    return plot_sample_images(arrays.x_train, arrays.y_train, arrays.class_names, path,
                              n_per_class=options["sample_images_per_class"])


def _sample_title(class_names) -> str:
    """The dataset whose class names these are ("CIFAR-10 sample images"), else their count."""
    from cifar_nets.data.dataset import datasets  # noqa: PLC0415

    named = [d.label for d in datasets().values() if tuple(class_names) == d.class_names]
    return f"{named[0]} sample images" if named else f"Sample images ({len(class_names)} classes)"


def draw_accuracy_curves(group, path, options) -> Path:
    tests = {k: sum(v) / len(v) for k, v in group.test_acc.items()}
    return plot_accuracy_curves(group.histories, tests, path,
                                title=f"Accuracy per epoch ({group.where})")


def draw_confusion(group, path, options) -> Path:
    bt = group.block_type
    return plot_confusion_matrix(group.confusion[bt], path, f"{MODEL_NAMES[bt]} ({group.where})")


def draw_confused_pairs(group, path, options) -> Path:
    from cifar_nets.engine.evaluate import confused_pairs  # noqa: PLC0415 - it imports torch

    bt = group.block_type
    cm = group.confusion[bt]
    return plot_confused_pairs(confused_pairs(cm.to_numpy(), list(cm.columns)), path,
                               f"{MODEL_NAMES[bt]} ({group.where})",
                               top=options["top_confused_pairs"])
