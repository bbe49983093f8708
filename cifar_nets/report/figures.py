"""Every figure of the study, declared once: the one list the rules, the scripts and the report read.

A :class:`Figure` names its file (the one name of the figure everywhere), what it is drawn from
(its scope), the module holding its drawing function ``draw_<name>``, the report's caption and
the report section it appears in. Adding a figure is one entry in :data:`FIGURES` plus its
``draw_<name>(source, path, options)`` function (two files); the workflow's rules, scripts and
the HTML report pick it up from here. Snakemake's own report shows the same captions.

Scopes and what a drawing function gets as ``source``:

- ``data``: the prepared archive (``results/data/cifar10.npz``, a ``data.CifarArrays``); rule
  ``figure_samples``; file ``results/figures/<name>.png``.
- ``study``: the runs table (``results/summary/runs.csv``, a DataFrame); rule
  ``figures_overview``; file ``results/figures/<name>.png``.
- ``group``: one (recipe, n_blocks) group's runs (each run's ``history.csv``, ``metrics.json``
  and ``confusion.csv``, a :class:`GroupRuns`); rule ``figures_group``; file
  ``results/figures/<recipe>/n<n_blocks>/<name>.png``.
- ``block``: the same, one figure per block type (``GroupRuns.block_type`` set); file
  ``results/figures/<recipe>/n<n_blocks>/<name>_<block_type>.png``.
- ``tuning``: the tuning grid table (``results/tuning/grid.csv``, a DataFrame; drawn only with
  ``study.tune`` on, cifar_nets/study/tune.py); rule ``figure_tuning``; file
  ``results/figures/<name>.png``.

``options`` is the config's ``report`` section (``sample_images_per_class``,
``top_confused_pairs``). This module imports neither matplotlib nor torch: the Snakefile reads it.
"""
from __future__ import annotations

import dataclasses
import importlib
import json
from pathlib import Path
from typing import Iterable, Mapping

from cifar_nets import MODEL_NAMES, block_order
from cifar_nets.study.tune import tuning_on

SCOPES = ("data", "study", "group", "block", "tuning")
SECTIONS = ("glance", "depth", "group", "data", "tuning")   # report sections that show figures
FIGURE_DIR = "results/figures"


@dataclasses.dataclass(frozen=True)
class Figure:
    name: str      # the file's name without .png (block scope: <name>_<block_type>.png)
    scope: str     # what it is drawn from: one of SCOPES
    module: str    # the cifar_nets.report module defining draw_<name>(source, path, options)
    caption: str   # the report's caption: {model} = the block's network, {ci} = " (95% CI
    #                over seeds)" when a group has several seeds
    section: str   # the report section showing it: one of SECTIONS
    sweeps: str | None = None  # drawn only when study.<sweeps> has several values

    @property
    def draw_name(self) -> str:
        return f"draw_{self.name}"

    def draw(self):
        """The drawing function (imports the plotting module, matplotlib with it)."""
        return getattr(importlib.import_module(f"cifar_nets.report.{self.module}"), self.draw_name)

    def stem(self, block_type: str | None = None) -> str:
        return f"{self.name}_{block_type}" if self.scope == "block" else self.name

    def text(self, block_type: str | None = None, several_seeds: bool = False) -> str:
        """The caption, filled in."""
        return self.caption.format(model=MODEL_NAMES.get(block_type, ""),
                                   ci=" (95% CI over seeds)" if several_seeds else "")


FIGURES: tuple[Figure, ...] = (
    Figure("sample_images", "data", "plots_runs", "Sample training images", "data"),
    Figure("test_accuracy_by_model", "study", "plots_study", "Test accuracy by model{ci}",
           "glance"),
    Figure("accuracy_vs_depth", "study", "plots_study",
           "Test accuracy against n_blocks (95% CI bands over seeds)", "depth", sweeps="n_blocks"),
    Figure("accuracy_vs_parameters", "study", "plots_study",
           "Test accuracy against parameter count", "depth", sweeps="n_blocks"),
    Figure("accuracy_curves", "group", "plots_runs",
           "Train and validation accuracy per epoch; dashed: test accuracy", "group"),
    Figure("confusion", "block", "plots_runs", "Confusion matrix, {model} (summed over seeds)",
           "group"),
    Figure("confused_pairs", "block", "plots_runs", "Most confused class pairs, {model}", "group"),
    Figure("tuning_validation", "tuning", "plots_study",
           "Validation accuracy over each block type's tuning grid (mean and sd over the tuning "
           "seeds; ringed: the point chosen)", "tuning"),
)

def drawn(study: Mapping) -> list[Figure]:
    """The figures a study draws (those of a swept axis only when it is swept, the tuning
    figure only with study.tune on)."""
    return [f for f in FIGURES if (f.sweeps is None or len(study[f.sweeps]) > 1)
            and (f.scope != "tuning" or tuning_on(study))]


def _folder(recipe=None, n_blocks=None) -> str:
    return FIGURE_DIR if recipe is None else f"{FIGURE_DIR}/{recipe}/n{n_blocks}"


def figure_path(fig: Figure, recipe=None, n_blocks=None, block_type=None) -> str:
    return f"{_folder(recipe, n_blocks)}/{fig.stem(block_type)}.png"


def figure_entries(study: Mapping, scopes: Iterable[str] = SCOPES, recipe=None,
                   n_blocks=None) -> list[dict]:
    """One dict per figure file of the study, in report order: name, scope, recipe, n_blocks,
    block_type (None where the scope has none), caption (one seed's), path. Group and block figures come for every
    (recipe, n_blocks) group, or for the one given (a wildcard such as "{recipe}" works too)."""
    scopes = set(scopes)
    groups = ([(recipe, n_blocks)] if recipe is not None else
              [(r, n) for r in study["recipes"] for n in study["n_blocks"]])
    figs = [f for f in drawn(study) if f.scope in scopes]

    def entry(f, r=None, n=None, b=None):
        return dict(name=f.name, scope=f.scope, recipe=r, n_blocks=n, block_type=b,
                    caption=f.text(b), path=figure_path(f, r, n, b))

    out = [entry(f) for f in figs if f.scope in ("data", "study", "tuning")]
    for r, n in groups:
        out += [entry(f, r, n) for f in figs if f.scope == "group"]
        out += [entry(f, r, n, b) for b in block_order(study["block_types"])
                for f in figs if f.scope == "block"]
    return out


def by_name(name: str) -> Figure:
    return next(f for f in FIGURES if f.name == name)


def placed(figures: Iterable[Mapping], section: str, recipe=None, n_blocks=None,
           several_seeds: bool = False) -> list[tuple[str, str]]:
    """(caption, path) of the figures of one report section (and group), in report order.
    `figures` are :func:`figure_entries` dicts whose path is the drawn file."""
    out = []
    for e in figures:
        fig = by_name(e["name"])
        if fig.section == section and (section != "group" or (e["recipe"], e["n_blocks"])
                                       == (recipe, n_blocks)):
            out.append((fig.text(e["block_type"], several_seeds), e["path"]))
    return out


# --------------------------------------------------------------------------- drawing

@dataclasses.dataclass(frozen=True)
class GroupRuns:
    """The runs of one (recipe, n_blocks) group, as its figures draw them."""
    recipe: str
    n_blocks: int
    histories: dict   # network name -> [history DataFrame per seed]
    test_acc: dict    # network name -> [test accuracy per seed]
    confusion: dict   # block type -> confusion DataFrame summed over seeds
    block_type: str | None = None   # set for a block-scope figure

    @property
    def where(self) -> str:
        return f"{self.recipe} recipe, {self.n_blocks} blocks"

    def block_types(self) -> list[str]:
        return block_order(self.confusion)


def load_group(recipe: str, n_blocks: int, histories, metrics, confusion) -> GroupRuns:
    """A group's runs from each run's history.csv, metrics.json and confusion.csv (same order)."""
    import pandas as pd  # noqa: PLC0415 - the Snakefile reads this module without pandas work

    hist, tests, cms = {}, {}, {}
    for h, m, c in zip(histories, metrics, confusion, strict=True):
        run = json.loads(Path(m).read_text())
        bt, name = run["block_type"], MODEL_NAMES[run["block_type"]]
        hist.setdefault(name, []).append(pd.read_csv(h))
        tests.setdefault(name, []).append(run["test_acc"])
        cm = pd.read_csv(c, index_col=0)
        cms[bt] = cm if bt not in cms else cms[bt] + cm
    return GroupRuns(recipe, int(n_blocks), hist, tests, cms)


def draw(scope: str, source, outputs: Iterable[str], options: Mapping, log=None,
         synthetic: bool = False) -> None:
    """Draw every output file of one rule of `scope` from `source` (see the module docstring);
    each file is known by its name, a file of no figure of that scope stops with one line.
    `synthetic`: the data are synthetic, every figure gets a red mark saying so."""
    scopes = ("group", "block") if scope == "group" else (scope,)
    blocks = source.block_types() if scope == "group" else [None]
    known = {f.stem(b): (f, b) for f in FIGURES if f.scope in scopes
             for b in (blocks if f.scope == "block" else [None])}
    for path in outputs:
        stem = Path(path).stem
        if stem not in known:
            raise ValueError(f"{path}: no figure of scope {scope} is called {stem!r} "
                             f"(cifar_nets/report/figures.py FIGURES: {', '.join(sorted(known))})")
        fig, b = known[stem]
        fig.draw()(dataclasses.replace(source, block_type=b) if b else source, path, options)
        if synthetic:
            from cifar_nets.report.plots import mark_synthetic  # noqa: PLC0415 - matplotlib only where drawn

            mark_synthetic(path)
        if log:
            log(f"wrote {path}")
