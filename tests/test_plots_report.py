"""Plots, the HTML report, Markdown tables and environment info (no torch training, fast)."""

from __future__ import annotations

import html.parser
import os
import re
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from cifar_nets import CLASS_NAMES  # noqa: E402
from cifar_nets.report import plots, plots_runs, plots_study  # noqa: E402
from cifar_nets.report.html import build_report, image_data_uri  # noqa: E402
from cifar_nets.tables import dataframe_to_markdown  # noqa: E402
from cifar_nets.machine.hardware import environment_record  # noqa: E402

PNG_SIG = b"\x89PNG\r\n\x1a\n"
MODELS = {"conv": "Custom_ConvNet", "res": "Custom_ResNet", "skip": "Custom_SkipNet"}


# --------------------------------------------------------------------------------------------
# fixtures: synthetic study outputs in the project's formats
# --------------------------------------------------------------------------------------------
def make_runs(seeds=(0, 1, 2), recipes=("baseline",), depths=(2, 4), single_seed_model=None):
    rng = np.random.default_rng(0)
    rows = []
    for recipe in recipes:
        for bt, model in MODELS.items():
            for nb in depths:
                model_seeds = (seeds[0],) if model == single_seed_model else seeds
                for seed in model_seeds:
                    acc = 65 + 3 * nb + {"conv": 0, "res": 4, "skip": 3}[bt] + rng.normal(0, 0.8)
                    rows.append(dict(recipe=recipe, model=model, block_type=bt, n_blocks=nb,
                                     seed=seed, parameters=50_000 * nb * (1 + (bt != "conv")),
                                     test_acc=round(acc, 2), best_val_acc=round(acc + 0.3, 2),
                                     final_train_acc=round(acc + 8, 2), train_val_gap=8.0,
                                     train_seconds=30.0, train_images_per_s=1500.0))
    return pd.DataFrame(rows)


def make_history(epochs=8, offset=0.0):
    e = np.arange(1, epochs + 1)
    return pd.DataFrame({"epoch": e, "train_loss": 2.0 / e,
                         "train_acc": 40 + 40 * (1 - np.exp(-e / 3)) + offset,
                         "val_acc": 38 + 35 * (1 - np.exp(-e / 3)) + offset})


def make_cm():
    rng = np.random.default_rng(1)
    m = rng.integers(0, 40, size=(10, 10))
    np.fill_diagonal(m, 700)
    return pd.DataFrame(m, index=list(CLASS_NAMES), columns=list(CLASS_NAMES))


def make_pairs():
    return pd.DataFrame({"class_a": ["cat", "automobile", "bird"],
                         "class_b": ["dog", "truck", "deer"],
                         "a_as_b": [120, 40, 30], "b_as_a": [90, 35, 20],
                         "count": [210, 75, 50]})


def check_png(path, min_w=300, min_h=150, min_bytes=5_000):
    path = Path(path)
    assert path.is_file()
    data = path.read_bytes()
    assert data[:8] == PNG_SIG
    assert len(data) > min_bytes
    img = mpimg.imread(path)
    h, w = img.shape[:2]
    assert w >= min_w and h >= min_h, (w, h)
    assert not list(path.parent.glob(".*tmp*")), "temporary file left behind"
    return w, h


class ErrorbarSpy:
    """Counts the error bars drawn through Axes.errorbar (number of points with a bar)."""

    def __init__(self, monkeypatch):
        self.points = 0
        orig = matplotlib.axes.Axes.errorbar
        spy = self

        def wrapped(ax, x, y, *a, **k):
            spy.points += int(np.size(np.atleast_1d(x)))
            return orig(ax, x, y, *a, **k)

        monkeypatch.setattr(matplotlib.axes.Axes, "errorbar", wrapped)


# --------------------------------------------------------------------------------------------
# plots
# --------------------------------------------------------------------------------------------
def test_sample_images(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(60, 3, 32, 32), dtype=np.uint8)
    labels = np.arange(60) % 10
    out = plots_runs.plot_sample_images(images, labels, CLASS_NAMES, tmp_path / "sub" / "s.png",
                                   n_per_class=3)
    assert out == tmp_path / "sub" / "s.png"
    w, h = check_png(out, min_w=800)
    assert w > h  # 10 columns, 3 rows
    assert plt.get_fignums() == []  # figure closed


def test_accuracy_curves_single_and_seeds(tmp_path):
    hist = {"Custom_ConvNet": make_history(), "Custom_ResNet": make_history(offset=3)}
    out = plots_runs.plot_accuracy_curves(hist, {"Custom_ConvNet": 70.1, "Custom_ResNet": 74.2},
                                     tmp_path / "curves.png", title="Baseline")
    w1, _ = check_png(out)
    seeds = {"Custom_ConvNet": [make_history(offset=o) for o in (0, 1, 2)],
             "Custom_ResNet": [make_history(offset=o) for o in (3, 4)],
             "Custom_SkipNet": make_history(offset=2)}
    out2 = plots_runs.plot_accuracy_curves(seeds, {"Custom_ConvNet": [70, 71, 72],
                                              "Custom_ResNet": 74.0},
                                      tmp_path / "curves_seeds.png")
    w2, _ = check_png(out2)
    assert w2 > w1  # three panels instead of two
    assert plt.get_fignums() == []


def test_confusion_and_pairs(tmp_path):
    check_png(plots_runs.plot_confusion_matrix(make_cm(), tmp_path / "cm.png", "ConvNet"),
              min_w=500, min_h=500)
    check_png(plots_runs.plot_confused_pairs(make_pairs(), tmp_path / "pairs.png", "ConvNet", top=2))
    # no pairs at all still gives a (placeholder) figure
    empty = make_pairs().iloc[0:0]
    check_png(plots_runs.plot_confused_pairs(empty, tmp_path / "none.png", "x"), min_w=200, min_h=100,
              min_bytes=1_000)


def test_accuracy_summary_ci_only_with_two_seeds():
    runs = make_runs(seeds=(0, 1, 2), single_seed_model="Custom_SkipNet")
    s = plots.accuracy_summary(runs, "model")
    assert list(s["model"]) == ["Custom_ConvNet", "Custom_ResNet", "Custom_SkipNet"]
    by = s.set_index("model")
    assert by.loc["Custom_ConvNet", "n"] == 6 and by.loc["Custom_SkipNet", "n"] == 2
    assert by["has_ci"].all()
    s2 = plots.accuracy_summary(runs, ["model", "n_blocks"])
    one = s2[s2["model"] == "Custom_SkipNet"]
    assert (one["n"] == 1).all() and not one["has_ci"].any() and one["yerr"].isna().all()
    three = s2[s2["model"] != "Custom_SkipNet"]
    assert (three["n"] == 3).all() and three["has_ci"].all() and (three["yerr"] > 0).all()
    # the interval is the t-interval around the mean
    sub = runs[(runs["model"] == "Custom_ConvNet") & (runs["n_blocks"] == 2)]["test_acc"]
    row = three.iloc[0]
    assert row["mean"] == pytest.approx(sub.mean())
    assert row["half_width"] == pytest.approx(4.302652729911275 * sub.std(ddof=1) / np.sqrt(3),
                                              rel=1e-6)
    assert list(s2["n_blocks"][:2]) == [2, 4]


def test_accuracy_by_model_errorbars(tmp_path, monkeypatch):
    spy = ErrorbarSpy(monkeypatch)
    runs = make_runs(depths=(4,), single_seed_model="Custom_SkipNet")
    check_png(plots_study.plot_accuracy_by_model(runs, tmp_path / "by_model.png"))
    assert spy.points == 2  # ConvNet and ResNet have 3 seeds; SkipNet has one -> no bar

    spy.points = 0
    single = make_runs(seeds=(0,), depths=(4,))
    check_png(plots_study.plot_accuracy_by_model(single, tmp_path / "single.png"))
    assert spy.points == 0

    spy.points = 0
    two_recipes = make_runs(seeds=(0, 1), depths=(4,), recipes=("baseline", "augment"))
    check_png(plots_study.plot_accuracy_by_model(two_recipes, tmp_path / "hue.png", hue="recipe"))
    assert spy.points == 6
    check_png(plots_study.plot_accuracy_by_model(two_recipes, tmp_path / "bt.png",
                                           group="block_type"))


def test_accuracy_vs_depth_and_params(tmp_path, monkeypatch):
    runs = make_runs(depths=(2, 4, 8), recipes=("baseline", "augment"))
    check_png(plots_study.plot_accuracy_vs_depth(runs, tmp_path / "depth.png"))
    spy = ErrorbarSpy(monkeypatch)
    check_png(plots_study.plot_accuracy_vs_parameters(runs, tmp_path / "params.png"))
    assert spy.points == 3 * 3 * 2  # every (model, recipe, depth) has 3 seeds
    spy.points = 0
    single = make_runs(seeds=(0,), depths=(2, 4))
    check_png(plots_study.plot_accuracy_vs_depth(single, tmp_path / "depth1.png"))
    check_png(plots_study.plot_accuracy_vs_parameters(single, tmp_path / "params1.png"))
    assert spy.points == 0
    assert plt.get_fignums() == []


def test_plots_overwrite_atomically(tmp_path):
    p = tmp_path / "cm.png"
    p.write_bytes(b"old")
    plots_runs.plot_confusion_matrix(make_cm(), p, "again")
    assert p.read_bytes()[:8] == PNG_SIG
    assert sorted(x.name for x in tmp_path.iterdir()) == ["cm.png"]
    umask = os.umask(0)
    os.umask(umask)
    assert p.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600


def test_plots_module_does_not_import_snakemake():
    code = ("import sys, cifar_nets.report.plots, cifar_nets.report.html, cifar_nets.machine.hardware; "
            "cifar_nets.machine.hardware.package_version('snakemake'); "
            "assert 'snakemake' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True,
                   cwd=Path(__file__).resolve().parents[1])


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------
class _StrictParser(html.parser.HTMLParser):
    VOID = {"meta", "img", "br", "hr", "link", "input", "col", "area", "base", "source", "wbr"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.tags, self.text = [], [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}>, open: {self.stack[-3:]}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def build_sample_report(out_dir: Path) -> tuple[Path, dict]:
    """A report in the shape the workflow builds; returns its path and what went into it."""
    runs = make_runs(depths=(4,), single_seed_model="Custom_SkipNet")
    figs = out_dir / "figs"
    f1 = plots_study.plot_accuracy_by_model(runs, figs / "by_model.png")
    f2 = plots_runs.plot_confusion_matrix(make_cm(), figs / "cm.png", "ConvNet")
    f3 = plots_runs.plot_confused_pairs(make_pairs(), figs / "pairs.png", "ConvNet")
    summary = plots.accuracy_summary(runs, "model")[["model", "n", "mean", "half_width"]]
    tiny = pd.DataFrame({"label": ["<script>alert(1)</script>", "a & b"], "p": [0.0004, 0.5]})
    sentences = ["Custom_ResNet better than Custom_ConvNet by 4.1 points (95% CI 2.0 to 6.2).",
                 "<script>alert('x')</script> must be shown as text."]
    sections = [
        {"title": "Which model wins?", "sentences": sentences,
         "tables": [("Test accuracy over seeds", summary), ("Escaping", tiny)],
         "figures": [("Mean test accuracy", f1)]},
        {"title": "Errors", "sentences": [], "tables": [],
         "figures": [("Confusion matrix", f2), ("Confused pairs", f3)]},
        {"title": "Errors"},  # duplicate title, empty section
    ]
    config = {"recipes": {"baseline": {"epochs": 10, "lr": 0.05}}, "seeds": [0, 1, 2],
              "block_types": ["conv", "res", "skip"], "data_dir": Path("data")}
    env = {"python": "3.11.2", "cuda_devices": [], "torch": "2.4.0", "numpy": "2.0"}
    path = out_dir / "report.html"
    build_report(path, title="CIFAR-10 <ablation>", intro="Intro paragraph.",
                 sections=sections, config=config, environment=env)
    return path, {"runs": runs, "summary": summary, "sentences": sentences, "n_figs": 3}


def test_report_self_contained(tmp_path):
    path, info = build_sample_report(tmp_path / "rep")
    files = sorted(p.name for p in path.parent.iterdir() if p.is_file())
    assert files == ["report.html"]  # one file, no temp leftovers
    doc = path.read_text(encoding="utf-8")
    assert doc.startswith("<!DOCTYPE html>")
    low = doc.lower()
    for bad in ("http://", "https://", 'src="file', "<script", "<link", "@import", "url("):
        assert bad not in low, bad
    assert doc.count("data:image/png;base64,") == info["n_figs"]
    srcs = re.findall(r'src="([^"]*)"', doc)
    assert len(srcs) == info["n_figs"] and all(s.startswith("data:image/png;base64,")
                                               for s in srcs)
    # figures round-trip
    assert image_data_uri(tmp_path / "rep" / "figs" / "cm.png") in doc

    parser = _StrictParser()
    parser.feed(doc)
    parser.close()
    assert parser.errors == [] and parser.stack == []
    text = " ".join(parser.text)
    for s in info["sentences"]:
        assert s in text  # shown verbatim as text ...
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in doc  # ... because escaped
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in doc
    assert "CIFAR-10 &lt;ablation&gt;" in doc and "a &amp; b" in doc
    # table values
    for _, row in info["summary"].iterrows():
        assert row["model"] in text and f"{row['mean']:.2f}" in text
    assert "0.0004" in text and "0.50" in text
    # toc links resolve to unique section ids, and the closing sections exist
    ids = [a["id"] for t, a in parser.tags if "id" in a]
    assert len(ids) == len(set(ids))
    hrefs = [a["href"][1:] for t, a in parser.tags if t == "a" and "href" in a]
    assert hrefs and set(hrefs) <= set(ids) and len(hrefs) == 5
    h2 = re.findall(r"<h2>(.*?)</h2>", doc)
    assert h2[-2:] == ["Configuration used", "Environment of the report node"]
    assert "baseline" in text and "lr: 0.05" in text and "data_dir: data" in text
    assert "3.11.2" in text


def test_report_missing_figure_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        build_report(tmp_path / "r.html", title="t", intro="", config={}, environment={},
                     sections=[{"title": "s", "figures": [("gone", tmp_path / "nope.png")]}])
    assert not (tmp_path / "r.html").exists()


def test_dataframe_to_markdown_exact():
    df = pd.DataFrame({"model": ["Custom_ConvNet", "a|b"], "n_blocks": [2, 4],
                       "test_acc": [71.4823, np.nan], "ok": [True, False]})
    lines = dataframe_to_markdown(df).splitlines()
    cells = [[c.strip() for c in ln.strip("|").split(" | ")] for ln in lines]
    assert cells[0] == ["model", "n_blocks", "test_acc", "ok"]
    aligns = lines[1].strip("|").split("|")
    assert [a.startswith(":") for a in aligns] == [True, False, False, True]   # text left
    assert [a.endswith(":") for a in aligns] == [False, True, True, False]     # numbers right
    assert cells[2] == ["Custom_ConvNet", "2", "71.48", "True"]
    assert lines[3].startswith("| a\\|b ") and cells[3][-2:] == ["", "False"]  # pipe escaped, NaN empty
    one = dataframe_to_markdown(df[["test_acc"]].iloc[:1], floatfmt=".1f").splitlines()
    assert len(one) == 3 and "71.5" in one[2] and one[1].endswith(":|")


def test_environment_record_keys():
    env = environment_record()
    expected = {"python", "platform", "host", "cpu_model", "cpu_count", "cpus_usable", "torch",
                "cuda", "cuda_devices", "device", "torchvision", "numpy", "pandas", "matplotlib",
                "seaborn", "snakemake"}
    assert expected <= set(env)
    assert env["numpy"] == np.__version__ and env["pandas"] == pd.__version__
    assert env["device"] is None and isinstance(env["cuda_devices"], list)
    assert isinstance(env["cpu_count"], int) and env["cpu_count"] >= 1


def test_environment_record_missing_package(monkeypatch):
    import importlib.metadata as md

    from cifar_nets.machine import hardware

    real = md.version

    def fake(dist):
        if dist == "seaborn":
            raise md.PackageNotFoundError(dist)
        return real(dist)

    monkeypatch.setattr(hardware._md, "version", fake)
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ImportError
    env = hardware.environment_record()
    assert env["seaborn"] == "not installed" and env["torch"] == "not installed"
    assert env["cuda_devices"] == []
