"""The verdicts of docs/results.md, recomputed from the per-seed test accuracies recorded there.

    python scripts/recorded_verdicts.py

prints one Markdown table per recorded study (the statistics of cifar_nets/study/verdicts.py with the
default `stats` config: Holm over all comparisons of that study, equivalence margin +-1 point);
tests/test_docs.py checks that docs/results.md holds exactly these tables. The accuracies are the
ones docs/results.md lists per seed (stand-in (JPEG) CIFAR-10, 2-core AMD EPYC with avx512_bf16,
2026-11-29); those runs' predictions.csv files were not kept, so these tables have no interval
over test images (a study run today has it in its report).
"""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from cifar_nets import MODEL_NAMES  # noqa: E402
from cifar_nets.study.stats import adjust_p, welch_test  # noqa: E402
from cifar_nets.study.verdicts import StatsSettings, paired_comparisons  # noqa: E402

NOTEBOOK_6 = {"conv": [65.96, 64.58, 64.61], "res": [70.13, 69.48, 69.64],
              "skip": [67.18, 65.74, 66.62]}
# the depth study: {n_blocks: {block_type: per seed}}; 6 blocks are the runs above
DEPTH = {0: {"conv": [67.41, 67.66, 67.93], "res": [67.41, 67.66, 67.93]},
         6: {"conv": NOTEBOOK_6["conv"], "res": NOTEBOOK_6["res"]},
         12: {"conv": [62.28, 63.15, 61.77], "res": [68.60, 67.16, 69.43]}}
MODERN_6 = {"conv": [78.51, 77.98, 78.28], "res": [79.69, 80.16, 80.30],
            "skip": [76.33, 76.75, 77.06]}

STUDIES = {
    "Three seeds per model (notebook recipe, 6 blocks)": {("notebook", 6): NOTEBOOK_6},
    "Depth: 0, 6 and 12 blocks (notebook recipe)": {("notebook", n): v for n, v in DEPTH.items()},
    "Recipes: notebook against modern (6 blocks)": {("notebook", 6): NOTEBOOK_6,
                                                    ("modern", 6): MODERN_6},
}


# docs/speed.md, "The engine against the notebook's pipeline": Custom_ResNet, seeds 0, 1, 2
PIPELINE = {"notebook pipeline (fp32)": [70.26, 70.25, 70.52],
            "engine, fp32 + channels-last": [69.57, 70.28, 69.36],
            "engine, bf16 + channels-last (default)": [70.13, 69.48, 69.64]}


def engine_table(margin: float = 1.0) -> str:
    """The engines against the notebook's pipeline: Welch tests (no seed pairs them) and TOST at
    +-margin, Holm over the two comparisons."""
    base, *engines = PIPELINE
    res = [welch_test(PIPELINE[e], PIPELINE[base], margin=margin) for e in engines]
    p_adj = adjust_p([r["p_value"] for r in res], "holm")
    eq_adj = adjust_p([r["p_equivalence"] for r in res], "holm")
    lines = ["| engine - notebook pipeline | difference | 95% CI (Welch) | p, Holm | "
             f"equivalence within ±{margin:g} point: p, Holm | verdict |",
             "| --- | ---: | --- | ---: | ---: | --- |"]
    for e, r, p, q in zip(engines, res, p_adj, eq_adj):
        verdict = ("better" if p < 0.05 else f"equivalent within ±{margin:g} point" if q < 0.05
                   else "inconclusive")
        lines.append(f"| {e} | {r['mean_diff']:+.2f} | {r['ci_low']:+.2f} to {r['ci_high']:+.2f} "
                     f"| {p:.3f} | {q:.3f} | {verdict} |")
    return "\n".join(lines) + "\n"


def runs_of(study: dict) -> pd.DataFrame:
    return pd.DataFrame([{"recipe": r, "n_blocks": n, "block_type": bt, "seed": s, "test_acc": a}
                         for (r, n), types in study.items() for bt, accs in types.items()
                         for s, a in enumerate(accs)])


def verdict_words(row) -> str:
    if row.verdict == "better":
        return f"{MODEL_NAMES[row.winner]} better"
    if row.verdict == "equivalent":
        return f"equivalent within ±{row.margin:g} point"
    if row.verdict == "inconclusive":
        return f"inconclusive (about {int(row.seeds_to_decide)} seeds would decide)"
    return row.verdict


def table(study: dict, settings: StatsSettings = StatsSettings()) -> str:
    out = paired_comparisons(runs_of(study), settings=settings)
    lines = ["| group | comparison | mean difference | 95% CI over seeds | p | p, Holm | "
             "equivalence p, Holm | P(A > B) | verdict |",
             "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | --- |"]
    for r in out.itertuples(index=False):
        lines.append(
            f"| {r.recipe}, {r.n_blocks} blocks | {MODEL_NAMES[r.a]} - {MODEL_NAMES[r.b]} | "
            f"{r.mean_diff:+.2f} | {r.ci_low:+.2f} to {r.ci_high:+.2f} | {r.p_value:.4f} | "
            f"{r.p_adjusted:.4f} | {r.p_equivalence_adjusted:.4f} | {r.p_a_better:.2f} | "
            f"{verdict_words(r)} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    for title, study in STUDIES.items():
        print(f"{title}:\n\n{table(study)}")
    print(f"The engine against the notebook's pipeline (Custom_ResNet):\n\n{engine_table()}")


if __name__ == "__main__":
    main()
