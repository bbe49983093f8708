"""How often each seed-stopping rule calls a difference "significant" when there is none.

``python -m cifar_nets.study.stopping_sim`` prints the table of docs/statistics.md ("Seeds until the
answer is clear"); tests/test_seeds.py checks that the page holds exactly what it prints.

Each simulated study has paired differences between two block types drawn from one normal
distribution with mean 0 (neither is better). Three rules choose how many seeds it gets:

* ``two_stage``: Stein's two-stage rule, the project's (cifar_nets/study/seeds.py): the first ``min``
  seeds give the sd, which fixes the total; the verdict uses Stein's test (first-stage sd,
  ``min - 1`` degrees of freedom).
* ``repeated_width``: the project's earlier rule: add ``step`` seeds while the ordinary interval
  is wider than the target, up to ``max``; the ordinary t-test at the end.
* ``p_value``: add seeds until p < 0.05 or ``max`` ("optional stopping").
"""
from __future__ import annotations

import argparse
import math

import numpy as np
from scipy import stats

from cifar_nets.study.seeds import SeedTarget

RULES = ("two_stage", "repeated_width", "p_value")
# The settings of the docs table: the paired-difference sd as a multiple of the target
SD_RATIOS = (0.2, 0.5, 1.0, 2.0)
DOC_TARGET = SeedTarget(min=3, max=10, step=2, target_halfwidth=1.0)
STUDIES = 20_000


def _prefix_means(d: np.ndarray) -> np.ndarray:
    """(studies, max + 1): column n is the mean of the first n differences (column 0 unused)."""
    c = np.cumsum(d, axis=1)
    n = np.arange(1, d.shape[1] + 1)
    return np.concatenate([np.zeros((len(d), 1)), c / n], axis=1)


def _ordinary(d: np.ndarray, n: int, confidence: float):
    x = d[:, :n]
    mean, sd = x.mean(axis=1), x.std(axis=1, ddof=1)
    sem = sd / math.sqrt(n)
    return stats.t.ppf(0.5 + confidence / 2, n - 1) * sem, 2 * stats.t.sf(np.abs(mean / sem), n - 1)


def simulate_false_positives(target: SeedTarget, *, studies: int = STUDIES, sd: float = 1.0,
                             seed: int = 0) -> dict:
    """{rule: {"false_positive_rate", "mean_seeds"}} for each rule of RULES (module docstring)."""
    rng = np.random.default_rng(seed)
    d = rng.normal(0.0, sd, size=(studies, target.max))
    alpha = 1 - target.confidence
    out = {}
    # two-stage: n from the first-stage sd only, Stein's statistic
    s0 = d[:, :target.min].std(axis=1, ddof=1)
    t0 = stats.t.ppf(0.5 + target.confidence / 2, target.min - 1)
    need = np.maximum(target.min, np.ceil((t0 * s0 / target.target_halfwidth) ** 2 - 1e-9))
    need = target.min + np.ceil((need - target.min) / target.step) * target.step
    n = np.minimum(target.max, need).astype(int)
    mean = _prefix_means(d)[np.arange(studies), n]
    stein_t = mean * np.sqrt(n) / s0
    out["two_stage"] = {"false_positive_rate": float(np.mean(np.abs(stein_t) > t0)),
                        "mean_seeds": float(n.mean())}
    steps = list(range(target.min, target.max, target.step)) + [target.max]
    for rule in ("repeated_width", "p_value"):
        stopped = np.zeros(studies, dtype=bool)
        significant = np.zeros(studies, dtype=bool)
        used = np.zeros(studies, dtype=int)
        for k in steps:
            half, p = _ordinary(d, k, target.confidence)
            stop = (half <= target.target_halfwidth) if rule == "repeated_width" else (p < alpha)
            stop = (stop | (k == target.max)) & ~stopped
            significant[stop] = p[stop] < alpha
            used[stop] = k
            stopped |= stop
        out[rule] = {"false_positive_rate": float(significant.mean()), "mean_seeds": float(used.mean())}
    return out


def simulation_error(rate: float = 0.05, studies: int = STUDIES) -> float:
    """The standard error of a simulated rate (binomial)."""
    return math.sqrt(rate * (1 - rate) / studies)


def docs_table(target: SeedTarget = DOC_TARGET, studies: int = STUDIES) -> str:
    """The Markdown table of docs/statistics.md."""
    head = (f"| paired-difference sd vs target (min {target.min}, max {target.max}, step "
            f"{target.step}) | two-stage (Stein), the rule used | earlier rule: repeated looks "
            f"at the width | stop as soon as p < 0.05 |\n| --- | ---: | ---: | ---: |\n")
    rows = []
    for ratio in SD_RATIOS:
        sim = simulate_false_positives(target, studies=studies, sd=ratio * target.target_halfwidth)
        cells = [f"{sim[r]['false_positive_rate'] * 100:.1f}% ({sim[r]['mean_seeds']:.1f} seeds)"
                 for r in RULES]
        rows.append(f"| sd {ratio:g} x target | " + " | ".join(cells) + " |")
    return head + "\n".join(rows) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m cifar_nets.study.stopping_sim",
                                     description="Print the false-positive table of docs/statistics.md.")
    parser.add_argument("--studies", type=int, default=STUDIES, help="simulated studies per setting")
    args = parser.parse_args(argv)
    print(docs_table(studies=args.studies), end="")


if __name__ == "__main__":
    main()
