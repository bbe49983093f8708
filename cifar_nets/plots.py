"""Figures for the CIFAR-10 ablation study.

Every ``plot_*`` function writes exactly one PNG at ``path`` (parent directories are created,
the file is written atomically through a temporary ``.png`` in the same directory followed by
``os.replace``), closes its figure and returns the path as a :class:`pathlib.Path`.

The numbers behind the summary plots come from :func:`accuracy_summary`, which is public so that
what gets drawn (means, 95% t-intervals, and whether an interval is drawn at all) can be checked
without looking at pixels: an interval / error bar is only drawn for a group with at least two
seeds (``has_ci``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from cifar_nets import BLOCK_TYPES, MODEL_NAMES
from cifar_nets.io import atomic_path
from cifar_nets.stats import mean_ci  # noqa: E402

DPI = 110

# Canonical ordering / styling of the study's models and block types.
MODEL_ORDER = tuple(MODEL_NAMES[b] for b in BLOCK_TYPES)
BLOCK_ORDER = BLOCK_TYPES
_PALETTE = sns.color_palette("tab10")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
_LINESTYLES = ("-", "--", ":", "-.")
_KNOWN_ORDER = {name: i for i, name in enumerate(MODEL_ORDER + BLOCK_ORDER)}


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def _save(fig, path) -> Path:
    """Save ``fig`` atomically as PNG at ``path``, close it and return the path."""
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=DPI, format="png", bbox_inches="tight")
    finally:
        plt.close(fig)
    return path


def _ordered(values) -> list:
    """Unique values; known model / block names in canonical order, the rest sorted."""
    uniq = list(pd.unique(pd.Series(list(values))))

    def key(v):
        numeric = isinstance(v, (int, float, np.number)) and not isinstance(v, bool)
        return (_KNOWN_ORDER.get(v, len(_KNOWN_ORDER)), 0 if numeric else 1,
                float(v) if numeric else 0.0, "" if numeric else str(v))

    return sorted(uniq, key=key)


def _style_maps(values, items) -> dict:
    return {v: items[i % len(items)] for i, v in enumerate(values)}


def _short(name) -> str:
    """Display name of a model: the study's own names (Custom_ConvNet, ...) everywhere."""
    return str(name)


def _human_count(v: float) -> str:
    """12_345 -> "12.3k", 1_200_000 -> "1.2M"."""
    if not np.isfinite(v) or v <= 0:
        return "0" if v == 0 else ""
    for div, suf in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:.3g}{suf}"
    return f"{v:.3g}"


def _leading_digit(v: float) -> int:
    if not np.isfinite(v) or v <= 0:
        return 0
    return int(round(v / 10 ** np.floor(np.log10(v) + 1e-9)))


def accuracy_summary(runs: pd.DataFrame, group_cols: Sequence[str] | str,
                     value_col: str = "test_acc") -> pd.DataFrame:
    """Per-group seed statistics of ``value_col``, the numbers the summary plots draw.

    Returns one row per group (canonical order) with the group columns and
    ``n, mean, std, ci_low, ci_high, half_width`` (95% t-interval from
    :func:`cifar_nets.stats.mean_ci`) plus ``has_ci`` (True iff ``n >= 2``; only then an error
    bar / band is drawn) and ``yerr`` (half width, NaN when ``has_ci`` is False).
    """
    if isinstance(group_cols, str):
        group_cols = [group_cols]
    group_cols = list(group_cols)
    missing = [c for c in group_cols + [value_col] if c not in runs.columns]
    if missing:
        raise KeyError(f"runs table lacks column(s) {missing}")
    rows = []
    for keys, sub in runs.groupby(group_cols, sort=False, dropna=False):
        keys = keys if isinstance(keys, tuple) else (keys,)
        vals = pd.to_numeric(sub[value_col], errors="coerce").dropna().to_numpy(dtype=float)
        if len(vals) == 0:
            continue
        s = dict(mean_ci(vals))
        row = dict(zip(group_cols, keys))
        row.update({k: s.get(k, np.nan) for k in ("n", "mean", "std", "ci_low", "ci_high", "half_width")})
        row["n"] = int(len(vals))
        row["has_ci"] = row["n"] >= 2 and np.isfinite(row["half_width"])
        row["yerr"] = float(row["half_width"]) if row["has_ci"] else np.nan
        rows.append(row)
    cols = group_cols + ["n", "mean", "std", "ci_low", "ci_high", "half_width", "has_ci", "yerr"]
    out = pd.DataFrame(rows, columns=cols)
    if len(out):
        # canonical order: by each group column in turn
        order_keys = []
        for c in group_cols:
            order = {v: i for i, v in enumerate(_ordered(out[c]))}
            order_keys.append(out[c].map(order))
        out = out.assign(**{f"_k{i}": k for i, k in enumerate(order_keys)})
        out = out.sort_values([f"_k{i}" for i in range(len(order_keys))], kind="stable")
        out = out.drop(columns=[f"_k{i}" for i in range(len(order_keys))]).reset_index(drop=True)
    out["has_ci"] = out["has_ci"].astype(bool)
    return out


def _empty_figure(path, message, title=None) -> Path:
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=12)
    if title:
        ax.set_title(title)
    return _save(fig, path)


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------
def plot_sample_images(images, labels, class_names, path, n_per_class: int = 4) -> Path:
    """Grid of example images: one column per class (class name as the column title),
    ``n_per_class`` rows. ``images`` is uint8 (N, 3, 32, 32) (channels-last is accepted too)."""
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
    fig.suptitle("CIFAR-10 sample images", fontsize=12)
    fig.tight_layout()
    return _save(fig, path)


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
        return _empty_figure(path, "no training histories", title)
    n = len(labels)
    ncols = min(n, 3)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.0 * ncols, 3.8 * nrows),
                             sharey=True, squeeze=False)
    colors = {"train_acc": _PALETTE[0], "val_acc": _PALETTE[1]}
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
        ax.set_title(_short(label) if label in MODEL_ORDER else str(label))
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
    return _save(fig, path)


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------
def plot_confusion_matrix(cm: pd.DataFrame, path, title: str) -> Path:
    """Heatmap of a confusion matrix (rows = true class, columns = predicted) with counts."""
    cm = pd.DataFrame(cm)
    values = cm.to_numpy()
    is_int = np.issubdtype(values.dtype, np.integer) or (
        np.all(np.isfinite(values)) and np.allclose(values, np.round(values)))
    data = cm.astype(int) if is_int else cm
    k = max(len(cm.index), len(cm.columns))
    size = max(5.0, 0.75 * k + 1.5)
    fig, ax = plt.subplots(figsize=(size + 1.0, size))
    sns.heatmap(data, annot=True, fmt="d" if is_int else ".2f", cmap="Blues", square=True,
                cbar_kws={"label": "count", "shrink": 0.8}, annot_kws={"fontsize": 8},
                linewidths=0.5, linecolor="white", ax=ax)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    plt.setp(ax.get_xticklabels(), rotation=45, ha="right")
    plt.setp(ax.get_yticklabels(), rotation=0)
    fig.tight_layout()
    return _save(fig, path)


def plot_confused_pairs(pairs: pd.DataFrame, path, title: str, top: int = 10) -> Path:
    """Horizontal bars for the ``top`` most confused class pairs, labelled "a / b"; each bar is
    split into the two directions (a predicted as b, b predicted as a)."""
    if pairs is None or len(pairs) == 0:
        return _empty_figure(path, "no confused pairs", title)
    df = pairs.sort_values("count", ascending=False, kind="stable").head(int(top))
    df = df.iloc[::-1]  # largest on top
    labels = [f"{a} / {b}" for a, b in zip(df["class_a"], df["class_b"])]
    y = np.arange(len(df))
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(df) + 1.4))
    if {"a_as_b", "b_as_a"} <= set(df.columns):
        ab = df["a_as_b"].to_numpy(dtype=float)
        ba = df["b_as_a"].to_numpy(dtype=float)
        ax.barh(y, ab, color=_PALETTE[0], label="first predicted as second")
        ax.barh(y, ba, left=ab, color=_PALETTE[1], label="second predicted as first")
        ax.legend(fontsize=8, loc="lower right")
    else:
        ax.barh(y, df["count"].to_numpy(dtype=float), color=_PALETTE[0])
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
    return _save(fig, path)


# --------------------------------------------------------------------------------------------
# study summaries
# --------------------------------------------------------------------------------------------
def _seed_dots(ax, x, vals, width):
    vals = np.asarray(vals, dtype=float)
    if len(vals) == 0:
        return
    off = np.linspace(-width, width, len(vals)) if len(vals) > 1 else np.zeros(1)
    ax.scatter(x + off, vals, s=16, color="black", alpha=0.75, zorder=4, lw=0)


def plot_accuracy_by_model(runs: pd.DataFrame, path, group: str = "model",
                           hue: str | None = None, value_col: str = "test_acc") -> Path:
    """Bar per group (optionally dodged by ``hue``, e.g. "recipe") with the mean test accuracy,
    95% t-interval error bars only for groups with at least two seeds (see
    :func:`accuracy_summary`), individual seeds as dots, mean (± half width) value labels."""
    if runs is None or len(runs) == 0:
        return _empty_figure(path, "no runs")
    cols = [group] + ([hue] if hue else [])
    summ = accuracy_summary(runs, cols, value_col)
    groups = _ordered(summ[group])
    hues = _ordered(summ[hue]) if hue else [None]
    nh = len(hues)
    width = 0.8 / nh
    colors = _style_maps(hues, list(_PALETTE))
    fig, ax = plt.subplots(figsize=(max(5.0, 1.0 + 1.3 * len(groups) * max(1, nh * 0.7)), 4.5))
    labelled = set()
    for hi, h in enumerate(hues):
        for gi, g in enumerate(groups):
            sel = summ[group] == g
            rsel = runs[group] == g
            if hue:
                sel &= summ[hue] == h
                rsel &= runs[hue] == h
            if not sel.any():
                continue
            row = summ[sel].iloc[0]
            x = gi + (hi - (nh - 1) / 2) * width
            label = None
            if hue and h not in labelled:
                label = str(h)
                labelled.add(h)
            ax.bar(x, row["mean"], width=width * 0.9, color=colors[h], alpha=0.85, label=label)
            if row["has_ci"]:
                ax.errorbar([x], [row["mean"]], yerr=[[row["yerr"]], [row["yerr"]]], fmt="none",
                            ecolor="black", elinewidth=1.4, capsize=5, zorder=5)
            _seed_dots(ax, x, runs.loc[rsel, value_col].dropna(), width * 0.25)
            top = row["ci_high"] if row["has_ci"] else runs.loc[rsel, value_col].max()
            txt = f"{row['mean']:.2f}" + (f"\n±{row['yerr']:.2f}" if row["has_ci"] else "")
            ax.annotate(txt, (x, top), xytext=(0, 4), textcoords="offset points",
                        ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([_short(g) for g in groups])
    vals = pd.to_numeric(runs[value_col], errors="coerce")
    lo = float(np.nanmin([vals.min(), summ["ci_low"].min(skipna=True)]))
    hi_v = float(np.nanmax([vals.max(), summ["ci_high"].max(skipna=True)]))
    span = max(hi_v - lo, 1.0)
    bottom = max(0.0, lo - 0.6 * span)
    ax.set_ylim(bottom, hi_v + 0.3 * span)
    if bottom > 0:
        ax.text(0.0, -0.13, "note: y axis does not start at 0", transform=ax.transAxes,
                fontsize=7, color="gray", va="top")
    ax.set_xlabel(group)
    ax.set_ylabel(f"{value_col.replace('_acc', ' accuracy').replace('_', ' ')} (%)" if value_col.endswith("acc") else value_col)
    n_max = int(summ["n"].max())
    ax.set_title(f"{value_col.replace('_acc', ' accuracy').replace('_', ' ')} by {group}"
                 + (" (mean, 95% t-CI over seeds; dots = seeds)" if n_max >= 2 else " (single seed)"),
                 fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    if hue:
        ax.legend(title=hue, fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def plot_accuracy_vs_depth(runs: pd.DataFrame, path, value_col: str = "test_acc") -> Path:
    """x = n_blocks, y = test accuracy; one line per model (linestyle per recipe when there are
    several), mean over seeds with a 95% t-interval band where a point has >= 2 seeds."""
    if runs is None or len(runs) == 0:
        return _empty_figure(path, "no runs")
    has_recipe = "recipe" in runs.columns and runs["recipe"].nunique() > 1
    cols = ["model", "recipe", "n_blocks"] if has_recipe else ["model", "n_blocks"]
    summ = accuracy_summary(runs, cols, value_col)
    models = _ordered(summ["model"])
    colors = _style_maps(models, list(_PALETTE))
    markers = _style_maps(models, list(_MARKERS))
    recipes = _ordered(summ["recipe"]) if has_recipe else [None]
    styles = _style_maps(recipes, list(_LINESTYLES))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for m in models:
        for r in recipes:
            sel = summ["model"] == m
            rsel = runs["model"] == m
            if has_recipe:
                sel &= summ["recipe"] == r
                rsel &= runs["recipe"] == r
            s = summ[sel].sort_values("n_blocks")
            if s.empty:
                continue
            label = _short(m) + (f" [{r}]" if has_recipe else "")
            ax.plot(s["n_blocks"], s["mean"], color=colors[m], ls=styles[r], marker=markers[m],
                    lw=1.8, label=label)
            ci = s[s["has_ci"]]
            if len(ci):
                ax.fill_between(ci["n_blocks"], ci["ci_low"], ci["ci_high"], color=colors[m],
                                alpha=0.12 if has_recipe else 0.18, lw=0)
            rr = runs[rsel]
            ax.scatter(rr["n_blocks"], rr[value_col], color=colors[m], s=10, alpha=0.5, lw=0)
    ax.set_xticks(sorted(pd.unique(runs["n_blocks"])))
    ax.set_xlabel("number of blocks (n_blocks)")
    ax.set_ylabel("test accuracy (%)" if value_col == "test_acc" else value_col)
    ci_note = ", band = 95% t-CI over seeds" if summ["has_ci"].any() else ""
    ax.set_title(f"Accuracy vs depth (mean over seeds{ci_note})", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def plot_accuracy_vs_params(runs: pd.DataFrame, path, value_col: str = "test_acc") -> Path:
    """x = parameter count (log scale when it spans more than a factor of 5), y = test accuracy;
    each run is a dot, the mean per configuration a larger marker per model, labelled with its
    n_blocks."""
    if runs is None or len(runs) == 0:
        return _empty_figure(path, "no runs")
    has_recipe = "recipe" in runs.columns and runs["recipe"].nunique() > 1
    keys = ["model"] + (["recipe"] if has_recipe else []) + \
        (["n_blocks"] if "n_blocks" in runs.columns else [])
    summ = accuracy_summary(runs, keys, value_col)
    params = runs.groupby(keys, dropna=False)["parameters"].mean().rename("parameters").reset_index()
    summ = summ.merge(params, on=keys, how="left")
    models = _ordered(summ["model"])
    colors = _style_maps(models, list(_PALETTE))
    markers = _style_maps(models, list(_MARKERS))
    recipes = _ordered(summ["recipe"]) if has_recipe else [None]
    styles = _style_maps(recipes, list(_LINESTYLES))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for m in models:
        rr = runs[runs["model"] == m]
        ax.scatter(rr["parameters"], rr[value_col], color=colors[m], s=10, alpha=0.45, lw=0)
        for r in recipes:
            s = summ[(summ["model"] == m) & ((summ["recipe"] == r) if has_recipe else True)]
            s = s.sort_values("parameters")
            if s.empty:
                continue
            label = _short(m) + (f" [{r}]" if has_recipe else "")
            ax.plot(s["parameters"], s["mean"], color=colors[m], marker=markers[m], ms=7,
                    ls=styles[r], lw=1.0, alpha=0.9, label=label)
            ci = s[s["has_ci"]]
            if len(ci):
                ax.errorbar(ci["parameters"], ci["mean"], yerr=ci["yerr"], fmt="none",
                            ecolor=colors[m], capsize=3, lw=1)
            if "n_blocks" in s.columns and r == recipes[0]:
                for _, row in s.iterrows():
                    ax.annotate(f"{int(row['n_blocks'])}", (row["parameters"], row["mean"]),
                                xytext=(4, -10), textcoords="offset points", fontsize=7,
                                color=colors[m])
    p = pd.to_numeric(runs["parameters"], errors="coerce")
    p = p[p > 0]
    if len(p) and p.max() / p.min() > 5:
        ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _human_count(v)))
    ax.xaxis.set_minor_formatter(FuncFormatter(
        lambda v, _: _human_count(v) if ax.get_xscale() == "log" and _leading_digit(v) in (2, 5)
        else ""))
    ax.set_xlabel("trainable parameters" + (" (log scale)" if ax.get_xscale() == "log" else ""))
    ax.set_ylabel("test accuracy (%)" if value_col == "test_acc" else value_col)
    ax.set_title("Accuracy vs model size (numbers = n_blocks)", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)
