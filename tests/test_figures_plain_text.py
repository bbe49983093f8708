"""Class names, labels and model names are plain text in every figure (issue 25, item 9).

A name with `$...$` (or a lone `$`) would be parsed as matplotlib mathtext: drawn as a formula, or
an invalid one (`$\\bad$`) crashing the figure rule. Every figure is drawn here, through the
registry's `figures.draw` as the rules do, with such names everywhere a user string appears.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from cifar_nets.report import figures
from cifar_nets.data.arrays import CifarArrays
from workflow_helpers import config

OPTIONS = config()["report"]

CLASSES = ("$\\bad$", "a $x^2$ b", "$", "50$ & 100$", "\\$5", "cat", "dog", "$$", "^_%", "x")
MODEL = "Custom_$\\bad{x}$"


def _stems(scope, blocks=(None,)):
    return [f.stem(b) for f in figures.FIGURES if f.scope == scope
            for b in (blocks if scope == "block" else [None])]


def _history(offset=0.0):
    e = np.arange(1, 4)
    return pd.DataFrame({"epoch": e, "train_loss": 2.0 / e, "train_acc": 40 + 5 * e + offset,
                         "val_acc": 38 + 4 * e + offset})


def _cm():
    m = np.full((10, 10), 3)
    np.fill_diagonal(m, 50)
    return pd.DataFrame(m, index=list(CLASSES), columns=list(CLASSES))


def _drawn(paths):
    for p in paths:
        assert open(p, "rb").read(4) == b"\x89PNG", p


def test_sample_images_with_mathtext_class_names(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (40, 3, 32, 32), dtype=np.uint8)
    y = np.arange(40, dtype=np.int64) % 10
    arrays = CifarArrays(x, y, x[:10], y[:10], CLASSES)
    out = [str(tmp_path / f"{s}.png") for s in _stems("data")]
    figures.draw("data", arrays, out, OPTIONS)
    _drawn(out)


def test_a_groups_figures_with_mathtext_class_and_model_names(tmp_path):
    group = figures.GroupRuns("notebook", 1, {MODEL: [_history(), _history(1)],
                                              "Custom_ResNet": [_history(2)]},
                              {MODEL: [50.0, 51.0], "Custom_ResNet": [52.0]},
                              {"conv": _cm(), "res": _cm()})
    out = [str(tmp_path / f"{s}.png") for s in _stems("group") + _stems("block", ("conv", "res"))]
    figures.draw("group", group, out, OPTIONS)
    _drawn(out)


def test_the_study_figures_with_mathtext_model_names(tmp_path):
    runs = pd.DataFrame([{"recipe": "notebook", "model": m, "block_type": b, "n_blocks": n,
                          "seed": s, "parameters": 1000 * n + 10 * (b == "res"),
                          "test_acc": 60.0 + 5 * (b == "res") + s + n / 10}
                         for b, m in (("gated", MODEL), ("res", "Custom_ResNet"))
                         for n in (2, 4) for s in (0, 1)])
    out = [str(tmp_path / f"{s}.png") for s in _stems("study")]
    figures.draw("study", runs, out, OPTIONS)
    _drawn(out)


def test_no_figure_text_is_parsed_as_mathtext():
    import matplotlib
    import matplotlib.pyplot as plt

    import cifar_nets.report.plots  # noqa: F401 - the figures' shared settings
    fig, ax = plt.subplots()
    label = ax.set_title("a $x^2$ b")
    assert label.get_parse_math() is False and label.get_usetex() is False
    assert matplotlib.rcParams["text.usetex"] is False
    plt.close(fig)
