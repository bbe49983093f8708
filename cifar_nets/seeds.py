"""Seeds until the answer is clear: how many seeds each (recipe, n_blocks) group gets.

`study.seeds` is a list (every group gets those seeds) or a precision target
``{min, max, step, target_halfwidth}``: every group starts with seeds 0..min-1; after each
round, a group whose widest 95% interval of a paired difference between block types is wider
than ``target_halfwidth`` (points of test accuracy, half the interval) gets ``step`` more seeds,
until the target or ``max`` seeds. The rule looks at interval *width* only, never at a
difference's sign or p-value: stopping when p < 0.05 inflates false positives
(:func:`simulate_false_positives` shows both). The workflow runs one Snakemake checkpoint per
round (rules/seeds.smk).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .stats import paired_comparisons

TARGET_MET = "target met"
STOPPED_AT_MAX = "stopped at max"
MORE = "more seeds"


@dataclass(frozen=True)
class SeedTarget:
    min: int
    max: int
    step: int
    target_halfwidth: float
    confidence: float = 0.95

    @classmethod
    def from_config(cls, spec: dict) -> "SeedTarget":
        return cls(**spec)


def is_target(seeds) -> bool:
    """Whether `study.seeds` is a precision target (a mapping) rather than a list."""
    return isinstance(seeds, dict)


def widest_halfwidths(runs: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Per (recipe, n_blocks): seeds used, and the widest half-width of the paired-difference
    intervals between block types (inf while a group has fewer than two paired seeds)."""
    rows = []
    for (recipe, n_blocks), sub in runs.groupby(["recipe", "n_blocks"], sort=False):
        paired = paired_comparisons(sub, by=(), confidence=confidence)
        half = (paired.ci_high - paired.mean_diff).to_numpy(dtype=float)
        widest = float(np.max(half)) if len(half) and np.isfinite(half).all() else math.inf
        rows.append({"recipe": recipe, "n_blocks": int(n_blocks),
                     "seeds": sorted(int(s) for s in sub.seed.unique()),
                     "widest_halfwidth": widest})
    return pd.DataFrame(rows, columns=["recipe", "n_blocks", "seeds", "widest_halfwidth"])


def decide(runs: pd.DataFrame, target: SeedTarget) -> list[dict]:
    """One round's decision per group: its status and the seeds of the next round.

    `runs` holds test_acc per (recipe, n_blocks, block_type, seed) of every finished run so far.
    """
    out = []
    for row in widest_halfwidths(runs, target.confidence).itertuples(index=False):
        n = len(row.seeds)
        if row.widest_halfwidth <= target.target_halfwidth:
            status, nxt = TARGET_MET, row.seeds
        elif n >= target.max:
            status, nxt = STOPPED_AT_MAX, row.seeds
        else:
            status, nxt = MORE, list(range(min(target.max, n + target.step)))
        out.append({"recipe": row.recipe, "n_blocks": row.n_blocks, "seeds": row.seeds,
                    "widest_halfwidth": row.widest_halfwidth, "status": status,
                    "next_seeds": nxt})
    return out


# --------------------------------------------------------------------------- the simulation

def _t_stats(d: np.ndarray, n: int, confidence: float):
    """Half-width of the CI and two-sided p of the mean of the first n columns of d."""
    from scipy import stats  # noqa: PLC0415
    x = d[:, :n]
    mean, sd = x.mean(axis=1), x.std(axis=1, ddof=1)
    sem = sd / math.sqrt(n)
    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * sem
    p = 2 * stats.t.sf(np.abs(mean / sem), n - 1)
    return half, p


def simulate_false_positives(target: SeedTarget, *, studies: int = 20_000, sd: float = 1.0,
                             seed: int = 0) -> dict:
    """Share of 'significant' conclusions when there is no true difference, for two rules.

    Each simulated study has paired differences drawn from one normal distribution with mean 0
    (what two block types give when neither is better). *precision*: add `step` seeds while the
    interval's half-width is above the target, up to `max`; *p-value*: add seeds until p < 0.05
    (or `max`). Each then reports "significant" if the final p < 1 - confidence. Returns both
    rates and the mean number of seeds each used.
    """
    rng = np.random.default_rng(seed)
    d = rng.normal(0.0, sd, size=(studies, target.max))
    alpha = 1 - target.confidence
    steps = list(range(target.min, target.max, target.step)) + [target.max]
    out = {}
    for rule in ("precision", "p_value"):
        stopped = np.zeros(studies, dtype=bool)
        significant = np.zeros(studies, dtype=bool)
        used = np.zeros(studies, dtype=int)
        for n in steps:
            half, p = _t_stats(d, n, target.confidence)
            stop = (half <= target.target_halfwidth) if rule == "precision" else (p < alpha)
            stop = (stop | (n == target.max)) & ~stopped
            significant[stop] = p[stop] < alpha
            used[stop] = n
            stopped |= stop
        out[rule] = {"false_positive_rate": float(significant.mean()), "mean_seeds": float(used.mean())}
    return out


FIXED = "fixed list of seeds"


def stopping_table(runs: pd.DataFrame, decision: dict | None = None) -> pd.DataFrame:
    """Why each (recipe, n_blocks) group has the seeds it has: seeds used, the widest 95%
    half-width of its paired differences, the target and "target met" / "stopped at max"
    (from the last round's `decision`), or "fixed list of seeds" for a list in the config."""
    cols = ["recipe", "n_blocks", "seeds_used", "widest_halfwidth", "target_halfwidth",
            "status", "rounds"]
    if decision is None:
        rows = [{"recipe": r.recipe, "n_blocks": r.n_blocks, "seeds_used": len(r.seeds),
                 "widest_halfwidth": r.widest_halfwidth, "target_halfwidth": math.nan,
                 "status": FIXED, "rounds": 1}
                for r in widest_halfwidths(runs).itertuples(index=False)]
    else:
        rows = [{"recipe": g["recipe"], "n_blocks": g["n_blocks"], "seeds_used": len(g["seeds"]),
                 "widest_halfwidth": g["widest_halfwidth"],
                 "target_halfwidth": decision["target"]["target_halfwidth"],
                 "status": g["status"], "rounds": decision["round"] + 1}
                for g in decision["groups"]]
    return pd.DataFrame(rows, columns=cols)


def stopping_sentences(table: pd.DataFrame) -> list[str]:
    out = []
    for r in table.itertuples(index=False):
        width = ("not computable (fewer than 2 paired seeds)" if not math.isfinite(r.widest_halfwidth)
                 else f"±{r.widest_halfwidth:.2f} points")
        why = (f"{r.status} (target ±{r.target_halfwidth:g} points, {r.rounds} round(s))"
               if r.status != FIXED else r.status)
        out.append(f"{r.recipe} recipe, {r.n_blocks} blocks: {r.seeds_used} seeds per block type; "
                   f"widest 95% interval of a paired difference {width}: {why}.")
    return out
