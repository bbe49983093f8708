"""Statistics for conclusions with error bars over seeds.

The t distribution comes from scipy.stats; the grouping, tables and sentences are this project's.

* :func:`t_cdf` / :func:`t_sf` / :func:`t_ppf` -- Student t distribution (scipy.stats.t).
* :func:`mean_ci` -- mean with a t-based confidence interval.
* :func:`paired_test` -- paired t-test of ``a - b`` (two-sided).
* :func:`seed_summary` -- per-configuration mean / sd / CI over seeds.
* :func:`paired_comparisons` -- all pairwise seed-matched comparisons within groups.
* :func:`describe_comparison` -- one English sentence per comparison row.

Accuracies are in percent (e.g. ``71.48``) so differences are "points".
Non-finite values (NaN, inf) are rejected with ``ValueError`` rather than silently dropped:
a missing result should be fixed upstream, not averaged away.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as _stats

__all__ = [
    "t_cdf",
    "t_sf",
    "t_ppf",
    "mean_ci",
    "paired_test",
    "seed_summary",
    "paired_comparisons",
    "describe_comparison",
    "format_p",
]

# --------------------------------------------------------------------------------------
# Student t distribution: scipy.stats.t, with this module's argument checks
# --------------------------------------------------------------------------------------

def _check_df(df: float) -> float:
    df = float(df)
    if math.isnan(df) or df <= 0.0:
        raise ValueError(f"degrees of freedom must be > 0, got {df}")
    return df


def _dist(df: float):
    """scipy's t with ``df`` degrees of freedom; the standard normal for ``df = inf``."""
    return _stats.norm if math.isinf(df) else _stats.t(df)


def t_sf(t: float, df: float) -> float:
    """Upper tail P(T > t) of Student's t with ``df`` degrees of freedom (precise in the tail)."""
    t, df = float(t), _check_df(df)
    return math.nan if math.isnan(t) else float(_dist(df).sf(t))


def t_cdf(t: float, df: float) -> float:
    """CDF P(T <= t) of Student's t with ``df`` (> 0, may be non-integer or ``inf``) d.o.f.;
    ``df = inf`` gives the standard normal CDF."""
    t, df = float(t), _check_df(df)
    return math.nan if math.isnan(t) else float(_dist(df).cdf(t))


def t_ppf(p: float, df: float) -> float:
    """Quantile (inverse CDF) of Student's t: the ``t`` with ``t_cdf(t, df) == p``.

    ``p = 0 / 1`` give ``-inf / inf``; NaN gives NaN; ``p`` outside [0, 1] raises ``ValueError``.
    """
    p, df = float(p), _check_df(df)
    if math.isnan(p):
        return math.nan
    if p < 0.0 or p > 1.0:
        raise ValueError(f"probability must be in [0, 1], got {p}")
    return float(_dist(df).ppf(p))


# --------------------------------------------------------------------------------------
# Confidence intervals and paired tests
# --------------------------------------------------------------------------------------

def _check_confidence(confidence: float) -> float:
    confidence = float(confidence)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return confidence


def _as_finite_1d(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains non-finite values (NaN or inf): {arr.tolist()}")
    return arr


def mean_ci(values: Any, confidence: float = 0.95) -> dict:
    """Mean with a two-sided Student-t confidence interval.

    Returns ``{"n", "mean", "std", "sem", "ci_low", "ci_high", "half_width"}`` with ``std``
    the sample standard deviation (ddof=1), ``sem = std / sqrt(n)`` and
    ``half_width = t_{(1+confidence)/2, n-1} * sem``. With ``n == 1`` the mean is returned
    and everything else is NaN; ``n == 0`` raises ``ValueError``.
    """
    confidence = _check_confidence(confidence)
    arr = _as_finite_1d(values, "values")
    n = int(arr.size)
    if n == 0:
        raise ValueError("mean_ci needs at least one value")
    mean = float(np.mean(arr))
    if n == 1:
        nan = math.nan
        return {"n": 1, "mean": mean, "std": nan, "sem": nan,
                "ci_low": nan, "ci_high": nan, "half_width": nan}
    std = float(np.std(arr, ddof=1))
    sem = std / math.sqrt(n)
    half = t_ppf(0.5 + 0.5 * confidence, n - 1) * sem
    return {"n": n, "mean": mean, "std": std, "sem": sem,
            "ci_low": mean - half, "ci_high": mean + half, "half_width": half}


def paired_test(a: Any, b: Any, confidence: float = 0.95) -> dict:
    """Paired two-sided t-test of ``a - b`` (element-wise pairs, e.g. matched seeds).

    Returns ``{"n", "mean_diff", "ci_low", "ci_high", "t", "p_value"}`` with the CI for the
    mean difference at ``confidence``. Length mismatch raises ``ValueError``. With ``n < 2``
    everything except ``n`` and ``mean_diff`` (the single difference; NaN for ``n == 0``) is
    NaN. If all differences are identical (sd 0) the CI collapses to the mean, and
    ``p = 0`` (``t = +-inf``) when the mean is non-zero, else ``p = 1`` (``t = 0``).
    """
    confidence = _check_confidence(confidence)
    a = _as_finite_1d(a, "a")
    b = _as_finite_1d(b, "b")
    if a.size != b.size:
        raise ValueError(f"paired_test needs equally long inputs, got {a.size} and {b.size}")
    d = a - b
    n = int(d.size)
    nan = math.nan
    if n < 2:
        mean_diff = float(d[0]) if n == 1 else nan
        return {"n": n, "mean_diff": mean_diff, "ci_low": nan, "ci_high": nan,
                "t": nan, "p_value": nan}
    mean = float(np.mean(d))
    sd = float(np.std(d, ddof=1))
    df = n - 1
    if sd == 0.0:
        if mean != 0.0:
            t, p = math.copysign(math.inf, mean), 0.0
        else:
            t, p = 0.0, 1.0
        return {"n": n, "mean_diff": mean, "ci_low": mean, "ci_high": mean, "t": t, "p_value": p}
    sem = sd / math.sqrt(n)
    t = mean / sem
    p = 2.0 * t_sf(abs(t), df)
    half = t_ppf(0.5 + 0.5 * confidence, df) * sem
    return {"n": n, "mean_diff": mean, "ci_low": mean - half, "ci_high": mean + half,
            "t": t, "p_value": min(1.0, max(0.0, p))}


# --------------------------------------------------------------------------------------
# DataFrame helpers
# --------------------------------------------------------------------------------------

def _present(cols: Sequence[str] | str, runs: pd.DataFrame) -> list[str]:
    if isinstance(cols, str):
        cols = (cols,)
    return [c for c in cols if c in runs.columns]


def _require(runs: pd.DataFrame, *cols: str) -> None:
    missing = [c for c in cols if c not in runs.columns]
    if missing:
        raise ValueError(f"runs has no column(s) {missing}; columns are {list(runs.columns)}")


def _groups(runs: pd.DataFrame, cols: list[str]):
    """Yield (key_tuple, sub_frame) sorted by key; NaN keys are kept (sorted last)."""
    if not cols:
        yield (), runs
        return
    for key, sub in runs.groupby(cols, sort=True, dropna=False):
        yield (key if isinstance(key, tuple) else (key,)), sub


_SUMMARY_STATS = ["n_seeds", "mean", "std", "ci_low", "ci_high", "half_width"]


def seed_summary(runs: pd.DataFrame,
                 group_cols: Sequence[str] = ("recipe", "model", "block_type", "n_blocks"),
                 value_col: str = "test_acc",
                 confidence: float = 0.95) -> pd.DataFrame:
    """One row per group of ``runs`` (typically one row per seed) with mean and t-CI.

    Group columns missing from ``runs`` are skipped (no group columns at all: one row for the
    whole frame). Columns: the present group columns, then ``n_seeds`` (rows in the group),
    ``mean``, ``std`` (ddof=1), ``ci_low``, ``ci_high``, ``half_width`` -- in the units of
    ``value_col``. Single-seed groups have NaN spread/CI. Rows are sorted by the group keys.
    """
    _require(runs, value_col)
    cols = _present(group_cols, runs)
    rows = []
    for key, sub in _groups(runs, cols):
        s = mean_ci(sub[value_col].to_numpy(), confidence)
        rows.append({**dict(zip(cols, key)), "n_seeds": s["n"], "mean": s["mean"], "std": s["std"],
                     "ci_low": s["ci_low"], "ci_high": s["ci_high"], "half_width": s["half_width"]})
    out = pd.DataFrame(rows, columns=cols + _SUMMARY_STATS)
    out["n_seeds"] = out["n_seeds"].astype(int)
    return out


_COMPARISON_STATS = ["a", "b", "n_pairs", "mean_diff", "ci_low", "ci_high", "t", "p_value", "significant"]


def paired_comparisons(runs: pd.DataFrame,
                       by: Sequence[str] = ("recipe", "n_blocks"),
                       item_col: str = "block_type",
                       pair_col: str = "seed",
                       value_col: str = "test_acc",
                       confidence: float = 0.95) -> pd.DataFrame:
    """Seed-matched paired t-tests between every pair of items within each ``by`` group.

    Items (values of ``item_col``) are ordered by first appearance in ``runs`` as a whole, so
    the order is the same in every group; for items ``a`` before ``b`` one row tests
    ``a - b`` over the ``pair_col`` values (seeds) present for both. ``by`` columns missing
    from ``runs`` are skipped. Columns: present ``by`` columns, ``a``, ``b``, ``n_pairs``,
    ``mean_diff``, ``ci_low``, ``ci_high``, ``t``, ``p_value``, ``significant``
    (``p_value < 1 - confidence`` and ``n_pairs >= 2``). Pairs with no common seed are kept
    with ``n_pairs = 0`` and NaN statistics. An item with a repeated seed within a group is
    ambiguous and raises ``ValueError``.
    """
    confidence = _check_confidence(confidence)
    alpha = 1.0 - confidence
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
        for i, ia in enumerate(items):
            for ib in items[i + 1:]:
                sa, sb = series[ia], series[ib]
                common = [s for s in sa.index if s in set(sb.index)]
                try:
                    common = sorted(common)
                except TypeError:
                    pass
                res = paired_test(sa.loc[common].to_numpy(), sb.loc[common].to_numpy(), confidence)
                sig = bool(res["n"] >= 2 and res["p_value"] < alpha)
                rows.append({**dict(zip(cols, key)), "a": ia, "b": ib, "n_pairs": res["n"],
                             "mean_diff": res["mean_diff"], "ci_low": res["ci_low"],
                             "ci_high": res["ci_high"], "t": res["t"], "p_value": res["p_value"],
                             "significant": sig})
    out = pd.DataFrame(rows, columns=cols + _COMPARISON_STATS)
    out["n_pairs"] = out["n_pairs"].astype(int)
    out["significant"] = out["significant"].astype(bool)
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


def _fmt(x: float, digits: int) -> str:
    return f"{round(float(x), digits) + 0.0:.{digits}f}"  # + 0.0 turns -0.0 into 0.0


def describe_comparison(row: Any, names: Mapping[Any, str] | None = None,
                        confidence: float = 0.95, unit: str = "points", digits: int = 1) -> str:
    """One sentence for a :func:`paired_comparisons` row (a Series, dict or namedtuple).

    The better item is named first and the difference is shown as positive, e.g.
    ``"Custom_ResNet beats Custom_ConvNet by 6.3 points (95% CI 5.1 to 7.5, p = 0.002,
    3 paired seeds): significant at 95%."`` or ``"Custom_ResNet vs Custom_ConvNet: the
    difference of 0.4 points (95% CI -1.2 to 2.0, p = 0.41, 3 paired seeds) is not
    significant at 95%."``; one seed: ``"... leads ... by 0.4 points on only one seed, no
    significance test."``. ``names`` maps item values to display names. Significance is
    the row's ``significant`` flag when present, else ``p_value < 1 - confidence``;
    ``confidence`` must be the level the row was computed at (it labels the CI).
    """
    if hasattr(row, "_asdict"):
        row = row._asdict()
    names = names or {}
    confidence = _check_confidence(confidence)
    level = f"{confidence * 100:g}%"

    def name(item: Any) -> str:
        return str(names.get(item, item))

    a, b = row["a"], row["b"]
    n = int(row["n_pairs"])
    diff = float(row["mean_diff"])
    if n == 0 or math.isnan(diff):
        return f"{name(a)} vs {name(b)}: no paired seeds, no comparison possible."
    lo, hi = float(row.get("ci_low", math.nan)), float(row.get("ci_high", math.nan))
    if diff < 0:  # name the better one first
        a, b, diff, lo, hi = b, a, -diff, -hi, -lo
    if n < 2 and round(diff, digits) == 0:
        return f"{name(a)} and {name(b)} tie on only one seed, no significance test."
    if n < 2:
        return (f"{name(a)} leads {name(b)} by {_fmt(diff, digits)} {unit} "
                f"on only one seed, no significance test.")
    if diff == 0 and lo == 0 and hi == 0:  # every paired difference is exactly zero
        return (f"{name(a)} and {name(b)} reach the same test accuracy on each of the {n} "
                f"paired seeds: no difference to test.")
    p = float(row["p_value"])
    alpha = 1.0 - confidence
    sig = row.get("significant", None)
    sig = bool(sig) if sig is not None and not (isinstance(sig, float) and math.isnan(sig)) else p < alpha
    stats = (f"{level} CI {_fmt(lo, digits)} to {_fmt(hi, digits)}, {format_p(p, alpha)}, "
             f"{n} paired seeds")
    if sig:
        return f"{name(a)} beats {name(b)} by {_fmt(diff, digits)} {unit} ({stats}): significant at {level}."
    return (f"{name(a)} vs {name(b)}: the difference of {_fmt(diff, digits)} {unit} ({stats}) "
            f"is not significant at {level}.")
