"""The interval over seeds and test images (cifar_nets/study/bootstrap.py): it covers a known population
difference about 95% of the time, where the seed-only interval (a statement about one fixed test
set) does not; it is seeded and reproducible, and paired on seeds and images."""
import numpy as np
import pandas as pd
import pytest

from cifar_nets.study.bootstrap import group_rng, image_weights, two_level_interval
from cifar_nets.study.stats import paired_test
from cifar_nets.study.verdicts import StatsSettings, paired_comparisons

# Image kinds: share of the population, P(A right), P(B right). Every seed moves a block type's
# probabilities by +-seed_shift (a fair coin per seed and block type), so over seeds and images
# the true difference is exactly sum(share x (pA - pB)).
KINDS = np.array([[0.45, 0.95, 0.95], [0.15, 0.80, 0.40], [0.15, 0.30, 0.60],
                  [0.25, 0.10, 0.10]])
TRUE_DIFF = float((KINDS[:, 0] * (KINDS[:, 1] - KINDS[:, 2])).sum()) * 100   # points


def _study(rng, seeds, images, seed_shift):
    kind = rng.choice(len(KINDS), size=images, p=KINDS[:, 0])
    shift = seed_shift * rng.choice([-1.0, 1.0], size=(2, seeds, 1))
    pa = KINDS[kind, 1][None, :] + shift[0]
    pb = KINDS[kind, 2][None, :] + shift[1]
    return rng.random((seeds, images)) < pa, rng.random((seeds, images)) < pb


def test_true_difference_of_the_model():
    assert TRUE_DIFF == pytest.approx(1.5)   # 0.15 x 0.4 - 0.15 x 0.3 = 0.015


@pytest.mark.slow
@pytest.mark.parametrize("seed_shift,seeds", [(0.001, 10), (0.02, 3)], ids=["images-dominate", "seeds-dominate"])
def test_two_level_interval_covers_a_known_difference_about_95_percent(seed_shift, seeds):
    """Test-set sampling dominating (ten seeds that hardly differ) and three seeds
    dominating (seed sd about 2.8 points): both about 95%."""
    rng = np.random.default_rng(2024)
    sims, images = 400, 2000
    covered = seed_only = 0
    for _ in range(sims):
        ca, cb = _study(rng, seeds, images, seed_shift)
        w = image_weights(images, 400, rng)
        r = two_level_interval(ca, cb, w, rng, 0.95)
        covered += r["ci_low"] <= TRUE_DIFF <= r["ci_high"]
        t = paired_test(ca.mean(1) * 100, cb.mean(1) * 100)
        seed_only += t["ci_low"] <= TRUE_DIFF <= t["ci_high"]
    # 400 simulations: the standard error of a 95% rate is 1.1 points
    assert 0.92 <= covered / sims <= 0.99, covered / sims
    if seed_shift < 0.01:   # the seed-only interval answers another question (this test set)
        assert seed_only / sims < 0.8, seed_only / sims


def test_two_level_interval_is_paired_on_images_and_seeds():
    """Ten seeds that agree image by image, and B = A with its first 30 images wrong: only those
    images vary the difference (about 21 of them right in A: sd about 0.46 points, interval about
    2 points wide); resampling A's and B's images independently would give about 8."""
    rng = np.random.default_rng(0)
    ca = np.tile(rng.random(1000) < 0.7, (10, 1))
    cb = ca.copy()
    cb[:, :30] = False
    w = image_weights(1000, 1000, np.random.default_rng(1))
    r = two_level_interval(ca, cb, w, np.random.default_rng(2))
    assert r["mean_diff"] == pytest.approx(ca[0, :30].sum() / 10)   # points: flipped / 1000 x 100
    assert 1.0 < r["ci_high"] - r["ci_low"] < 3.0


def test_weights_draw_every_image_count_and_are_reproducible():
    w = image_weights(50, 7, np.random.default_rng(3))
    assert w.shape == (7, 50) and (w.sum(axis=1) == 50).all() and w.dtype == np.float32
    assert np.array_equal(w, image_weights(50, 7, np.random.default_rng(3)))
    big = image_weights(10, 300_000, np.random.default_rng(4))     # drawn in several chunks
    assert (big.sum(axis=1) == 10).all() and big.mean() == pytest.approx(1.0, abs=0.01)
    with pytest.raises(ValueError):
        image_weights(0, 5, np.random.default_rng(0))


def test_group_draws_depend_on_the_seed_and_the_group_not_its_position():
    a = group_rng(0, ("nb", 6)).integers(0, 1 << 30, 4)
    assert np.array_equal(a, group_rng(0, ("nb", 6)).integers(0, 1 << 30, 4))
    assert not np.array_equal(a, group_rng(1, ("nb", 6)).integers(0, 1 << 30, 4))
    assert not np.array_equal(a, group_rng(0, ("nb", 2)).integers(0, 1 << 30, 4))


def test_the_table_carries_the_interval_reproducibly():
    rng = np.random.default_rng(5)
    rows, correct = [], {}
    for bt, p in (("conv", 0.65), ("res", 0.70)):
        base = rng.random(500) < p            # seeds that differ in a few images only: the
        for seed in range(3):                 # images dominate, so the draws show
            c = base.copy()
            c[rng.integers(0, 500, 3)] ^= True
            correct[("nb", 6, bt, seed)] = c
            rows.append({"recipe": "nb", "n_blocks": 6, "block_type": bt, "seed": seed,
                         "test_acc": c.mean() * 100})
    runs = pd.DataFrame(rows)
    one = paired_comparisons(runs, correct=correct)
    two = paired_comparisons(runs, correct=correct)
    assert one.gen_ci_low.iloc[0] == two.gen_ci_low.iloc[0] and np.isfinite(one.gen_ci_low.iloc[0])
    other = paired_comparisons(runs, correct=correct, settings=StatsSettings(bootstrap_seed=9))
    assert other.gen_ci_low.iloc[0] != one.gen_ci_low.iloc[0]
    # the interval over seeds and images is never narrower than the one over seeds
    assert (one.gen_ci_high - one.gen_ci_low).iloc[0] >= (one.ci_high - one.ci_low).iloc[0] - 1e-9
    assert np.isnan(paired_comparisons(runs).gen_ci_low.iloc[0])      # no predictions: no interval


def test_a_hand_edited_predictions_file_is_one_line_naming_it(tmp_path):
    """collect_correct (the summary job): a predictions.csv without its `correct` column, with
    other values in it, or covering another number of images is refused in one line."""
    import json
    from cifar_nets.study.summary import collect_correct
    train, preds = [], []
    for seed in (0, 1):
        t = tmp_path / f"train{seed}.json"
        t.write_text(json.dumps({"recipe": "nb", "n_blocks": 6, "block_type": "conv", "seed": seed}))
        p = tmp_path / f"pred{seed}.csv"
        pd.DataFrame({"index": range(4), "correct": [True, False, True, True]}).to_csv(p, index=False)
        train.append(t)
        preds.append(p)
    assert collect_correct(train, preds)[("nb", 6, "conv", 1)].tolist() == [True, False, True, True]
    for text, what in (("index,right\n0,True\n", "no readable 'correct'"),
                       ("index,correct\n0,maybe\n", "other values"),
                       ("index,correct\n0,True\n", "different numbers of test images")):
        preds[1].write_text(text)
        with pytest.raises(ValueError, match=what) as err:
            collect_correct(train, preds)
        assert "\n" not in str(err.value)
