"""Statistics for conclusions with error bars over seeds.

Pure numpy/pandas (and the standard library): no scipy, no snakemake.

* :func:`t_cdf` / :func:`t_ppf` -- Student t distribution, via our own regularized
  incomplete beta function (Numerical Recipes ``betacf``, modified Lentz continued fraction).
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

_EPS = 1e-16           # continued-fraction convergence criterion
_FPMIN = 1e-300        # Lentz's "tiny" to avoid division by zero
_MAXIT = 100_000       # iterations needed grow like sqrt(max(a, b)); never hit in practice
_LGAMMA_HALF = math.lgamma(0.5)  # log(sqrt(pi))


# --------------------------------------------------------------------------------------
# Special functions
# --------------------------------------------------------------------------------------

def _lgamma_ratio_half(a: float) -> float:
    """``lgamma(a + 1/2) - lgamma(a)`` without the cancellation of two large lgammas.

    For large ``a`` this uses the difference of Stirling series, which keeps the result
    accurate to ~1e-16 absolute even for df in the millions (where subtracting two
    ``math.lgamma`` values of size ~1e7 would lose ~1e-9).
    """
    if a < 50.0:
        return math.lgamma(a + 0.5) - math.lgamma(a)
    b = a + 0.5
    # (b - 1/2) ln b - b - [(a - 1/2) ln a - a] = a*log1p(1/(2a)) + ln(a)/2 - 1/2
    main = a * math.log1p(0.5 / a) + 0.5 * math.log(a) - 0.5

    def series(z: float) -> float:
        z2 = z * z
        return 1.0 / (12.0 * z) - 1.0 / (360.0 * z * z2) + 1.0 / (1260.0 * z * z2 * z2)

    return main + series(b) - series(a)


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction for the incomplete beta function (NR ``betacf``, modified Lentz)."""
    qab = a + b
    qap = a + 1.0
    qam = a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    if abs(d) < _FPMIN:
        d = _FPMIN
    d = 1.0 / d
    h = d
    for m in range(1, _MAXIT + 1):
        m2 = 2 * m
        # even step
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        if abs(d) < _FPMIN:
            d = _FPMIN
        c = 1.0 + aa / c
        if abs(c) < _FPMIN:
            c = _FPMIN
        d = 1.0 / d
        h *= d * c
        # odd step
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        if abs(d) < _FPMIN:
            d = _FPMIN
        c = 1.0 + aa / c
        if abs(c) < _FPMIN:
            c = _FPMIN
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            return h
    raise RuntimeError(f"incomplete beta continued fraction did not converge (a={a}, b={b}, x={x})")


def _t_two_tail(t: float, df: float) -> float:
    """P(|T| > |t|) = I_x(df/2, 1/2) with x = df / (df + t^2), computed without overflow.

    ``x`` and ``y = 1 - x`` are both formed directly (never as ``1 - something``) so that
    neither tail loses precision.
    """
    at = abs(t)
    if at == 0.0:
        return 1.0
    if math.isinf(at):
        return 0.0
    if df > 1e10 or (df > 1e7 and at < 8.0):
        # First-order large-df (Fisher) expansion
        #   P(|T| > t) = erfc(t/sqrt2) + 2 phi(t) (t^3 + t) / (4 df) + O(t^8 / df^2):
        # absolute error < 1e-15 here, where the continued fraction (x within t^2/df of 1)
        # loses ~eps*df. For 1e7 < df <= 1e10 and |t| >= 8 (tail < 1e-15) the continued
        # fraction is kept for its better relative accuracy.
        if at > 40.0:  # both terms underflow
            return 0.0
        phi = math.exp(-0.5 * at * at) / math.sqrt(2.0 * math.pi)
        return math.erfc(at / math.sqrt(2.0)) + 2.0 * phi * (at ** 3 + at) / (4.0 * df)
    sdf = math.sqrt(df)
    a = 0.5 * df
    b = 0.5
    if at <= sdf:
        r = at / sdf                   # |t| / sqrt(df) <= 1
        if r == 0.0:
            return 1.0
        r2 = r * r
        x = 1.0 / (1.0 + r2)
        y = r2 / (1.0 + r2)
        log_x = -math.log1p(r2)
        log_y = 2.0 * math.log(r) - math.log1p(r2)
    else:
        s = sdf / at                   # sqrt(df) / |t| < 1 (s*s may underflow, log(s) does not)
        if s == 0.0:
            return 0.0
        s2 = s * s
        x = s2 / (1.0 + s2)
        y = 1.0 / (1.0 + s2)
        log_x = 2.0 * math.log(s) - math.log1p(s2)
        log_y = -math.log1p(s2)
    # log of x^a y^b / B(a, b), with log B(a, 1/2) = lgamma(1/2) - [lgamma(a+1/2) - lgamma(a)]
    log_front = _lgamma_ratio_half(a) - _LGAMMA_HALF + a * log_x + b * log_y
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, y) / b


def _check_df(df: float) -> float:
    df = float(df)
    if math.isnan(df) or df <= 0.0:
        raise ValueError(f"degrees of freedom must be > 0, got {df}")
    return df


def t_sf(t: float, df: float) -> float:
    """Upper tail P(T > t) of Student's t with ``df`` degrees of freedom (precise in the tail)."""
    t = float(t)
    df = _check_df(df)
    if math.isnan(t):
        return math.nan
    if math.isinf(df):
        return 0.5 * math.erfc(t / math.sqrt(2.0))
    half = 0.5 * _t_two_tail(t, df)
    return half if t > 0 else 1.0 - half


def t_cdf(t: float, df: float) -> float:
    """CDF P(T <= t) of Student's t with ``df`` (> 0, may be non-integer or ``inf``) d.o.f.

    Uses the regularized incomplete beta function, ``P(|T| > |t|) = I_{df/(df+t^2)}(df/2, 1/2)``,
    evaluated with the Numerical Recipes continued fraction (modified Lentz). Absolute
    accuracy is ~1e-15; the lower tail is computed directly, so it is also relatively
    accurate. ``df = inf`` gives the standard normal CDF.
    """
    t = float(t)
    df = _check_df(df)
    if math.isnan(t):
        return math.nan
    if math.isinf(df):
        return 0.5 * math.erfc(-t / math.sqrt(2.0))
    half = 0.5 * _t_two_tail(t, df)
    return half if t < 0 else 1.0 - half


def _t_log_pdf(t: float, df: float) -> float:
    if math.isinf(df):
        return -0.5 * t * t - 0.5 * math.log(2.0 * math.pi)
    return (_lgamma_ratio_half(0.5 * df) - 0.5 * math.log(df * math.pi)
            - 0.5 * (df + 1.0) * math.log1p(t * t / df))


def t_ppf(p: float, df: float) -> float:
    """Quantile (inverse CDF) of Student's t: the ``t`` with ``t_cdf(t, df) == p``.

    Safeguarded Newton iteration on the upper-tail probability (bisection whenever a Newton
    step leaves the current bracket). ``p = 0 / 1`` give ``-inf / inf``; NaN gives NaN;
    ``p`` outside [0, 1] raises ``ValueError``.
    """
    p = float(p)
    df = _check_df(df)
    if math.isnan(p):
        return math.nan
    if p < 0.0 or p > 1.0:
        raise ValueError(f"probability must be in [0, 1], got {p}")
    if p == 0.0:
        return -math.inf
    if p == 1.0:
        return math.inf
    if p == 0.5:
        return 0.0
    # Solve t_sf(t) = q for t > 0 with q = min(p, 1 - p) (exact for p >= 0.5), then fix the sign.
    sign = 1.0 if p > 0.5 else -1.0
    q = 1.0 - p if p > 0.5 else p

    def sf(x: float) -> float:
        return t_sf(x, df)

    # Bracket [lo, hi] with sf(lo) >= q > sf(hi).
    lo, hi = 0.0, 1.0
    while sf(hi) >= q:
        lo, hi = hi, hi * 2.0
        if math.isinf(hi):  # q below the smallest representable tail
            return sign * math.inf
    x = 0.5 * (lo + hi)
    for _ in range(500):
        fx = sf(x) - q
        if fx == 0.0:
            break
        if fx > 0.0:
            lo = x
        else:
            hi = x
        # Newton: d sf / dt = -pdf
        pdf = math.exp(_t_log_pdf(x, df))
        x_new = x + fx / pdf if pdf > 0.0 else math.nan
        if not (lo < x_new < hi):
            x_new = math.sqrt(lo * hi) if lo > 0.0 and hi > 4.0 * lo else 0.5 * (lo + hi)
        if abs(x_new - x) <= 4.0 * np.finfo(float).eps * abs(x_new) or hi - lo <= 4.0 * np.finfo(float).eps * hi:
            x = x_new
            break
        x = x_new
    return sign * x


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
    p = _t_two_tail(t, df)  # = 2 * t_sf(|t|), computed directly for small p
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
