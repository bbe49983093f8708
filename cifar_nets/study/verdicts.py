"""Paired comparisons between block types and the verdict each one supports.

Per (recipe, n_blocks) group and pair of block types, over the seeds both have:

* the paired t-test of the difference and its interval over seeds (cifar_nets.study.stats.paired_test;
  Stein's two-stage standard error when the seeds were chosen by a precision target),
* the two one-sided tests (TOST) of equivalence within +-``equivalence_margin`` points,
* both p-values adjusted over a stated family (Holm, Benjamini-Hochberg or none; the whole
  study or each group),
* an interval that also resamples the test images (cifar_nets.study.bootstrap) and P(A > B),
* and one of three verdicts: ``better`` (the adjusted difference test), ``equivalent`` (the
  adjusted TOST), else ``inconclusive``, with the seeds that would decide at the observed sd.
  A failed difference test never reads as "the same".

:func:`describe_comparison` words a row; :func:`family_sentence` names the family and method.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cifar_nets.study.bootstrap import group_rng, image_weights, two_level_interval
from cifar_nets.study.stats import (_check_confidence, _groups, _present, _require, adjust_p, paired_test,
                    prob_better, seeds_to_decide)

__all__ = ["StatsSettings", "paired_comparisons", "describe_comparison", "family_sentence",
           "format_p", "VERDICTS"]

BETTER, EQUIVALENT, INCONCLUSIVE, UNTESTED = "better", "equivalent", "inconclusive", "untested"
VERDICTS = (BETTER, EQUIVALENT, INCONCLUSIVE, UNTESTED)
METHOD_NAMES = {"holm": "Holm's method", "bh": "the Benjamini-Hochberg method",
                "none": "no correction"}


@dataclass(frozen=True)
class StatsSettings:
    """The config's `stats` section (config/schema.yaml says what each key means)."""
    confidence: float = 0.95
    correction: str = "holm"
    family: str = "study"
    equivalence_margin: float = 1.0
    bootstrap_draws: int = 2000
    bootstrap_seed: int = 0

    @classmethod
    def from_config(cls, spec: Mapping | None) -> "StatsSettings":
        return cls(**(spec or {}))

    @property
    def alpha(self) -> float:
        return 1.0 - self.confidence


COLUMNS = ["a", "b", "n_pairs", "mean_diff", "sd_diff", "ci_low", "ci_high", "gen_ci_low",
           "gen_ci_high", "p_a_better", "t", "df", "p_value", "p_adjusted", "p_equivalence",
           "p_equivalence_adjusted", "verdict", "winner", "seeds_to_decide", "margin",
           "confidence", "correction", "family", "family_size"]


def _common_seeds(sa: pd.Series, sb: pd.Series) -> list:
    common = [s for s in sa.index if s in set(sb.index)]
    try:
        return sorted(common)
    except TypeError:
        return common


def paired_comparisons(runs: pd.DataFrame, by: Sequence[str] = ("recipe", "n_blocks"),
                       item_col: str = "block_type", pair_col: str = "seed",
                       value_col: str = "test_acc", settings: StatsSettings = StatsSettings(),
                       correct: Mapping | None = None, first_stage: int | None = None) -> pd.DataFrame:
    """Every pair of items within each ``by`` group, with the verdict it supports.

    Items are ordered by first appearance in ``runs`` as a whole; a row tests ``a - b`` over
    the ``pair_col`` values both have. ``correct`` maps (*group key, item, seed) to that run's
    per-test-image booleans (predictions.csv's ``correct``) for the interval over seeds and
    images (NaN columns without). ``first_stage``: the seeds were chosen by a precision target
    whose first round had this many (Stein's test). Pairs with no common seed are kept with
    ``n_pairs = 0``; an item with a repeated seed within a group raises ``ValueError``.
    """
    s = settings
    _check_confidence(s.confidence)
    _require(runs, item_col, pair_col, value_col)
    cols = _present(by, runs)
    for c in (item_col, pair_col):
        if runs[c].isna().any():
            raise ValueError(f"column {c!r} contains missing values")
    order = list(pd.unique(runs[item_col]))
    rows = []
    for key, sub in _groups(runs, cols):
        dup = sub.duplicated([item_col, pair_col])
        if dup.any():
            bad = sub.loc[dup, [item_col, pair_col]].drop_duplicates().values.tolist()
            raise ValueError(f"group {dict(zip(cols, key))}: repeated ({item_col}, {pair_col}) {bad}")
        present = set(sub[item_col])
        items = [it for it in order if it in present]
        series = {it: sub.loc[sub[item_col] == it].set_index(pair_col)[value_col] for it in items}
        rng = weights = None
        for i, ia in enumerate(items):
            for ib in items[i + 1:]:
                sa, sb = series[ia], series[ib]
                common = _common_seeds(sa, sb)
                res = paired_test(sa.loc[common].to_numpy(), sb.loc[common].to_numpy(),
                                  s.confidence, s.equivalence_margin, first_stage)
                gen = {"ci_low": math.nan, "ci_high": math.nan}
                keys_a = [(*key, ia, seed) for seed in common]
                keys_b = [(*key, ib, seed) for seed in common]
                if correct is not None and len(common) >= 2 and all(
                        k in correct for k in keys_a + keys_b):
                    ca = np.stack([np.asarray(correct[k], dtype=bool) for k in keys_a])
                    cb = np.stack([np.asarray(correct[k], dtype=bool) for k in keys_b])
                    if weights is None or weights.shape[1] != ca.shape[1]:
                        rng = group_rng(s.bootstrap_seed, key)
                        weights = image_weights(ca.shape[1], s.bootstrap_draws, rng)
                    gen = two_level_interval(ca, cb, weights, rng, s.confidence)
                rows.append({**dict(zip(cols, key)), "a": ia, "b": ib, "n_pairs": res["n"],
                             "mean_diff": res["mean_diff"], "sd_diff": res["sd_diff"],
                             "ci_low": res["ci_low"], "ci_high": res["ci_high"],
                             "gen_ci_low": gen["ci_low"], "gen_ci_high": gen["ci_high"],
                             "p_a_better": prob_better(sa.to_numpy(), sb.to_numpy()),
                             "t": res["t"], "df": res["df"], "p_value": res["p_value"],
                             "p_equivalence": res["p_equivalence"]})
    out = pd.DataFrame(rows).reindex(columns=cols + COLUMNS) if rows else \
        pd.DataFrame(columns=cols + COLUMNS)
    return _verdicts(out, cols, s)


def _verdicts(out: pd.DataFrame, cols: list[str], s: StatsSettings) -> pd.DataFrame:
    out["margin"] = s.equivalence_margin
    out["confidence"] = s.confidence
    out["correction"] = s.correction
    out["family"] = s.family
    families = [out.index] if s.family == "study" or not cols else \
        [idx for _, idx in out.groupby(cols, sort=False, dropna=False).groups.items()]
    for idx in families:
        out.loc[idx, "p_adjusted"] = adjust_p(out.loc[idx, "p_value"], s.correction)
        out.loc[idx, "p_equivalence_adjusted"] = adjust_p(out.loc[idx, "p_equivalence"], s.correction)
        out.loc[idx, "family_size"] = int(out.loc[idx, "p_value"].notna().sum())
    verdicts, winners, needed = [], [], []
    for r in out.itertuples(index=False):
        winner, need = "", math.nan
        if r.n_pairs < 2 or math.isnan(r.p_value):
            verdict = UNTESTED
        elif r.p_adjusted < s.alpha:
            verdict, winner = BETTER, (r.a if r.mean_diff > 0 else r.b)
        elif r.p_equivalence_adjusted < s.alpha:
            verdict = EQUIVALENT
        else:
            verdict = INCONCLUSIVE
            # Bonferroni's level for the family: conservative for Holm and BH alike
            level = s.alpha / max(1, int(r.family_size)) if s.correction != "none" else s.alpha
            n = seeds_to_decide(r.mean_diff, r.sd_diff, s.equivalence_margin, level)
            need = n if n is not None else math.inf
        verdicts.append(verdict)
        winners.append(winner)
        needed.append(need)
    out["verdict"], out["winner"], out["seeds_to_decide"] = verdicts, winners, needed
    out["n_pairs"] = out["n_pairs"].astype(int)
    out["family_size"] = out["family_size"].fillna(0).astype(int)
    return out


# --------------------------------------------------------------------------------------
# Words
# --------------------------------------------------------------------------------------

def format_p(p: float, alpha: float = 0.05) -> str:
    """``"p = 0.002"``, ``"p = 0.41"``, ``"p < 0.001"``: two significant digits, more if
    rounding would move the shown value across ``alpha`` (so 0.0496 is never shown as 0.05)."""
    p = float(p)
    if math.isnan(p):
        return "p = n/a"
    if p < 0.001:
        return "p < 0.001"
    for digits in range(2, 8):
        shown = float(f"{p:.{digits}g}")
        if (shown < alpha) == (p < alpha):
            break
    return f"p = {p:.{digits}g}"


def _fmt(x: float, digits: int = 1) -> str:
    return f"{round(float(x), digits) + 0.0:.{digits}f}"  # + 0.0 turns -0.0 into 0.0


def _points(x: float) -> str:
    return f"±{x:g} point" + ("" if x == 1 else "s")


def _get(row: Any, key: str, default=math.nan):
    value = row.get(key, default)
    return default if value is None else value


def family_sentence(paired: pd.DataFrame) -> str:
    """One sentence naming the family, the correction and the margin of a paired table."""
    if paired.empty:
        return ""
    r = paired.iloc[0]
    method, family, m = str(r["correction"]), str(r["family"]), float(r["margin"])
    size = int(paired["p_value"].notna().sum())
    fam = (f"all {size} comparisons of the study" if family == "study" else
           "the comparisons of each (recipe, n_blocks) group")
    how = ("are not adjusted for multiple comparisons" if method == "none" else
           f"are adjusted by {METHOD_NAMES[method]} over {fam}")
    return (f"Verdicts: a p-value below 0.05 after adjustment makes \"better\"; the p-values of the "
            f"paired t-tests and of the equivalence tests (two one-sided tests, margin {_points(m)}) "
            f"{how} (stats.correction: {method}, stats.family: {family}); neither test "
            f"passing is \"inconclusive\", never \"the same\".")


def describe_comparison(row: Any, names: Mapping[Any, str] | None = None,
                        digits: int = 1) -> str:
    """One sentence for a :func:`paired_comparisons` row: its verdict, test, correction, both
    intervals and P(A > B). The better item is named first."""
    if hasattr(row, "_asdict"):
        row = row._asdict()
    names = names or {}
    confidence = float(_get(row, "confidence", 0.95))
    level = f"{_check_confidence(confidence) * 100:g}%"

    def name(item: Any) -> str:
        return str(names.get(item, item))

    a, b, n = row["a"], row["b"], int(row["n_pairs"])
    diff = float(row["mean_diff"])
    if n == 0 or math.isnan(diff):
        return f"{name(a)} vs {name(b)}: no paired seeds, no comparison possible."
    lo, hi = float(_get(row, "ci_low")), float(_get(row, "ci_high"))
    glo, ghi = float(_get(row, "gen_ci_low")), float(_get(row, "gen_ci_high"))
    pab = float(_get(row, "p_a_better"))
    if diff < 0:  # name the better one first
        a, b, diff, lo, hi, glo, ghi, pab = b, a, -diff, -hi, -lo, -ghi, -glo, 1 - pab
    if n < 2:
        return (f"{name(a)} vs {name(b)}: {_fmt(diff, digits)} points apart on only one seed; "
                f"no test, no verdict.")
    alpha = 1.0 - confidence
    method = str(_get(row, "correction", "none"))
    size = int(_get(row, "family_size", 1))
    adj = ("no correction for multiple comparisons" if method == "none" else
           f"{METHOD_NAMES[method]} over {size} comparisons")
    intervals = f"{level} CI over seeds {_fmt(lo, digits)} to {_fmt(hi, digits)}"
    if not math.isnan(glo):
        intervals += f", over seeds and test images {_fmt(glo, digits)} to {_fmt(ghi, digits)}"
    if not math.isnan(pab):
        intervals += f"; P({name(a)} > {name(b)}) = {pab:.2f} over seed pairs"
    m = float(_get(row, "margin"))
    p_adj, p_eq = float(row["p_adjusted"]), float(_get(row, "p_equivalence_adjusted"))
    verdict = row["verdict"]
    if verdict == BETTER:
        scope = ("" if math.isnan(glo) or glo > 0 else
                 " On this test set: the interval over seeds and test images includes 0, so other "
                 "images of the same kind may not show it.")
        return (f"{name(a)} better than {name(b)} by {_fmt(diff, digits)} points (paired t-test "
                f"over {n} seeds, {format_p(row['p_value'], alpha)}, adjusted "
                f"{format_p(p_adj, alpha)} by {adj}; {intervals}).{scope}")
    if verdict == EQUIVALENT:
        return (f"{name(a)} and {name(b)} equivalent within {_points(m)}: difference "
                f"{_fmt(diff, digits)} (two one-sided tests over {n} seeds, adjusted "
                f"{format_p(p_eq, alpha)} by {adj}; {intervals}).")
    need = row.get("seeds_to_decide")
    need = (f"about {int(need)} paired seeds would decide at the observed sd of "
            f"{_fmt(row['sd_diff'], 2)} points" if need is not None and math.isfinite(float(need))
            else "more than 1000 paired seeds would be needed at the observed sd")
    eq = f", for equivalence within {_points(m)} {format_p(p_eq, alpha)}" if not math.isnan(p_eq) else ""
    return (f"{name(a)} vs {name(b)} inconclusive: {n} seeds cannot tell (difference "
            f"{_fmt(diff, digits)} points; adjusted by {adj}: for a difference "
            f"{format_p(p_adj, alpha)}{eq}; {intervals}); {need}.")
