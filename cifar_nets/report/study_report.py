"""The study's HTML report: its sections, from the summary tables, the figures drawn (placed and
captioned by cifar_nets/report/figures.py) and the sentences of cifar_nets/study/summary.py."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from cifar_nets.data.dataset import dataset_of
from cifar_nets.report import figures as figs
from cifar_nets.report.html import build_report
from cifar_nets.study.seeds import stopping_sentences
from cifar_nets.study.summary import (comparison_sentences, confusion_sentence, data_warning, depth_sentences,
                    notebook_comparison, ranking_sentence, read_summary, recipe_sentences,
                    readable, report_intro, report_title, verdict_sentences)
from cifar_nets.report.tune_report import tuning_sections, with_tuning   # study.tune's section


def report_sections(tables: dict[str, pd.DataFrame], figures: list[dict], data_label: str,
                    pair_counts: dict | None = None, dataset: str = "cifar10") -> list[dict]:
    """Sections for every axis present. `figures`: the figures drawn, as
    cifar_nets.report.figures.figure_entries dicts whose `path` is the PNG; each lands in its
    registry section with its registry caption. The notebook's numbers (CIFAR-10) are shown
    beside a CIFAR-10 study only (`dataset`: config data.dataset)."""
    runs, seeds, paired = tables["runs"], tables["seeds"], tables["paired"]
    recipes = list(dict.fromkeys(runs.recipe))
    depths = sorted(runs.n_blocks.unique())
    n_seeds = runs.groupby(["recipe", "block_type", "n_blocks"]).seed.nunique().min()
    sections = []

    headline = []
    for r in recipes:
        for n in depths:
            headline.append(ranking_sentence(seeds, r, n, data_label))
    cmp_sentences = [s for r in recipes for n in depths for s in comparison_sentences(paired, r, n)]
    nb = notebook_comparison(runs) if dataset == "cifar10" else pd.DataFrame()
    sections.append({
        "title": "Answer at a glance",
        "sentences": [s for s in headline if s] + verdict_sentences(paired)[:1]
        + cmp_sentences[: 3 * len(recipes)],
        "tables": ([("Test accuracy next to the notebook's single runs (official CIFAR-10)", nb)]
                   if len(nb) else [])
        + [("Test accuracy over seeds (mean, sd, 95% t-interval)", seeds)],
        "figures": figs.placed(figures, "glance", several_seeds=n_seeds > 1),
    })
    if len(paired):
        sections.append({
            "title": "Seeds: paired comparisons between block types",
            "sentences": verdict_sentences(paired) + cmp_sentences if n_seeds > 1 else
            ["Only one seed per variant: add seeds (study.seeds) for confidence intervals, "
             "paired tests and verdicts."],
            "tables": [("Paired differences a - b across seeds (points of test accuracy): raw and "
                        "adjusted p-values of the difference and equivalence tests, both "
                        "intervals, P(a > b) and the verdict (every column: paired.csv)",
                        readable("paired", paired))],
            "figures": [],
        })
    if len(depths) > 1:
        sections.append({
            "title": "Depth: accuracy against the number of blocks",
            "sentences": [s for r in recipes for s in depth_sentences(seeds, r)],
            "tables": [],
            "figures": figs.placed(figures, "depth", several_seeds=n_seeds > 1),
        })
    if len(recipes) > 1:
        sections.append({
            "title": "Recipes: does the ranking survive a better recipe?",
            "sentences": [s for n in depths for s in recipe_sentences(seeds, n)],
            "tables": [], "figures": [],
        })
    for r in recipes:
        for n in depths:
            sections.append({
                "title": f"Runs: {r} recipe, {n} blocks",
                "sentences": [x for x in [confusion_sentence(pair_counts or {}, r, n)] if x],
                "tables": [("One row per run", runs[(runs.recipe == r) & (runs.n_blocks == n)])],
                "figures": figs.placed(figures, "group", r, n, several_seeds=n_seeds > 1),
            })
    return sections + _closing_sections(tables, figures, data_label)


def _closing_sections(tables: dict[str, pd.DataFrame], figures: list[dict],
                      data_label: str) -> list[dict]:
    """The data, why each group has its seeds, and where the runs ran."""
    sections: list[dict] = []
    sections.append({"title": "Data", "sentences": [f"Images from {data_label}."], "tables": [],
                     "figures": figs.placed(figures, "data")})
    stopping = tables.get("stopping")
    if stopping is not None and len(stopping):
        sections.append({
            "title": "Seeds: why the study stopped",
            "sentences": stopping_sentences(stopping),
            "tables": [("Seeds per (recipe, n_blocks) group and the widest 95% half-width of a "
                        "paired difference between block types", stopping)],
            "figures": []})
    envs = tables.get("environments")
    if envs is not None and len(envs):
        hosts = sorted(set(envs.host))
        sections.append({
            "title": "Where the runs ran",
            "sentences": [f"{int(envs[envs.stage == 'train'].runs.sum())} training runs on "
                          f"{len(hosts)} host(s): {', '.join(hosts)}; devices: "
                          f"{', '.join(sorted(set(envs.device_name)))}."],
            "tables": [("Distinct training and evaluation environments, from each run's "
                        "train.json and metrics.json", envs)],
            "figures": []})
    return sections


def pair_counts(pair_files, runs: list[dict]) -> dict:
    """(recipe, n_blocks, block_type) -> how often each class pair was confused, summed over
    seeds, from each run's confused_pairs.csv (`runs`: the run of each file, in order)."""
    counts = {}
    for path, run in zip(pair_files, runs, strict=True):
        key = (run["recipe"], run["n_blocks"], run["block_type"])
        df = pd.read_csv(path).set_index(["class_a", "class_b"])["count"]
        counts[key] = df if key not in counts else counts[key] + df
    return counts


def write_report(path, *, summary, figures: list[dict], pairs: dict, study: dict,
                 config: dict, data_label: str, environment: dict, tuning=()) -> None:
    """The study's HTML report from the summary tables' CSV files (`summary`: paths named
    <table>.csv),
    the figures drawn (figure_entries dicts with their paths), the confused-pair counts
    (:func:`pair_counts`), the study and the config it shows; `tuning`: study.tune's choice.json
    and grid.csv, for its section (cifar_nets/report/tune_report.py). The report opens with the warning
    of synthetic data when the summary tables are marked synthetic (or config data.synthetic)."""
    read = {Path(p).stem: read_summary(p, keep_default_na=Path(p).stem != "environments")
            for p in summary}
    tables = {name: df for name, (df, _) in read.items()}
    synthetic = any(marked for _, marked in read.values())
    data = config["data"]
    build_report(path, title=report_title(data_label, dataset_of(data).label),
                 intro=report_intro(len(tables["runs"]), data_label, study, data),
                 sections=with_tuning(report_sections(tables, figures, data_label, pairs, dataset_of(data).name),
                                      tuning_sections(tuning, figures)),
                 config=config, environment=environment, warning=data_warning(data, synthetic))
