"""Tests for cifar_nets.study.stats: hand-computed cases and closed forms first (the t distribution
comes from scipy.stats), then the paired test and intervals against scipy's own functions.

Each numeric expectation is chosen so that a plausible bug (ddof=0, z instead of t,
one-sided p, pairing by position instead of by seed, alphabetical item order, ...) fails it.
"""

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from cifar_nets.study.stats import (
    mean_ci,
    paired_test,
    seed_summary,
    t_cdf,
    t_ppf,
    t_sf,
)

# t_{0.975, 2}: for df = 2 the quantile has the closed form (2p - 1) / sqrt(2 p (1 - p)),
# = 0.95 / sqrt(2 * 0.975 * 0.025) = 0.95 / sqrt(0.04875) = 4.302652729749464.
T975_DF2 = 4.302652729749464
Z975 = 1.959963984540054  # what a "z instead of t" implementation would use


# ----------------------------------------------------------------------------- t_cdf

def _cauchy_cdf(t):
    # df = 1 is the Cauchy distribution: 0.5 + atan(t)/pi; written via atan(1/|t|) in the lower
    # tail so that the reference itself is accurate there.
    return 0.5 + math.atan(t) / math.pi if t >= 0 else math.atan(-1.0 / t) / math.pi


def _df2_cdf(t):
    # df = 2: 0.5 + t / (2 sqrt(2 + t^2)); for t < 0 rewritten without cancellation:
    # 0.5 - |t|/(2s) = (s - |t|)/(2s) = 1 / (s (s + |t|)) with s = sqrt(2 + t^2).
    s = math.sqrt(2.0 + t * t)
    return 0.5 + t / (2.0 * s) if t >= 0 else 1.0 / (s * (s - t))


def _df3_cdf(t):
    return 0.5 + (t / (math.sqrt(3.0) * (1.0 + t * t / 3.0)) + math.atan(t / math.sqrt(3.0))) / math.pi


def _df4_cdf(t):
    u = 1.0 + t * t / 4.0
    return 0.5 + 3.0 / 8.0 * t / math.sqrt(u) * (1.0 - t * t / (12.0 * u))


TS = [-30.0, -7.5, -2.0, -1.0, -0.3, -1e-6, 0.0, 1e-6, 0.25, 1.0, 1.7, 4.302652729749464, 12.0, 100.0]


@pytest.mark.parametrize("df, ref", [(1, _cauchy_cdf), (2, _df2_cdf), (3, _df3_cdf), (4, _df4_cdf)])
def test_t_cdf_closed_forms(df, ref):
    for t in TS:
        # scipy.stats.t is accurate to a few 1e-12 here (df 1 near t = 0)
        assert t_cdf(t, df) == pytest.approx(ref(t), abs=1e-11, rel=1e-10), (df, t)


def test_t_cdf_special_points_and_tails():
    # the value that makes the 95% CI for n = 3
    assert t_cdf(T975_DF2, 2) == pytest.approx(0.975, abs=1e-14)
    # lower tails keep relative accuracy (no 1 - (1 - tiny))
    assert t_cdf(-1e10, 1) == pytest.approx(math.atan(1e-10) / math.pi, rel=1e-12)
    assert t_cdf(-1e5, 2) == pytest.approx(_df2_cdf(-1e5), rel=1e-12)
    assert t_sf(1e5, 2) == pytest.approx(_df2_cdf(-1e5), rel=1e-12)
    assert t_sf(2.0, 2) == pytest.approx(1.0 - _df2_cdf(2.0), abs=1e-15)
    # symmetry, limits
    assert t_cdf(1.3, 7) + t_cdf(-1.3, 7) == pytest.approx(1.0, abs=1e-15)
    assert t_cdf(0.0, 5) == 0.5
    assert t_cdf(math.inf, 3) == 1.0 and t_cdf(-math.inf, 3) == 0.0
    assert math.isnan(t_cdf(math.nan, 3))
    # df = inf is the normal distribution, and huge df approaches it
    assert t_cdf(Z975, math.inf) == pytest.approx(0.975, abs=1e-15)
    assert t_cdf(Z975, 1e12) == pytest.approx(0.975, abs=1e-12)
    # ... but not too early: at df = 1e8 the t CDF is still 1.3e-9 below the normal one
    # (reference from mpmath: 1 - betainc(df/2, 1/2, 0, df/(df+4), regularized=True)/2, 40 digits)
    assert t_cdf(2.0, 1e8) == pytest.approx(0.9772498667020466, abs=1e-14)
    assert t_cdf(2.0, 1e6) == pytest.approx(0.9772497330743404, abs=1e-12)
    assert t_cdf(2.0, 1e300) == pytest.approx(0.5 * math.erfc(-2.0 / math.sqrt(2.0)), abs=1e-15)
    # non-integer df lies between its integer neighbours
    assert t_cdf(2.0, 2) < t_cdf(2.0, 2.5) < t_cdf(2.0, 3)
    for bad in (0, -1, math.nan):
        with pytest.raises(ValueError):
            t_cdf(1.0, bad)


# ----------------------------------------------------------------------------- t_ppf

def test_t_ppf_closed_forms():
    for p in [1e-9, 0.001, 0.025, 0.1, 0.3, 0.6, 0.9, 0.975, 0.999999]:
        # df = 1: tan(pi (p - 1/2)) = -cot(pi p), written as a cotangent to stay accurate in the tails
        cauchy = -1 / math.tan(math.pi * p) if p < 0.5 else 1 / math.tan(math.pi * (1 - p))
        assert t_ppf(p, 1) == pytest.approx(cauchy, rel=1e-11)
        assert t_ppf(p, 2) == pytest.approx((2 * p - 1) / math.sqrt(2 * p * (1 - p)), rel=1e-11)
    assert t_ppf(0.975, 2) == pytest.approx(T975_DF2, rel=1e-13)
    assert t_ppf(0.975, math.inf) == pytest.approx(Z975, rel=1e-13)


@pytest.mark.parametrize("df", [0.7, 1, 2, 3, 4.5, 9, 29, 200, 1e5, 1e9])
def test_t_ppf_inverts_t_cdf(df):
    for p in [1e-12, 1e-5, 0.01, 0.025, 0.2, 0.5, 0.77, 0.975, 0.995, 1 - 1e-10]:
        t = t_ppf(p, df)
        assert t_cdf(t, df) == pytest.approx(p, rel=1e-10, abs=1e-15), (df, p)
    # (upper-tail t values are not round-tripped: t_cdf(8) = 1 - 6e-16 keeps only ~1 digit of the tail)
    for t in [-25.0, -8.0, -3.0, -0.01, 0.4, 2.2]:
        assert t_ppf(t_cdf(t, df), df) == pytest.approx(t, rel=1e-8, abs=1e-10), (df, t)


def test_t_ppf_edges():
    assert t_ppf(0.0, 3) == -math.inf
    assert t_ppf(1.0, 3) == math.inf
    assert t_ppf(0.5, 3) == 0.0
    assert math.isnan(t_ppf(math.nan, 3))
    assert t_ppf(0.025, 5) == pytest.approx(-t_ppf(0.975, 5), rel=1e-14)
    # extreme tail of the Cauchy: t ~ -1/(pi p)
    assert t_ppf(1e-300, 1) == pytest.approx(-1.0 / (math.pi * 1e-300), rel=1e-10)
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError):
            t_ppf(bad, 3)
    with pytest.raises(ValueError):
        t_ppf(0.5, 0)


# ----------------------------------------------------------------------------- mean_ci

def test_mean_ci_hand_computed():
    # [1, 2, 3]: mean 2; deviations -1, 0, 1 -> SS = 2, var = 2/(3-1) = 1, sd = 1 (ddof=1;
    # ddof=0 would give sqrt(2/3)); sem = 1/sqrt(3) = 0.57735...; half-width = t_{0.975,2} * sem
    # = 4.302652729749464 / sqrt(3) = 2.484137711750331 (z would give 1.1316).
    r = mean_ci([1, 2, 3])
    half = T975_DF2 / math.sqrt(3)
    assert half == pytest.approx(2.484137711750331, rel=1e-14)
    assert r["n"] == 3
    assert r["mean"] == pytest.approx(2.0)
    assert r["std"] == pytest.approx(1.0, rel=1e-14)
    assert r["sem"] == pytest.approx(1 / math.sqrt(3), rel=1e-14)
    assert r["half_width"] == pytest.approx(half, rel=1e-12)
    assert r["ci_low"] == pytest.approx(2 - half, rel=1e-12)
    assert r["ci_high"] == pytest.approx(2 + half, rel=1e-12)
    assert set(r) == {"n", "mean", "std", "sem", "ci_low", "ci_high", "half_width"}


def test_mean_ci_confidence_and_percent_units():
    # accuracies in percent: [70, 72, 74] -> mean 72, sd 2, sem 2/sqrt(3);
    # 99%: t_{0.995,2} = 0.99 / sqrt(2 * 0.995 * 0.005) = 9.924843200918...
    r = mean_ci(np.array([70.0, 72.0, 74.0]), confidence=0.99)
    t995 = 0.99 / math.sqrt(2 * 0.995 * 0.005)
    assert r["half_width"] == pytest.approx(t995 * 2 / math.sqrt(3), rel=1e-12)
    assert r["mean"] == pytest.approx(72.0)
    for bad in (0.0, 1.0, 95):
        with pytest.raises(ValueError):
            mean_ci([1, 2], confidence=bad)


def test_mean_ci_degenerate():
    one = mean_ci([71.48])
    assert one["n"] == 1 and one["mean"] == 71.48
    for k in ("std", "sem", "ci_low", "ci_high", "half_width"):
        assert math.isnan(one[k])
    const = mean_ci([5.0, 5.0, 5.0, 5.0])
    assert const["std"] == 0.0 and const["half_width"] == 0.0
    assert const["ci_low"] == const["ci_high"] == 5.0
    with pytest.raises(ValueError):
        mean_ci([])
    with pytest.raises(ValueError):
        mean_ci([1.0, math.nan, 3.0])


# ----------------------------------------------------------------------------- paired_test

def test_paired_test_hand_computed():
    # a = [3, 5, 7], b = [1, 2, 4] -> d = [2, 3, 3], mean 8/3.
    # deviations -2/3, 1/3, 1/3 -> SS = 4/9 + 1/9 + 1/9 = 2/3 -> var = (2/3)/2 = 1/3,
    # sd = 1/sqrt(3), sem = sd/sqrt(3) = 1/3, t = (8/3)/(1/3) = 8 with df = 2.
    # df = 2 CDF: 0.5 + t/(2 sqrt(2 + t^2)), so two-sided p = 2 (1 - F(8)) = 1 - 8/sqrt(66)
    # = 0.015268072165338... (one-sided would be 0.0076; z instead of t ~1e-15).
    # 95% CI: 8/3 -+ 4.302652729749464 * 1/3 = [1.2324..., 4.1009...].
    r = paired_test([3, 5, 7], [1, 2, 4])
    p = 1 - 8 / math.sqrt(66)
    assert p == pytest.approx(0.015268072165338, rel=1e-9)
    assert r["n"] == 3
    assert r["mean_diff"] == pytest.approx(8 / 3, rel=1e-14)
    assert r["t"] == pytest.approx(8.0, rel=1e-13)
    assert r["p_value"] == pytest.approx(p, rel=1e-11)
    assert r["ci_low"] == pytest.approx(8 / 3 - T975_DF2 / 3, rel=1e-12)
    assert r["ci_high"] == pytest.approx(8 / 3 + T975_DF2 / 3, rel=1e-12)
    assert set(r) == {"n", "mean_diff", "sd_diff", "se", "df", "ci_low", "ci_high", "t", "p_value",
                      "p_equivalence"}
    assert r["df"] == 2 and r["se"] == pytest.approx(1 / 3) and math.isnan(r["p_equivalence"])
    # direction: b - a flips t and the CI but not the two-sided p
    s = paired_test([1, 2, 4], [3, 5, 7])
    assert s["t"] == pytest.approx(-8.0, rel=1e-13)
    assert s["p_value"] == pytest.approx(p, rel=1e-11)
    assert s["ci_low"] == pytest.approx(-r["ci_high"], rel=1e-12)


def test_paired_test_is_paired_not_independent():
    # d = [1, 1.5, 0.5, 1]: mean 1, deviations 0, .5, -.5, 0 -> var = 0.5/3 = 1/6,
    # sem = sqrt(1/6)/2 = 0.2041, t = 4.898979 (= sqrt(24)), df = 3.
    # Between-seed spread (10 .. 40) is huge, so an unpaired test would find nothing.
    a = [11.0, 21.5, 30.5, 41.0]
    b = [10.0, 20.0, 30.0, 40.0]
    r = paired_test(a, b)
    assert r["t"] == pytest.approx(math.sqrt(24), rel=1e-12)
    assert r["p_value"] == pytest.approx(2 * (1 - _df3_cdf(math.sqrt(24))), rel=1e-9)
    assert r["p_value"] < 0.05


def test_paired_test_degenerate():
    with pytest.raises(ValueError):
        paired_test([1, 2, 3], [1, 2])
    one = paired_test([72.0], [70.5])
    assert one["n"] == 1 and one["mean_diff"] == 1.5
    for k in ("ci_low", "ci_high", "t", "p_value"):
        assert math.isnan(one[k])
    zero = paired_test([], [])
    assert zero["n"] == 0 and math.isnan(zero["mean_diff"]) and math.isnan(zero["p_value"])
    # all differences identical: CI collapses, p = 0 (non-zero mean) or 1 (zero mean)
    same = paired_test([3.0, 4.0, 5.0], [1.0, 2.0, 3.0])
    assert same["mean_diff"] == 2.0 and same["p_value"] == 0.0
    assert same["ci_low"] == same["ci_high"] == 2.0 and same["t"] == math.inf
    neg = paired_test([1.0, 2.0], [3.0, 4.0])
    assert neg["p_value"] == 0.0 and neg["t"] == -math.inf
    tie = paired_test([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert tie["mean_diff"] == 0.0 and tie["p_value"] == 1.0 and tie["ci_low"] == tie["ci_high"] == 0.0


# ----------------------------------------------------------------------------- scipy cross-check

def test_against_scipy():
    import scipy.stats as st
    for df in [0.8, 1, 1.5, 2, 3, 5, 9.5, 30, 120, 1000, 1e5]:
        for t in np.linspace(-40, 40, 81).tolist() + [-0.05, 0.05, 2.7]:
            ref = st.t.cdf(t, df)
            assert t_cdf(t, df) == pytest.approx(ref, abs=1e-12, rel=1e-9), (df, t)
        for p in [1e-8, 0.001, 0.025, 0.05, 0.3, 0.5, 0.8, 0.95, 0.975, 0.999]:
            assert t_ppf(p, df) == pytest.approx(st.t.ppf(p, df), rel=1e-9, abs=1e-12), (df, p)
    rng = np.random.default_rng(0)
    for n in [2, 3, 5, 10]:
        for _ in range(5):
            a = rng.normal(70, 2, n)
            b = a - rng.normal(0.5, 1.0, n)
            r = paired_test(a, b)
            ref = st.ttest_rel(a, b)
            assert r["t"] == pytest.approx(ref.statistic, rel=1e-10)
            assert r["p_value"] == pytest.approx(ref.pvalue, rel=1e-8)
            lo, hi = st.t.interval(0.95, n - 1, loc=np.mean(a - b), scale=st.sem(a - b))
            assert (r["ci_low"], r["ci_high"]) == pytest.approx((lo, hi), rel=1e-9)
            m = mean_ci(a, 0.9)
            lo, hi = st.t.interval(0.9, n - 1, loc=np.mean(a), scale=st.sem(a))
            assert (m["ci_low"], m["ci_high"]) == pytest.approx((lo, hi), rel=1e-10)


def test_library_imports_no_snakemake():
    code = ("import sys, cifar_nets.study.stats; "
            "bad = [m for m in sys.modules if m.split('.')[0] == 'snakemake']; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True,
                   cwd=str(__import__("pathlib").Path(__file__).resolve().parents[1]))


# ----------------------------------------------------------------------------- seed_summary

def _summary_runs():
    return pd.DataFrame({
        "recipe": ["base"] * 5 + ["aug"],
        "block_type": ["resnet", "resnet", "resnet", "convnet", "resnet", "resnet"],
        "n_blocks": [2, 2, 2, 2, 4, 2],
        "seed": [0, 1, 2, 0, 0, 0],
        "test_acc": [70.0, 72.0, 74.0, 65.0, 71.5, 80.0],
    })


def test_seed_summary():
    out = seed_summary(_summary_runs())  # "model" is not a column: skipped
    assert list(out.columns) == ["recipe", "block_type", "n_blocks", "n_seeds", "mean", "std",
                                 "ci_low", "ci_high", "half_width"]
    assert len(out) == 4
    keyed = out.set_index(["recipe", "block_type", "n_blocks"])
    r = keyed.loc[("base", "resnet", 2)]
    # [70, 72, 74]: mean 72, sd 2 (ddof=1), half-width = 4.3026527 * 2 / sqrt(3) = 4.968275...
    assert r["n_seeds"] == 3 and r["mean"] == pytest.approx(72.0)
    assert r["std"] == pytest.approx(2.0, rel=1e-14)
    assert r["half_width"] == pytest.approx(T975_DF2 * 2 / math.sqrt(3), rel=1e-12)
    assert r["ci_low"] == pytest.approx(72.0 - T975_DF2 * 2 / math.sqrt(3), rel=1e-12)
    single = keyed.loc[("base", "convnet", 2)]
    assert single["n_seeds"] == 1 and single["mean"] == 65.0 and math.isnan(single["std"])
    assert keyed.loc[("aug", "resnet", 2), "mean"] == 80.0
    assert out["n_seeds"].dtype.kind == "i"


def test_seed_summary_group_subset_and_none():
    runs = _summary_runs()
    out = seed_summary(runs, group_cols=("block_type",))
    assert list(out["block_type"]) == ["convnet", "resnet"]
    assert list(out["n_seeds"]) == [1, 5]
    whole = seed_summary(runs, group_cols=("model",))  # no group column present: one row
    assert len(whole) == 1 and whole.loc[0, "n_seeds"] == 6
    assert whole.loc[0, "mean"] == pytest.approx(runs["test_acc"].mean())
    with pytest.raises(ValueError):
        seed_summary(runs, value_col="val_acc")
