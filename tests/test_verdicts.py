"""Verdicts a statistics reviewer would sign (issue 22): Holm, Benjamini-Hochberg and TOST against
hand-computed and closed-form cases, Stein's two-stage test, P(A > B), the seeds that would
decide, the three verdicts and their words, and by simulation that the family-wise error under
the null stays at 5% with the correction and does not without it.

Each expectation is chosen so that a plausible bug fails it: adjusting in sorted instead of input
order, forgetting Holm's monotonicity, m counting untestable rows, a two-sided TOST, "not
significant" read as "the same".
"""
import math

import numpy as np
import pandas as pd
import pytest

from cifar_nets.study.stats import adjust_p, paired_test, prob_better, seeds_to_decide, tost_p
from cifar_nets.study.verdicts import (StatsSettings, describe_comparison, family_sentence, format_p,
                                 paired_comparisons)


def _df2_cdf(t):
    s = math.sqrt(2.0 + t * t)
    return 0.5 + t / (2.0 * s) if t >= 0 else 1.0 / (s * (s - t))


# ----------------------------------------------------------------------------- Holm and BH

def test_holm_hand_computed_the_issues_three_p_values():
    # docs/results.md once called all three "significant": Holm over the three alone gives
    # 0.0002 x 3 = 0.0006; 0.029 x 2 = 0.058; 0.040 x 1 = 0.040 -> raised to 0.058 (monotone)
    adj = adjust_p([0.029, 0.040, 0.0002], "holm")
    assert adj == pytest.approx([0.058, 0.058, 0.0006], rel=1e-12)
    assert (adj < 0.05).tolist() == [False, False, True]


def test_holm_caps_at_one_keeps_nan_out_of_the_family_and_input_order():
    assert adjust_p([0.6, 0.3], "holm") == pytest.approx([0.6, 0.6])       # 0.3 x 2, then max
    assert adjust_p([0.9, 0.5, 0.01], "holm") == pytest.approx([1.0, 1.0, 0.03])
    adj = adjust_p([math.nan, 0.01, 0.04], "holm")                          # m = 2, not 3
    assert math.isnan(adj[0]) and adj[1:] == pytest.approx([0.02, 0.04])
    assert adjust_p([0.2, 0.01], "none") == pytest.approx([0.2, 0.01])
    assert np.isnan(adjust_p([math.nan], "bh")).all() and adjust_p([], "holm").size == 0
    with pytest.raises(ValueError, match="correction"):
        adjust_p([0.1], "bonferroni")
    with pytest.raises(ValueError):
        adjust_p([1.5], "holm")


def test_bh_hand_computed_and_against_scipy():
    # sorted 0.005, 0.01, 0.03, 0.04 (m = 4): x 4/1, 4/2, 4/3, 4/4 = 0.02, 0.02, 0.04, 0.04,
    # then the running minimum from the top; back in input order
    adj = adjust_p([0.01, 0.04, 0.03, 0.005], "bh")
    assert adj == pytest.approx([0.02, 0.04, 0.04, 0.02], rel=1e-12)
    from scipy.stats import false_discovery_control
    rng = np.random.default_rng(1)
    for m in (1, 2, 5, 17):
        p = rng.uniform(0, 0.2, m)
        assert adjust_p(p, "bh") == pytest.approx(false_discovery_control(p, method="bh"), rel=1e-12)
        assert np.all(adjust_p(p, "bh") <= adjust_p(p, "holm") + 1e-15)    # BH never stricter


# ----------------------------------------------------------------------------- TOST, Stein, P(A>B)

def test_tost_closed_form_df2():
    # mean 0.2, se 0.3, df 2, margin 1: H0 d <= -1 has t = 1.2/0.3 = 4, p = 1 - F(4);
    # H0 d >= 1 has t = -0.8/0.3, p = F(-8/3); TOST p is the larger of the two
    p_low, p_high = 1 - _df2_cdf(4.0), _df2_cdf(-8 / 3)
    assert p_low == pytest.approx(0.0285954792, rel=1e-8)
    assert tost_p(0.2, 0.3, 2, 1.0) == pytest.approx(max(p_low, p_high), rel=1e-10)
    assert tost_p(-0.2, 0.3, 2, 1.0) == pytest.approx(max(p_low, p_high), rel=1e-10)   # symmetric
    assert tost_p(0.5, 0.0, 2, 1.0) == 0.0 and tost_p(1.0, 0.0, 2, 1.0) == 1.0


def test_tost_is_the_90_percent_interval_inside_the_margin():
    """TOST at 5% shows equivalence exactly when the 90% interval lies inside +-margin."""
    rng = np.random.default_rng(0)
    for _ in range(300):
        d = rng.normal(rng.uniform(-1.5, 1.5), rng.uniform(0.1, 1.5), int(rng.integers(2, 9)))
        r = paired_test(d, np.zeros_like(d), confidence=0.90, margin=1.0)
        inside = -1.0 < r["ci_low"] and r["ci_high"] < 1.0
        assert (r["p_equivalence"] < 0.05) == inside


def test_stein_uses_the_first_stage_sd_and_its_degrees_of_freedom():
    # d = [1, 2, 3, 10]: first stage [1, 2, 3] has sd 1, df 2; se = 1 / sqrt(4) = 0.5,
    # mean 4, t = 8, p = 1 - 8/sqrt(66) (df 2); the ordinary test would use sd of all four
    d = np.array([1.0, 2.0, 3.0, 10.0])
    r = paired_test(d, np.zeros(4), first_stage=3)
    assert r["df"] == 2 and r["se"] == pytest.approx(0.5) and r["t"] == pytest.approx(8.0)
    assert r["p_value"] == pytest.approx(1 - 8 / math.sqrt(66), rel=1e-10)
    assert r["ci_high"] - r["mean_diff"] == pytest.approx(4.302652729749464 * 0.5, rel=1e-10)
    assert r["sd_diff"] == pytest.approx(np.std(d, ddof=1))       # the table still shows all
    assert paired_test(d, np.zeros(4), first_stage=4)["df"] == 3  # first stage = all: ordinary


def test_prob_better_counts_every_pair_ties_half():
    # 1 vs (2, 2, 0): 0, 0, 1; 2 vs: .5, .5, 1; 3 vs: 1, 1, 1 -> 6 / 9
    assert prob_better([1, 2, 3], [2, 2, 0]) == pytest.approx(6 / 9)
    assert prob_better([5], [5]) == 0.5 and math.isnan(prob_better([], [1]))


def test_seeds_to_decide_matches_the_textbook_power_and_grows_with_the_sd():
    # effect size 1 (difference = sd), two-sided 5%, 80% power: 10 pairs (G*Power: 0.803)
    assert seeds_to_decide(1.0, 1.0, None, 0.05) == 10
    assert seeds_to_decide(1.0, 2.0, None, 0.05) > seeds_to_decide(1.0, 1.0, None, 0.05)
    assert seeds_to_decide(1.0, 1.0, None, 0.05 / 3) > 10                  # a stricter level
    # no difference at all: equivalence within the margin is what can be shown
    assert seeds_to_decide(0.0, 0.5, 1.0, 0.05) < seeds_to_decide(0.0, 1.0, 1.0, 0.05) < 100
    assert seeds_to_decide(0.0, 50.0, 1.0, 0.05, max_seeds=50) is None


# ----------------------------------------------------------------------------- the table

def _runs(values: dict) -> pd.DataFrame:
    return pd.DataFrame([{"recipe": r, "n_blocks": n, "block_type": b, "seed": s, "test_acc": v}
                         for (r, n, b), accs in values.items() for s, v in enumerate(accs)])


def _three_verdicts_runs():
    return _runs({
        ("nb", 6, "conv"): [65.0, 64.0, 66.0, 65.5],
        ("nb", 6, "res"): [70.0, 69.2, 71.1, 70.4],    # about +5, tight: better
        ("nb", 6, "skip"): [65.1, 64.0, 65.9, 65.6],   # within 0.1 of conv: equivalent
        ("nb", 2, "conv"): [60.0, 62.0, 58.0, 61.0],
        ("nb", 2, "res"): [61.5, 60.0, 60.5, 63.0],    # noisy: inconclusive
    })


def test_three_verdicts_and_the_family():
    out = paired_comparisons(_three_verdicts_runs())
    v = {(r.n_blocks, r.a, r.b): r for r in out.itertuples(index=False)}
    assert v[(6, "conv", "res")].verdict == "better" and v[(6, "conv", "res")].winner == "res"
    assert v[(6, "conv", "skip")].verdict == "equivalent" and v[(6, "conv", "skip")].winner == ""
    assert v[(2, "conv", "res")].verdict == "inconclusive"
    assert v[(2, "conv", "res")].seeds_to_decide > 4
    assert set(out.family_size) == {4} and set(out.correction) == {"holm"}
    # Holm over the 4 comparisons of the study, in input order
    assert out.p_adjusted.to_numpy() == pytest.approx(adjust_p(out.p_value, "holm"))
    assert out.p_equivalence_adjusted.to_numpy() == pytest.approx(adjust_p(out.p_equivalence, "holm"))
    per_group = paired_comparisons(_three_verdicts_runs(), settings=StatsSettings(family="group"))
    assert per_group.set_index("n_blocks").family_size.to_dict() == {2: 1, 6: 3}
    none = paired_comparisons(_three_verdicts_runs(), settings=StatsSettings(correction="none"))
    assert none.p_adjusted.tolist() == none.p_value.tolist()


def test_a_raw_p_below_005_that_the_correction_lifts_is_inconclusive_not_better():
    """Three comparisons of one group with raw p about 0.03, 0.04 and 0.0002 (as in the issue):
    Holm makes the first two inconclusive; uncorrected they would read as wins."""
    runs = _runs({("m", 6, "a"): [70.0, 70.0, 70.0], ("m", 6, "b"): [68.0, 69.0, 68.2],
                  ("m", 6, "c"): [70.0, 70.1, 70.0]})
    out = paired_comparisons(runs, settings=StatsSettings(equivalence_margin=0.01))
    raw_wins = (out.p_value < 0.05).sum()
    assert raw_wins >= 2
    assert (out.verdict == "better").sum() < raw_wins
    lifted = out[(out.p_value < 0.05) & (out.verdict != "better")]
    assert len(lifted) and set(lifted.verdict) == {"inconclusive"}


def test_one_seed_and_no_common_seed_are_untested():
    out = paired_comparisons(_runs({("r", 1, "a"): [70.0], ("r", 1, "b"): [71.0]}))
    assert out.verdict.tolist() == ["untested"] and out.family_size.tolist() == [0]
    text = describe_comparison(out.iloc[0])
    assert "only one seed" in text and "no verdict" in text
    none = paired_comparisons(pd.DataFrame({"block_type": ["A", "B"], "seed": [0, 1],
                                            "test_acc": [70.0, 71.0]}))
    assert none.n_pairs.tolist() == [0] and "no paired seeds" in describe_comparison(none.iloc[0])


# ----------------------------------------------------------------------------- the words

NAMES = {"conv": "Custom_ConvNet", "res": "Custom_ResNet", "skip": "Custom_SkipNet"}


def test_every_sentence_names_its_test_correction_and_verdict_never_same_or_significant():
    out = paired_comparisons(_three_verdicts_runs())
    texts = {r.verdict: describe_comparison(r, NAMES) for r in out.itertuples(index=False)
             if (r.a, r.b) != ("res", "skip")}
    assert texts["better"].startswith("Custom_ResNet better than Custom_ConvNet by 5.1 points")
    assert "paired t-test over 4 seeds" in texts["better"]
    assert "Holm's method over 4 comparisons" in texts["better"]
    assert texts["equivalent"].startswith("Custom_SkipNet and Custom_ConvNet equivalent within ±1 point:")
    assert "two one-sided tests" in texts["equivalent"]
    assert "inconclusive: 4 seeds cannot tell" in texts["inconclusive"]
    assert "paired seeds would decide at the observed sd" in texts["inconclusive"]
    for text in texts.values():
        assert "same" not in text and "significant" not in text and "95% CI over seeds" in text
        assert "P(" in text
    sentence = family_sentence(out)
    assert "Holm's method over all 4 comparisons of the study" in sentence
    assert "never \"the same\"" in sentence


def test_format_p_never_rounds_across_alpha():
    assert format_p(0.0496) == "p = 0.0496"  # not "p = 0.05" for a result below alpha
    assert format_p(0.0504) == "p = 0.05"
    assert format_p(0.41) == "p = 0.41" and format_p(0.002) == "p = 0.002"
    assert format_p(0.0004) == "p < 0.001" and format_p(1.0) == "p = 1"


# ----------------------------------------------------------------------------- family-wise error

def _null_p_values(rng, studies, groups, blocks, seeds):
    """Paired t p-values of every pair of block types in every group, under the null (every block
    type the same mean; a shared seed effect makes pairs of one seed correlated, as in the study)."""
    seed_effect = rng.normal(0, 1.0, (studies, groups, 1, seeds))
    acc = 70 + seed_effect + rng.normal(0, 0.5, (studies, groups, blocks, seeds))
    from scipy import stats
    ps = []
    for i in range(blocks):
        for j in range(i + 1, blocks):
            d = acc[:, :, i, :] - acc[:, :, j, :]
            t = d.mean(-1) / (d.std(-1, ddof=1) / math.sqrt(seeds))
            ps.append(2 * stats.t.sf(np.abs(t), seeds - 1))
    return np.stack(ps, axis=-1).reshape(studies, -1)      # (studies, groups x pairs)


@pytest.mark.parametrize("groups", [1, 4])
def test_family_wise_error_under_the_null_is_at_most_five_percent_with_holm(groups):
    rng = np.random.default_rng(7)
    studies = 4000
    p = _null_p_values(rng, studies, groups, blocks=3, seeds=3)
    holm = np.array([adjust_p(row, "holm") for row in p])
    fwer = float(np.mean((holm < 0.05).any(axis=1)))
    raw = float(np.mean((p < 0.05).any(axis=1)))
    se = math.sqrt(0.05 * 0.95 / studies)
    assert fwer <= 0.05 + 3 * se, fwer
    if groups > 1:       # 12 comparisons unadjusted: far above the nominal level
        assert raw > 0.2, raw


# ----------------------------------------------------------------------------- the docs' numbers

def test_the_docs_hold_the_verdicts_recomputed_from_the_recorded_runs():
    """docs/results.md and docs/speed.md carry exactly the tables scripts/recorded_verdicts.py
    computes from the per-seed accuracies they list (so a change of statistics shows in them)."""
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, str(root / "scripts/recorded_verdicts.py")],
                         capture_output=True, text=True, check=True).stdout
    tables = [b.strip() for b in out.split("\n\n") if b.startswith("|")]
    assert len(tables) == 4
    docs = (root / "docs/results.md").read_text() + (root / "docs/speed.md").read_text()
    for t in tables:
        assert t in docs, t.splitlines()[0]
