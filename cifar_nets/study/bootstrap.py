"""Intervals that also resample the test images: a two-level bootstrap over seeds and images.

A paired t-interval over seeds answers "how much would the difference move with other seeds, on
these 10,000 test images?". A claim about CIFAR-10-like images in general has a second source of
variance: which images happen to be in the test set (Bouthillier et al. 2021; Jordan 2023 for
CIFAR-10). Each run's predictions.csv says which test images it got right, so both sources can be
resampled: a draw takes the test images with replacement (the same images for every block type
and seed: the comparison stays paired on images) and, independently, the seeds with replacement
(the same seeds for both block types: paired on seeds), and averages the per-seed differences.

With few seeds, resampling them is too narrow by the factor (n-1)/n in variance; the seed
draws' deviations are scaled by sqrt(n/(n-1)) for that. Resampling both factors of a crossed
(seeds x images) design counts their interaction twice (Owen 2007, "The pigeonhole bootstrap");
the interaction's variance, estimated from the two-way residuals, is taken out once. The interval
is the observed difference +- t(df) x the draws' standard deviation, df from Welch-Satterthwaite:
the seed part of the variance has n - 1 degrees of freedom, the image part many. So 3 seeds whose
spread dominates give an interval as wide as Student's t with 2 degrees of freedom, and a test set
whose sampling dominates gives a normal one; it is never narrower than the seed interval.
tests/test_bootstrap.py checks its coverage of a
known difference by simulation in both cases.

Vectorised: the image draws of a group are counts (draws x images), shared by all its pairs, and
one matrix-vector product gives the seed-averaged difference under every draw; the seed draws
are independent of the image draws and add to them (resampling seeds within an image draw would
count the seed x image interaction a second time, as E[count^2] = 2).
"""
from __future__ import annotations

import math
import zlib

import numpy as np

from cifar_nets.study.stats import t_ppf

__all__ = ["image_weights", "two_level_interval", "group_rng"]

_CHUNK = 2_000_000   # image indices drawn at once (16 MB of int64)


def group_rng(seed: int, key) -> np.random.Generator:
    """The generator of one group's draws: from the configured seed and the group's key (its
    recipe and depth, not its position), so adding a group leaves the others' draws alone."""
    return np.random.default_rng([int(seed), zlib.crc32(repr(key).encode())])


def image_weights(n_images: int, draws: int, rng: np.random.Generator) -> np.ndarray:
    """(draws, n_images) float32: how often each test image is taken in each bootstrap draw
    (each row sums to n_images)."""
    if n_images < 1 or draws < 1:
        raise ValueError(f"need at least one image and one draw, got {n_images} and {draws}")
    out = np.empty((draws, n_images), dtype=np.float32)
    per = max(1, _CHUNK // n_images)
    for start in range(0, draws, per):
        k = min(per, draws - start)
        idx = rng.integers(0, n_images, size=(k, n_images)) + (np.arange(k) * n_images)[:, None]
        out[start:start + k] = np.bincount(idx.ravel(), minlength=k * n_images).reshape(k, n_images)
    return out


def two_level_interval(correct_a: np.ndarray, correct_b: np.ndarray, weights: np.ndarray,
                       rng: np.random.Generator, confidence: float = 0.95) -> dict:
    """Difference A - B in points with an interval over seeds and test images.

    ``correct_a``, ``correct_b``: (seeds, images) booleans, row i of both from the same seed,
    column j from the same test image. ``weights``: :func:`image_weights` for these images.
    Returns ``{"mean_diff", "se", "df", "ci_low", "ci_high"}`` (points); NaN interval with one
    seed.
    """
    a = np.asarray(correct_a, dtype=np.float32)
    b = np.asarray(correct_b, dtype=np.float32)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"need two equally shaped (seeds, images) arrays, got {a.shape} and {b.shape}")
    n, n_images = a.shape
    if weights.shape[1] != n_images:
        raise ValueError(f"weights are for {weights.shape[1]} images, the runs have {n_images}")
    d = a - b
    mean = float(d.mean()) * 100.0
    nan = math.nan
    if n < 2:
        return {"mean_diff": mean, "se": nan, "df": nan, "ci_low": nan, "ci_high": nan}
    centre = (d.mean(axis=0) @ weights.T) / n_images           # (draws,): the image level
    draws = centre.shape[0]
    per_seed = d.mean(axis=1)                                  # (seeds,): each seed's difference
    pick = rng.integers(0, n, size=(draws, n))                 # the seed level, drawn independently
    seed_dev = math.sqrt(n / (n - 1)) * (per_seed[pick].mean(axis=1) - per_seed.mean())
    boot = centre + seed_dev
    resid = d - per_seed[:, None] - d.mean(axis=0, keepdims=True) + d.mean()
    interaction = float(np.square(resid, dtype=np.float64).sum()) / ((n - 1) * max(n_images - 1, 1))
    v_seed = float(np.var(seed_dev, ddof=1))
    v_total = max(float(np.var(boot, ddof=1)) - interaction / (n * n_images), v_seed)
    df = math.inf if v_seed == 0.0 else min(1e6, (n - 1) * (v_total / v_seed) ** 2)
    se = math.sqrt(v_total) * 100.0
    # never narrower than the interval over seeds alone (which Satterthwaite's larger df could
    # give when the images add almost nothing): it answers a wider question
    seed_half = t_ppf(0.5 + 0.5 * confidence, n - 1) * float(np.std(per_seed, ddof=1)) / math.sqrt(n)
    half = max(t_ppf(0.5 + 0.5 * confidence, df) * se, seed_half * 100.0)
    return {"mean_diff": mean, "se": se, "df": df, "ci_low": mean - half, "ci_high": mean + half}
