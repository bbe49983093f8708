"""Statistics for conclusions with error bars over seeds: the numbers, no words.

The t and noncentral t distributions come from scipy.stats; the rest is this project's.

* :func:`t_cdf` / :func:`t_sf` / :func:`t_ppf` -- Student t distribution (scipy.stats.t).
* :func:`mean_ci` -- mean with a t-based confidence interval.
* :func:`paired_test` -- paired t-test of ``a - b`` (two-sided), its interval and, given a
  margin, the two one-sided tests (TOST) of equivalence; optionally with Stein's two-stage
  standard error (the sd of the first-stage pairs only: see cifar_nets/study/seeds.py).
* :func:`tost_p` -- the TOST p-value of an estimate with a standard error.
* :func:`adjust_p` -- Holm or Benjamini-Hochberg adjusted p-values over a family.
* :func:`prob_better` -- P(A > B) over every pair of runs (ties count half).
* :func:`seeds_to_decide` -- paired seeds a test would need to decide at an observed sd.
* :func:`seed_summary` -- per-configuration mean / sd / CI over seeds.

Accuracies are in percent (e.g. ``71.48``) so differences are "points".
Non-finite values (NaN, inf) are rejected with ``ValueError`` rather than silently dropped:
a missing result should be fixed upstream, not averaged away.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
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
    "welch_test",
    "tost_p",
    "adjust_p",
    "prob_better",
    "seeds_to_decide",
    "seed_summary",
    "CORRECTIONS",
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


def tost_p(mean: float, se: float, df: float, margin: float) -> float:
    """Two one-sided tests (Schuirmann 1987) of "the true difference lies within +-margin":
    the larger of the p-values of H0 "difference <= -margin" and H0 "difference >= margin".
    Small means equivalent. ``se == 0``: 0 inside the margin, 1 on or outside it."""
    mean, se, margin = float(mean), float(se), float(margin)
    if not margin > 0 or math.isnan(mean) or math.isnan(se):
        return math.nan
    if se == 0.0:
        return 0.0 if abs(mean) < margin else 1.0
    p_low = t_sf((mean + margin) / se, df)     # H0: difference <= -margin
    p_high = t_cdf((mean - margin) / se, df)   # H0: difference >= +margin
    return min(1.0, max(p_low, p_high))


def paired_test(a: Any, b: Any, confidence: float = 0.95, margin: float | None = None,
                first_stage: int | None = None) -> dict:
    """Paired two-sided t-test of ``a - b`` (element-wise pairs, e.g. matched seeds).

    Returns ``{"n", "mean_diff", "sd_diff", "se", "df", "ci_low", "ci_high", "t", "p_value",
    "p_equivalence"}``: the CI for the mean difference at ``confidence``; ``p_equivalence``
    the TOST p-value for ``+-margin`` (NaN without a margin). Length mismatch raises
    ``ValueError``. With ``n < 2`` everything except ``n`` and ``mean_diff`` (the single
    difference; NaN for ``n == 0``) is NaN. If all differences are identical (sd 0) the CI
    collapses to the mean, and ``p = 0`` (``t = +-inf``) when the mean is non-zero, else
    ``p = 1`` (``t = 0``).

    ``first_stage = k`` is Stein's two-stage test: the standard error is the sd of the first
    ``k`` differences over sqrt(n), with ``k - 1`` degrees of freedom. When the number of pairs
    was chosen from those first ``k`` (cifar_nets/study/seeds.py), this keeps the test at its level,
    which the ordinary t-test on all ``n`` would exceed (docs/statistics.md).
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
        return {"n": n, "mean_diff": mean_diff, "sd_diff": nan, "se": nan, "df": nan,
                "ci_low": nan, "ci_high": nan, "t": nan, "p_value": nan, "p_equivalence": nan}
    mean = float(np.mean(d))
    sd = float(np.std(d, ddof=1))
    if first_stage is not None and 2 <= first_stage < n:
        sd_used, df = float(np.std(d[:first_stage], ddof=1)), first_stage - 1
    else:
        sd_used, df = sd, n - 1
    se = sd_used / math.sqrt(n)
    p_eq = tost_p(mean, se, df, margin) if margin is not None else nan
    out = {"n": n, "mean_diff": mean, "sd_diff": sd, "se": se, "df": df, "p_equivalence": p_eq}
    if se == 0.0:
        if mean != 0.0:
            t, p = math.copysign(math.inf, mean), 0.0
        else:
            t, p = 0.0, 1.0
        return {**out, "ci_low": mean, "ci_high": mean, "t": t, "p_value": p}
    t = mean / se
    p = 2.0 * t_sf(abs(t), df)
    half = t_ppf(0.5 + 0.5 * confidence, df) * se
    return {**out, "ci_low": mean - half, "ci_high": mean + half, "t": t,
            "p_value": min(1.0, max(0.0, p))}


def welch_test(a: Any, b: Any, confidence: float = 0.95, margin: float | None = None) -> dict:
    """Unpaired (Welch) test of mean(a) - mean(b), for runs that no seed pairs (e.g. two
    pipelines with different random streams): ``{"mean_diff", "se", "df", "ci_low", "ci_high",
    "p_value", "p_equivalence"}`` (TOST at ``margin``, NaN without one). Each needs 2 values."""
    confidence = _check_confidence(confidence)
    a, b = _as_finite_1d(a, "a"), _as_finite_1d(b, "b")
    if a.size < 2 or b.size < 2:
        raise ValueError(f"welch_test needs two or more values a side, got {a.size} and {b.size}")
    va, vb = np.var(a, ddof=1) / a.size, np.var(b, ddof=1) / b.size
    se = float(math.sqrt(va + vb))
    df = float((va + vb) ** 2 / (va ** 2 / (a.size - 1) + vb ** 2 / (b.size - 1))) if se else math.inf
    mean = float(np.mean(a) - np.mean(b))
    half = t_ppf(0.5 + 0.5 * confidence, df) * se
    p = 2.0 * t_sf(abs(mean / se), df) if se else float(mean == 0.0)
    return {"mean_diff": mean, "se": se, "df": df, "ci_low": mean - half, "ci_high": mean + half,
            "p_value": p, "p_equivalence": tost_p(mean, se, df, margin) if margin else math.nan}


# --------------------------------------------------------------------------------------
# Many comparisons, P(A > B), seeds needed
# --------------------------------------------------------------------------------------

CORRECTIONS = ("holm", "bh", "none")


def adjust_p(p_values: Any, method: str = "holm") -> np.ndarray:
    """Adjusted p-values over one family, in the input's order.

    ``holm``: Holm's step-down (family-wise error rate; Holm 1979): the i-th smallest of m
    becomes ``max_{j<=i} min(1, (m - j + 1) p_(j))``. ``bh``: Benjamini-Hochberg step-up (false
    discovery rate; 1995): ``min_{j>=i} min(1, m p_(j) / j)``. ``none``: unchanged. NaN entries
    (comparisons that could not be tested) stay NaN and do not count in m.
    """
    if method not in CORRECTIONS:
        raise ValueError(f"correction must be one of {', '.join(CORRECTIONS)}, got {method!r}")
    p = np.asarray(p_values, dtype=float).ravel()
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if np.any((p[ok] < 0) | (p[ok] > 1)):
        raise ValueError(f"p-values must be in [0, 1], got {p[ok].tolist()}")
    m = int(ok.sum())
    if m == 0:
        return out
    idx = np.flatnonzero(ok)
    order = idx[np.argsort(p[idx], kind="stable")]
    ps = p[order]
    if method == "none":
        adj = ps
    elif method == "holm":
        adj = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * ps))
    else:
        adj = np.minimum.accumulate(np.minimum(1.0, m * ps / np.arange(1, m + 1))[::-1])[::-1]
    out[order] = adj
    return out


def prob_better(a: Any, b: Any) -> float:
    """P(A > B): the share of the pairs (one run of A, one run of B), every run of each, in which
    A scores higher, ties counting half (rliable's probability of improvement; Agarwal et al.
    2021). NaN when either is empty."""
    a, b = _as_finite_1d(a, "a"), _as_finite_1d(b, "b")
    if not a.size or not b.size:
        return math.nan
    diff = a[:, None] - b[None, :]
    return float(np.mean((diff > 0) + 0.5 * (diff == 0)))


def seeds_to_decide(mean: float, sd: float, margin: float | None, alpha: float,
                    power: float = 0.8, max_seeds: int = 1000) -> int | None:
    """Paired seeds that would decide, at the observed mean difference and sd: the smallest n
    at which either the two-sided t-test at ``alpha`` finds the difference, or (with a margin)
    the TOST at ``alpha`` shows equivalence, with probability ``power`` (noncentral t). An
    approximation: it takes the observed values as true. None: more than ``max_seeds``."""
    mean, sd = abs(float(mean)), float(sd)
    if math.isnan(mean) or math.isnan(sd):
        return None
    if sd == 0.0:
        return 2
    for n in range(2, max_seeds + 1):
        df, scale = n - 1, math.sqrt(n) / sd
        crit = _stats.t.ppf(1 - alpha / 2, df)
        nct = _stats.nct
        p_diff = nct.sf(crit, df, mean * scale) + nct.cdf(-crit, df, mean * scale)
        p_eq = 0.0
        if margin:
            c1 = _stats.t.ppf(1 - alpha, df)
            p_eq = (nct.sf(c1, df, (mean + margin) * scale)
                    - nct.sf(-c1, df, (mean - margin) * scale))
        if max(p_diff, p_eq) >= power:
            return n
    return None


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


