"""The smoke study: a validated part of the archive (data.use_train_images / use_test_images),
the synthetic archive writer (python -m cifar_nets.data.synthetic) and its warning, and the preset
config/smoke.yaml run end to end on a synthetic archive."""
import hashlib
import os
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from cifar_nets import config as cfgmod
from cifar_nets.data.archive import prepare_cache, read_cifar_archive
from cifar_nets.data.arrays import DataError, balanced_subset, load_cache, use_images
from cifar_nets.report.html import build_report
from cifar_nets.study.summary import SYNTHETIC_WARNING, data_warning, report_intro
from cifar_nets.data.synthetic import (CLASSES, LABEL, main, synthetic_arrays, write_cifar_archive,
                                  write_synthetic)
from browser_check import REQUIRE_ENV, assert_opens_clean, browser
from workflow_helpers import ROOT, snakemake

SMOKE = ROOT / "config" / "smoke.yaml"


# --------------------------------------------------------------------------- the synthetic archive

def test_the_synthetic_archive_reads_back_in_the_official_format(tmp_path):
    archive, cfg_path = write_synthetic(tmp_path / "syn", per_class_train=4, per_class_test=2)
    arrays = read_cifar_archive(archive)
    x_train, y_train, x_test, y_test = synthetic_arrays(4, 2)
    assert arrays.x_train.shape == (40, 3, 32, 32) and arrays.x_test.shape == (20, 3, 32, 32)
    assert np.array_equal(arrays.x_train, x_train.transpose(0, 3, 1, 2))
    assert np.array_equal(arrays.y_test, y_test) and np.array_equal(arrays.y_train, y_train)
    assert np.bincount(arrays.y_train).tolist() == [4] * 10
    assert arrays.class_names == CLASSES
    data = yaml.safe_load(cfg_path.read_text())["data"]
    assert data == {"source": str(archive.resolve()), "md5": hashlib.md5(archive.read_bytes()).hexdigest(),
                    "label": LABEL, "train_images": 40, "test_images": 20,
                    "use_train_images": "all", "use_test_images": "all", "synthetic": True}
    # a valid config file on top of a preset
    cfg = cfgmod.load_config(SMOKE, cfg_path, overrides={"recipes": {"notebook": {"batch_size": 16}}})
    assert cfg["data"]["synthetic"] is True and cfg["data"]["use_train_images"] == "all"


def test_the_synthetic_archive_is_deterministic(tmp_path):
    a = write_cifar_archive(tmp_path / "a.tar.gz", 3, 1)
    b = write_cifar_archive(tmp_path / "b.tar.gz", 3, 1)
    assert a == b and (tmp_path / "a.tar.gz").read_bytes() == (tmp_path / "b.tar.gz").read_bytes()
    assert write_cifar_archive(tmp_path / "c.tar.gz", 3, 1, seed=1) != a


def test_the_synthetic_cli_writes_both_files_and_refuses_bad_counts(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["out", "--per-class-train", "2", "--per-class-test", "1"]) == 0
    assert (tmp_path / "out/cifar-10-synthetic.tar.gz").exists()
    assert "--configfile config/smoke.yaml out/synthetic.yaml" in capsys.readouterr().out
    for bad, why in ((["out", "--per-class-train", "0"], "0 is not from 1 to 6000"),
                     (["out", "--per-class-test", "many"], "'many' is not an integer")):
        with pytest.raises(SystemExit) as exc:
            main(bad)
        assert exc.value.code == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and why in err, err
    (tmp_path / "file").write_text("")
    assert main(["file"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "file: exists and is not a folder" in err


def test_the_synthetic_cli_runs_as_a_module(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "cifar_nets.data.synthetic", str(tmp_path / "s"),
                           "--per-class-train", "1", "--per-class-test", "1"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "s/synthetic.yaml").exists()


# --------------------------------------------------------------------------- the part of the archive used

def test_balanced_subset_takes_each_class_in_turn():
    y = np.array([0, 0, 1, 0, 2, 1, 1, 0, 2, 2, 2, 2])
    assert balanced_subset(y, 5).tolist() == [0, 1, 2, 4, 5]       # 0, 1, 2 once, then 0, 1
    assert np.bincount(y[balanced_subset(y, 9)]).tolist() == [3, 3, 3]
    assert balanced_subset(y, 12).tolist() == list(range(12))
    assert balanced_subset(y, 99).tolist() == list(range(12))
    # a class that runs out leaves its turns to the others
    assert np.bincount(y[balanced_subset(y, 11)]).tolist() == [4, 3, 4]


def test_balanced_subsets_are_nested_and_balanced():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, size=600)
    previous = set()
    for n in (10, 50, 100, 333, 600):
        idx = balanced_subset(y, n)
        assert len(idx) == n and list(idx) == sorted(idx) and previous <= set(idx)
        counts = np.bincount(y[idx], minlength=10)
        assert counts.max() - counts.min() <= 1 or n > 10 * np.bincount(y).min()
        previous = set(idx)


def test_use_images_keeps_the_asked_part(tmp_path):
    write_cifar_archive(tmp_path / "a.tar.gz", 6, 3)
    arrays = read_cifar_archive(tmp_path / "a.tar.gz")
    part = use_images(arrays, 20, 10)
    assert len(part.y_train) == 20 and len(part.y_test) == 10
    assert np.bincount(part.y_train).tolist() == [2] * 10 and np.bincount(part.y_test).tolist() == [1] * 10
    idx = balanced_subset(arrays.y_train, 20)
    assert np.array_equal(part.x_train, arrays.x_train[idx])
    whole = use_images(arrays, "all", None)
    assert whole.x_train is arrays.x_train and whole.x_test is arrays.x_test
    with pytest.raises(DataError, match=r"holds 30 test images, fewer than the 31 of data.use_test_images"):
        use_images(arrays, "all", 31)


def test_the_cache_holds_only_the_images_used(tmp_path):
    md5 = write_cifar_archive(tmp_path / "a.tar.gz", 6, 3)
    prepare_cache(tmp_path / "a.tar.gz", tmp_path / "c.npz", md5, expected_counts=(60, 30), use=(40, 20))
    cache = load_cache(tmp_path / "c.npz")
    assert len(cache.y_train) == 40 and len(cache.y_test) == 20
    prepare_cache(tmp_path / "a.tar.gz", tmp_path / "c.npz", md5, use=("all", "all"))
    assert len(load_cache(tmp_path / "c.npz").y_train) == 60


# --------------------------------------------------------------------------- config

@pytest.mark.parametrize("key", ["use_train_images", "use_test_images"])
@pytest.mark.parametrize("value", [0, -1, 60000, "many", 2.5, True, None])
def test_a_bad_count_of_images_used_names_its_key(key, value):
    with pytest.raises(cfgmod.ConfigError) as err:
        cfgmod.load_config(overrides={"data": {key: value}})
    assert str(err.value).startswith(f"data.{key}:"), str(err.value)
    assert "\n" not in str(err.value)


def test_more_images_than_the_archive_holds_says_how_many_it_has():
    with pytest.raises(cfgmod.ConfigError, match=r"^data.use_test_images: 10001 is more than the "
                                                 r"archive's 10000 test images \(data.test_images\)"):
        cfgmod.load_config(overrides={"data": {"use_test_images": 10001}})


def test_the_batch_size_is_checked_against_the_images_used():
    with pytest.raises(cfgmod.ConfigError) as err:
        cfgmod.load_config(overrides={"data": {"use_train_images": 100}})
    assert str(err.value).startswith("recipes.notebook.batch_size: 128 is larger than the training set")
    assert "100 (data.use_train_images)" in str(err.value)
    cfg = cfgmod.load_config(overrides={"data": {"use_train_images": 200, "use_test_images": 1}})
    assert cfg["data"]["use_train_images"] == 200
    with pytest.raises(cfgmod.ConfigError, match=r"^data.synthetic:"):
        cfgmod.load_config(overrides={"data": {"synthetic": "maybe"}})


def test_the_defaults_use_the_whole_archive_and_the_smoke_preset_a_part():
    cfg = cfgmod.load_config()
    assert (cfg["data"]["use_train_images"], cfg["data"]["use_test_images"], cfg["data"]["synthetic"]) \
        == ("all", "all", False)
    smoke = cfgmod.load_config(SMOKE)
    assert 2000 <= smoke["data"]["use_train_images"] <= 5000 and smoke["data"]["use_test_images"] == 1000
    assert smoke["recipes"]["notebook"]["epochs"] <= 5


# --------------------------------------------------------------------------- the warning

def test_the_report_opens_with_the_synthetic_warning(tmp_path):
    data = {"synthetic": True, "train_images": 100, "test_images": 50, "use_train_images": 60,
            "use_test_images": "all"}
    intro = report_intro(3, LABEL, {"block_types": ["res"], "n_blocks": [6], "seeds": [0],
                                    "recipes": ["notebook"]}, data)
    assert "(60 of its 100 training images: data.use_train_images" in str(intro)
    build_report(tmp_path / "r.html", title="t", intro=intro, sections=[], config={}, environment={},
                 warning=data_warning(data))
    html = (tmp_path / "r.html").read_text()
    assert html.index(SYNTHETIC_WARNING) < html.index("<h1>")
    assert data_warning({"synthetic": False}) is None
    build_report(tmp_path / "plain.html", title="t", intro="", sections=[], config={}, environment={})
    assert "mean nothing" not in (tmp_path / "plain.html").read_text()


@pytest.mark.workflow
@pytest.mark.fast   # the fast tier's one whole-DAG run: every rule and workflow script
def test_the_smoke_preset_on_a_synthetic_archive_ends_in_a_report_that_warns(tmp_path):
    """python -m cifar_nets.data.synthetic, then the smoke preset over it, scaled down (120 training,
    40 test images, 2 epochs), with a part of the images used: the whole DAG, offline."""
    subprocess.run([sys.executable, "-m", "cifar_nets.data.synthetic", "synthetic/", "--per-class-train",
                    "12", "--per-class-test", "4"], cwd=tmp_path, check=True, capture_output=True,
                   timeout=120)
    small = tmp_path / "small.yaml"
    small.write_text(yaml.safe_dump({
        "data": {"use_train_images": 100, "use_test_images": 20},
        "recipes": {"notebook": {"epochs": 2, "batch_size": 16}},
        "engine": {"threads": 1, "train_eval_subset": 0}}))
    snakemake(tmp_path, "--cores", "2", "--configfile", str(SMOKE), "synthetic/synthetic.yaml",
              str(small))
    res = tmp_path / "results"
    cache = load_cache(res / "data/cifar10.npz")
    assert len(cache.y_train) == 100 and len(cache.y_test) == 20
    assert np.bincount(cache.y_train).tolist() == [10] * 10
    with np.load(res / "data/split-seed42.npz") as split:
        assert len(split["train_idx"]) == 90 and len(split["val_idx"]) == 10
    for bt in ("conv", "res", "skip"):
        run = res / "runs/notebook" / bt / "n6/seed0"
        assert len(pd.read_csv(run / "predictions.csv")) == 20
        assert len(pd.read_csv(run / "history.csv")) == 2
    html = (res / "report.html").read_text()
    assert SYNTHETIC_WARNING in html and html.index(SYNTHETIC_WARNING) < html.index("<h1>")
    assert "(100 of its 120 training images and 20 of its 40 test images: " in html
    if browser() or os.environ.get(REQUIRE_ENV):   # tests/test_report_browser.py
        assert_opens_clean(res / "report.html", tmp_path / "browser")
    for name in ("runs", "seeds", "paired"):
        md = (res / "summary" / f"{name}.md").read_text().splitlines()
        assert SYNTHETIC_WARNING in md[0] and md[2].startswith("<!-- synthetic (random) images")
    # the same images are used on a rerun: nothing to do
    proc = snakemake(tmp_path, "--cores", "1", "--configfile", str(SMOKE), "synthetic/synthetic.yaml",
                     str(small), "-n")
    assert "Nothing to be done" in proc.out
    assert re.search(r"uses 100 and 20", (tmp_path / "logs/data/prepare_cifar10.log").read_text())
