"""Synthetic data are marked by the data, not by a flag (issue 25, item 4): the archive
python -m cifar_nets.data.synthetic writes says so in its readme.html, the cache keeps it, and every
summary table (its first line), every figure and the report say so; `data.synthetic: false`
cannot take the mark away, and a real archive gets none."""
import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from cifar_factory import write_cifar_archive
from cifar_nets.data.archive import prepare_cache, read_cifar_archive
from cifar_nets.data.arrays import DataError, cache_is_synthetic, load_cache, use_images
from cifar_nets.report.figures import figure_entries
from cifar_nets.report.plots import SYNTHETIC_MARK_TEXT, empty_figure, mark_synthetic
from cifar_nets.study.summary import (SYNTHETIC_COLUMN, SYNTHETIC_WARNING, data_warning, read_summary,
                              summary_files, write_summary)
from workflow_helpers import snakemake

OFFICIAL_README = (b'<meta HTTP-EQUIV="REFRESH" content="0; '
                   b'url=http://www.cs.toronto.edu/~kriz/cifar.html">\n')


def _archive(path, synthetic: bool, **kw) -> str:
    """A tiny archive: the synthetic writer's own (marked), or the same images with the
    official archive's readme.html (unmarked, as a real archive)."""
    if synthetic:
        return write_cifar_archive(path, **kw)
    return write_cifar_archive(path, tamper={"drop_member": "readme.html",
                                             "extra_member": ("cifar-10-batches-py/readme.html",
                                                              OFFICIAL_README)}, **kw)


# --------------------------------------------------------------------------- archive and cache

@pytest.mark.parametrize("synthetic", [True, False])
def test_the_archive_says_whether_it_is_synthetic_and_the_cache_keeps_it(tmp_path, synthetic):
    md5 = _archive(tmp_path / "a.tar.gz", synthetic)
    assert read_cifar_archive(tmp_path / "a.tar.gz").synthetic is synthetic
    arrays = prepare_cache(tmp_path / "a.tar.gz", tmp_path / "c.npz", md5, use=(60, "all"))
    assert arrays.synthetic is synthetic and use_images(arrays, 20, 10).synthetic is synthetic
    assert cache_is_synthetic(tmp_path / "c.npz") is synthetic
    assert load_cache(tmp_path / "c.npz").synthetic is synthetic


def test_an_archive_without_a_readme_is_not_synthetic(tmp_path):
    write_cifar_archive(tmp_path / "a.tar.gz", tamper={"drop_member": "readme.html"})
    assert read_cifar_archive(tmp_path / "a.tar.gz").synthetic is False


@pytest.mark.parametrize("synthetic", [True, False])
def test_a_cache_from_before_the_mark_is_refused_in_one_line_and_marked_in_place(tmp_path, synthetic):
    import os
    import subprocess
    import sys
    from cifar_nets.data.arrays import content_sha256
    a = load_cache(_cache(tmp_path, synthetic))
    old = tmp_path / "old.npz"
    np.savez(old, x_train=a.x_train, y_train=a.y_train, x_test=a.x_test, y_test=a.y_test,
             class_names=np.array(a.class_names))
    assert load_cache(old).synthetic is None   # training and evaluation still read it
    with pytest.raises(DataError, match=r"old\.npz: does not record whether its images are "
                                        r"synthetic .*python -m cifar_nets.data.archive ") as err:
        cache_is_synthetic(old)
    assert "\n" not in str(err.value)
    os.utime(old, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    out = subprocess.run([sys.executable, "-m", "cifar_nets.data.archive", str(old), str(tmp_path / "a.tar.gz")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert cache_is_synthetic(old) is synthetic
    assert old.stat().st_mtime_ns == 1_000_000_000_000_000_000      # Snakemake reruns nothing
    b = load_cache(old)
    assert content_sha256(b.x_train, b.y_train) == content_sha256(a.x_train, a.y_train)


def _cache(tmp_path, synthetic=True):
    md5 = _archive(tmp_path / "a.tar.gz", synthetic)
    prepare_cache(tmp_path / "a.tar.gz", tmp_path / "c.npz", md5)
    return tmp_path / "c.npz"


# --------------------------------------------------------------------------- tables and figures

def _tables():
    runs = pd.DataFrame({"recipe": ["notebook"] * 2, "model": ["Custom_ConvNet", "Custom_ResNet"],
                         "test_acc": [50.0, 60.0]})
    return {"runs": runs, "seeds": runs, "paired": runs.iloc[:0], "environments": runs,
            "stopping": runs}


@pytest.mark.parametrize("synthetic", [True, False])
def test_every_summary_table_says_it_on_its_first_line(tmp_path, synthetic):
    paths = summary_files(str(tmp_path))
    write_summary(paths, _tables(), "my data", synthetic)
    for path in paths:
        first = open(path).readline()
        assert (SYNTHETIC_COLUMN in first if path.endswith(".csv") else
                first.startswith(("**SYNTHETIC DATA: ", "\\noindent\\textbf{SYNTHETIC DATA: "))) \
            is synthetic, path
        assert ("mean nothing" in open(path).read()) is synthetic, path
    for path in (p for p in paths if p.endswith(".csv")):
        df, marked = read_summary(path)
        assert marked is synthetic and SYNTHETIC_COLUMN not in df.columns
        assert list(df.columns) == list(_tables()[path.rsplit("/", 1)[1][:-4]].columns)


def test_the_flag_adds_the_mark_and_never_removes_it():
    assert data_warning({"synthetic": False}, synthetic=True) == SYNTHETIC_WARNING
    assert data_warning({"synthetic": True}, synthetic=False) == SYNTHETIC_WARNING
    assert data_warning({"synthetic": False}, synthetic=False) is None


def _red_banner(path) -> bool:
    """Whether the PNG has the mark: pure red pixels in its top rows, and its metadata."""
    img = Image.open(path)
    rgb = np.asarray(img.convert("RGB"))[:30]
    red = (rgb[..., 0] > 240) & (rgb[..., 1] < 20) & (rgb[..., 2] < 20)
    return bool(red.sum() > 50) and img.info.get("Description") == SYNTHETIC_MARK_TEXT


def test_a_marked_figure_has_a_red_banner_and_keeps_its_pixels(tmp_path):
    plain = empty_figure(tmp_path / "f.png", "hello")
    before = np.asarray(Image.open(plain).convert("RGB"))
    assert not _red_banner(plain)
    mark_synthetic(plain)
    after = np.asarray(Image.open(plain).convert("RGB"))
    assert _red_banner(plain)
    assert after.shape[1] == before.shape[1] and after.shape[0] > before.shape[0]
    assert np.array_equal(after[-before.shape[0]:], before)


# --------------------------------------------------------------------------- the whole workflow

def _study(tmp_path, synthetic: bool):
    md5 = _archive(tmp_path / "a.tar.gz", synthetic, per_class_train=12, per_class_test=4)
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump({
        "data": {"source": str(tmp_path / "a.tar.gz"), "md5": md5, "label": "my data",
                 "train_images": 120, "test_images": 40},
        "study": {"block_types": ["conv", "res"], "n_blocks": [1]},
        "recipes": {"notebook": {"epochs": 1, "batch_size": 16}},
        "engine": {"threads": 1, "train_eval_subset": 0}}))
    # the reproduction: the flag turned off on the command line
    snakemake(tmp_path, "--cores", "2", "--configfile", "cfg.yaml",
              "--config", "data={synthetic: false}")
    return tmp_path / "results"


@pytest.mark.slow
@pytest.mark.workflow
@pytest.mark.parametrize("synthetic", [True, False])
def test_synthetic_data_are_marked_everywhere_whatever_the_flag_says(tmp_path, synthetic):
    res = _study(tmp_path, synthetic)
    assert cache_is_synthetic(res / "data/cifar10.npz") is synthetic
    html = (res / "report.html").read_text()
    assert (SYNTHETIC_WARNING in html) is synthetic
    if synthetic:
        assert html.index(SYNTHETIC_WARNING) < html.index("<h1>")
    for path in summary_files(str(res / "summary")):
        first = open(path).readline()
        assert (("SYNTHETIC DATA" in first) is synthetic), path
    study = {"block_types": ["conv", "res"], "n_blocks": [1], "seeds": [0], "recipes": ["notebook"]}
    entries = figure_entries(study)
    assert {e["scope"] for e in entries} == {"data", "study", "group", "block"}
    for e in entries:
        assert _red_banner(tmp_path / e["path"]) is synthetic, e["path"]
