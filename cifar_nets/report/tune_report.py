"""The report's tuning section (study.tune): the grid, each block type's choice and the figure of
validation accuracy over the grid. Kept apart from the report's other sections
(cifar_nets/report/study_report.py adds it with :func:`with_tuning`)."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from cifar_nets import MODEL_NAMES
from cifar_nets.report import figures as figs
from cifar_nets.study.tune import TUNED


def _fmt_settings(settings: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in settings.items())


def tuning_sections(paths, figures: list[dict]) -> list[dict]:
    """The tuning section from choice.json and grid.csv (`paths`; none: no section)."""
    paths = [str(p) for p in paths or ()]
    if not paths:
        return []
    record = json.loads(Path(next(p for p in paths if p.endswith(".json"))).read_text())
    grid = pd.read_csv(next(p for p in paths if p.endswith(".csv")))
    seeds = ", ".join(map(str, record["tuning_seeds"]))
    sentences = [
        f"Each block type trained every point of its grid (the {record['base']} recipe with the "
        f"values shown) on the tuning seeds {seeds}; the point with the best mean "
        f"{record['criterion']} on the validation split was chosen (ties: {record['tie_rule']}). "
        "No test image was used to choose: the tuning runs are never evaluated on the test set.",
        f"The chosen settings were then trained on the study's own seeds as the recipe "
        f"'{TUNED}' and compared on the test set like any recipe (the '{TUNED}' rows of every "
        "table, and its paired comparisons).",
    ]
    for c in record["choices"]:
        sentences.append(
            f"{MODEL_NAMES[c['block_type']]}, {c['n_blocks']} blocks: {_fmt_settings(c['settings'])} "
            f"(mean validation accuracy {c['mean_val_acc']:.2f}% over {c['n_seeds']} tuning "
            "seeds).")
    return [{"title": "Tuning: each block type's own setting, chosen on the validation split",
             "sentences": sentences,
             "tables": [("Grid: validation accuracy over the tuning seeds (chosen: the best mean "
                         "per block type and depth)", grid)],
             "figures": figs.placed(figures, "tuning")}]


def with_tuning(sections: list[dict], tuning: list[dict]) -> list[dict]:
    """`sections` with the tuning section before the first per-run section (else at the end)."""
    at = next((i for i, s in enumerate(sections) if str(s.get("title", "")).startswith("Runs:")),
              len(sections))
    return [*sections[:at], *tuning, *sections[at:]]
