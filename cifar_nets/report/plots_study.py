"""The study-wide figures: test accuracy by model, and against depth and parameter count.

``plot_*`` draw from the runs table; ``draw_<figure>`` are the registry's drawing functions
(:mod:`cifar_nets.report.figures`): ``draw_<figure>(runs, path, options)``.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter
import numpy as np
import pandas as pd

from cifar_nets.report.plots import (LINESTYLES, MARKERS, PALETTE, accuracy_summary, empty_figure,
                              human_count, leading_digit, ordered, save_figure, short_name,
                              style_maps)
from cifar_nets.study.summary import by_model_view


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
        return empty_figure(path, "no runs")
    cols = [group] + ([hue] if hue else [])
    summ = accuracy_summary(runs, cols, value_col)
    groups = ordered(summ[group])
    hues = ordered(summ[hue]) if hue else [None]
    nh = len(hues)
    width = 0.8 / nh
    colors = style_maps(hues, list(PALETTE))
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
    ax.set_xticklabels([short_name(g) for g in groups])
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
    what = value_col.replace("_acc", " accuracy").replace("_", " ")
    ax.set_ylabel(f"{what} (%)" if value_col.endswith("acc") else value_col)
    n_max = int(summ["n"].max())
    ax.set_title(f"{value_col.replace('_acc', ' accuracy').replace('_', ' ')} by {group}"
                 + (" (mean, 95% t-CI over seeds; dots = seeds)" if n_max >= 2 else " (single seed)"),
                 fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    if hue:
        ax.legend(title=hue, fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def _series_styles(summ: pd.DataFrame, has_recipe: bool):
    """The models in order with their colours and markers, and the recipes with their line
    styles ([None] when one recipe): what the depth and parameter figures share."""
    models = ordered(summ["model"])
    recipes = ordered(summ["recipe"]) if has_recipe else [None]
    return (models, style_maps(models, list(PALETTE)), style_maps(models, list(MARKERS)),
            recipes, style_maps(recipes, list(LINESTYLES)))


def plot_accuracy_vs_depth(runs: pd.DataFrame, path, value_col: str = "test_acc") -> Path:
    """x = n_blocks, y = test accuracy; one line per model (linestyle per recipe when there are
    several), mean over seeds with a 95% t-interval band where a point has >= 2 seeds."""
    if runs is None or len(runs) == 0:
        return empty_figure(path, "no runs")
    has_recipe = "recipe" in runs.columns and runs["recipe"].nunique() > 1
    cols = ["model", "recipe", "n_blocks"] if has_recipe else ["model", "n_blocks"]
    summ = accuracy_summary(runs, cols, value_col)
    models, colors, markers, recipes, styles = _series_styles(summ, has_recipe)
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
            label = short_name(m) + (f" [{r}]" if has_recipe else "")
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
    return save_figure(fig, path)


def plot_accuracy_vs_parameters(runs: pd.DataFrame, path, value_col: str = "test_acc") -> Path:
    """x = parameter count (log scale when it spans more than a factor of 5), y = test accuracy;
    each run is a dot, the mean per configuration a larger marker per model, labelled with its
    n_blocks."""
    if runs is None or len(runs) == 0:
        return empty_figure(path, "no runs")
    has_recipe = "recipe" in runs.columns and runs["recipe"].nunique() > 1
    keys = ["model"] + (["recipe"] if has_recipe else []) + \
        (["n_blocks"] if "n_blocks" in runs.columns else [])
    summ = accuracy_summary(runs, keys, value_col)
    params = runs.groupby(keys, dropna=False)["parameters"].mean().rename("parameters").reset_index()
    summ = summ.merge(params, on=keys, how="left")
    models, colors, markers, recipes, styles = _series_styles(summ, has_recipe)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for m in models:
        rr = runs[runs["model"] == m]
        ax.scatter(rr["parameters"], rr[value_col], color=colors[m], s=10, alpha=0.45, lw=0)
        for r in recipes:
            s = summ[(summ["model"] == m) & ((summ["recipe"] == r) if has_recipe else True)]
            s = s.sort_values("parameters")
            if s.empty:
                continue
            label = short_name(m) + (f" [{r}]" if has_recipe else "")
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
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: human_count(v)))
    ax.xaxis.set_minor_formatter(FuncFormatter(
        lambda v, _: human_count(v) if ax.get_xscale() == "log" and leading_digit(v) in (2, 5)
        else ""))
    ax.set_xlabel("trainable parameters" + (" (log scale)" if ax.get_xscale() == "log" else ""))
    ax.set_ylabel("test accuracy (%)" if value_col == "test_acc" else value_col)
    ax.set_title("Accuracy vs model size (numbers = n_blocks)", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


# --------------------------------------------------------------------------------------------
# the registry's drawing functions (cifar_nets/report/figures.py)
# --------------------------------------------------------------------------------------------
def draw_test_accuracy_by_model(runs, path, options) -> Path:
    shown, hue = by_model_view(runs)
    return plot_accuracy_by_model(shown, path, group="model", hue=hue)


def draw_accuracy_vs_depth(runs, path, options) -> Path:
    return plot_accuracy_vs_depth(runs, path)


def draw_accuracy_vs_parameters(runs, path, options) -> Path:
    return plot_accuracy_vs_parameters(runs, path)


def draw_tuning_validation(grid, path, options) -> Path:
    """The tuning grid (results/tuning/grid.csv): x = grid points in grid order, y = mean
    validation accuracy over the tuning seeds with +-sd bars; one line per model (linestyle per
    depth when several), the chosen point ringed."""
    if grid is None or len(grid) == 0:
        return empty_figure(path, "no tuning runs")
    points = list(dict.fromkeys(grid["point"]))
    models = ordered(grid["model"])
    depths = sorted(grid["n_blocks"].unique())
    colors, markers = style_maps(models, list(PALETTE)), style_maps(models, list(MARKERS))
    styles = style_maps(depths, list(LINESTYLES))
    fig, ax = plt.subplots(figsize=(max(5.5, 1.2 * len(points) + 2.5), 4.5))
    for i, m in enumerate(models):
        for n in depths:
            s = grid[(grid["model"] == m) & (grid["n_blocks"] == n)]
            if s.empty:
                continue
            x = np.array([points.index(p) for p in s["point"]], dtype=float)
            x += (i - (len(models) - 1) / 2) * 0.06   # bars of models side by side
            label = short_name(m) + (f" [{n} blocks]" if len(depths) > 1 else "")
            ax.errorbar(x, s["mean_val_acc"], yerr=s["sd_val_acc"].fillna(0), color=colors[m],
                        marker=markers[m], ls=styles[n], lw=1.6, capsize=3, label=label)
            best = s["chosen"].astype(bool).to_numpy()
            ax.scatter(x[best], s["mean_val_acc"].to_numpy()[best], s=220, facecolors="none",
                       edgecolors=colors[m], linewidths=2, zorder=5)
    ax.set_xticks(range(len(points)))
    ax.set_xticklabels(points, rotation=20 if len(points) > 4 else 0, fontsize=8)
    ax.set_xlabel("grid point")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title("Tuning on the validation split (mean ± sd over tuning seeds; ringed: chosen)",
                 fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)
