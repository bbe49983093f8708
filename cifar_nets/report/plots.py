"""What every figure of the study shares: saving, ordering, styles and the numbers drawn.

The figures themselves are in :mod:`cifar_nets.report.plots_runs` (sample images, a group's curves and
confusion figures) and :mod:`cifar_nets.report.plots_study` (the study-wide summaries); which figures
exist, with their captions, is declared in :mod:`cifar_nets.report.figures`.

Every ``plot_*`` function writes exactly one PNG at ``path`` (parent directories are created,
the file is written atomically through a temporary ``.png`` in the same directory followed by
``os.replace``), closes its figure and returns the path as a :class:`pathlib.Path`.

Text is never parsed as mathtext or TeX (:data:`PLAIN_TEXT`, set when this module is imported,
which every figure module does): a class name or label with ``$`` is drawn as written.

The numbers behind the summary plots come from :func:`accuracy_summary`, which is public so that
what gets drawn (means, 95% t-intervals, and whether an interval is drawn at all) can be checked
without looking at pixels: an interval / error bar is only drawn for a group with at least two
seeds (``has_ci``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from cifar_nets import BLOCK_TYPES, MODEL_NAMES
from cifar_nets.io import atomic_path
from cifar_nets.study.stats import mean_ci  # noqa: E402

# Every string a figure shows is plain text: class names, labels and model names come from users
# and data, and "$...$" in one would be parsed as mathtext (drawn as a formula, or crash the
# figure). No figure of the study uses mathtext or TeX itself.
PLAIN_TEXT = {"text.parse_math": False, "text.usetex": False}
matplotlib.rcParams.update(PLAIN_TEXT)

DPI = 110

# Canonical ordering / styling of the study's models and block types.
MODEL_ORDER = tuple(MODEL_NAMES[b] for b in BLOCK_TYPES)
BLOCK_ORDER = BLOCK_TYPES
PALETTE = sns.color_palette("tab10")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
LINESTYLES = ("-", "--", ":", "-.")
KNOWN_ORDER = {name: i for i, name in enumerate(MODEL_ORDER + BLOCK_ORDER)}


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def save_figure(fig, path) -> Path:
    """Save ``fig`` atomically as PNG at ``path``, close it and return the path."""
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=DPI, format="png", bbox_inches="tight")
    finally:
        plt.close(fig)
    return path


SYNTHETIC_MARK_TEXT = "SYNTHETIC DATA - these numbers mean nothing"
SYNTHETIC_MARK_COLOR = (1.0, 0.0, 0.0)   # pure red, a colour no figure of the study draws with
SYNTHETIC_BANNER_PX = 30


def mark_synthetic(path) -> Path:
    """Put a red "SYNTHETIC DATA" banner above the figure at ``path`` (a PNG, rewritten atomically,
    its pixels otherwise kept 1:1) and the same words in its PNG metadata (``Description``)."""
    path = Path(path)
    img = plt.imread(path)
    height, width = img.shape[:2]
    fig = plt.figure(figsize=(width / DPI, (height + SYNTHETIC_BANNER_PX) / DPI), dpi=DPI)
    fig.figimage(img, xo=0, yo=0, origin="upper")
    text = fig.text(0.5, 1 - SYNTHETIC_BANNER_PX / 2 / (height + SYNTHETIC_BANNER_PX),
                    SYNTHETIC_MARK_TEXT, color=SYNTHETIC_MARK_COLOR, fontweight="bold",
                    fontsize=11, ha="center", va="center")
    wide = text.get_window_extent(fig.canvas.get_renderer()).width
    if wide > 0.95 * width:   # a narrow figure: smaller words, never cut off
        text.set_fontsize(max(4.0, 11 * 0.95 * width / wide))
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=DPI, format="png", metadata={"Description": SYNTHETIC_MARK_TEXT})
    finally:
        plt.close(fig)
    return path


def ordered(values) -> list:
    """Unique values; known model / block names in canonical order, the rest sorted."""
    uniq = list(pd.unique(pd.Series(list(values))))

    def key(v):
        numeric = isinstance(v, (int, float, np.number)) and not isinstance(v, bool)
        return (KNOWN_ORDER.get(v, len(KNOWN_ORDER)), 0 if numeric else 1,
                float(v) if numeric else 0.0, "" if numeric else str(v))

    return sorted(uniq, key=key)


def style_maps(values, items) -> dict:
    return {v: items[i % len(items)] for i, v in enumerate(values)}


def short_name(name) -> str:
    """Display name of a model: the study's own names (Custom_ConvNet, ...) everywhere."""
    return str(name)


def human_count(v: float) -> str:
    """12_345 -> "12.3k", 1_200_000 -> "1.2M"."""
    if not np.isfinite(v) or v <= 0:
        return "0" if v == 0 else ""
    for div, suf in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:.3g}{suf}"
    return f"{v:.3g}"


def leading_digit(v: float) -> int:
    if not np.isfinite(v) or v <= 0:
        return 0
    return int(round(v / 10 ** np.floor(np.log10(v) + 1e-9)))


def accuracy_summary(runs: pd.DataFrame, group_cols: Sequence[str] | str,
                     value_col: str = "test_acc") -> pd.DataFrame:
    """Per-group seed statistics of ``value_col``, the numbers the summary plots draw.

    Returns one row per group (canonical order) with the group columns and
    ``n, mean, std, ci_low, ci_high, half_width`` (95% t-interval from
    :func:`cifar_nets.study.stats.mean_ci`) plus ``has_ci`` (True iff ``n >= 2``; only then an error
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
            order = {v: i for i, v in enumerate(ordered(out[c]))}
            order_keys.append(out[c].map(order))
        out = out.assign(**{f"_k{i}": k for i, k in enumerate(order_keys)})
        out = out.sort_values([f"_k{i}" for i in range(len(order_keys))], kind="stable")
        out = out.drop(columns=[f"_k{i}" for i in range(len(order_keys))]).reset_index(drop=True)
    out["has_ci"] = out["has_ci"].astype(bool)
    return out


def empty_figure(path, message, title=None) -> Path:
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=12)
    if title:
        ax.set_title(title)
    return save_figure(fig, path)
