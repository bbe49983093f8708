"""A dataset is one file: the registry (cifar_nets/data/dataset.py, one module per dataset in
cifar_nets/data/sets/), CIFAR-100 read safely like CIFAR-10, the writer's round trip, networks
and figures at 100 classes, and a third dataset added as one file and nothing else."""
import hashlib
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cifar_factory import cifar100_arrays, write_cifar100_archive
from cifar_nets.data.archive import prepare_cache, read_cifar_archive
from cifar_nets.data.arrays import DataError, load_cache
from cifar_nets.data.dataset import datasets, get_dataset
from workflow_helpers import ROOT


def md5(path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


# --------------------------------------------------------------------------- the registry

def test_the_registry_finds_one_file_per_dataset():
    found = datasets()
    assert list(found)[:1] == ["cifar10"] and {"cifar10", "cifar100"} <= set(found)
    files = {p.stem for p in (ROOT / "cifar_nets/data/sets").glob("*.py") if not p.stem.startswith("_")}
    assert set(found) == files
    c100 = found["cifar100"]
    assert c100.n_classes == 100 and len(set(c100.class_names)) == 100
    assert c100.layout.members == ("train", "test", "meta") and c100.layout.label_key == "fine_labels"
    assert c100.md5 == "eb9058c3a382ffc7106e4002c42a8d85"
    assert c100.url.endswith("/cifar-100-python.tar.gz")
    with pytest.raises(KeyError, match="svhn.*cifar10, cifar100"):
        get_dataset("svhn")


def test_cifar10s_constants_live_in_its_file_and_keep_their_old_names():
    """The one-release names read the CIFAR-10 dataset; its output paths stay as they were."""
    import cifar_nets
    from cifar_nets.data import archive, archive_writer, arrays
    c10 = get_dataset("cifar10")
    assert cifar_nets.CLASS_NAMES == c10.class_names == archive_writer.CLASSES
    assert c10.class_names[:2] == ("airplane", "automobile") and c10.n_classes == arrays.N_CLASSES == 10
    assert (archive.OFFICIAL_URL, archive.OFFICIAL_MD5) == (c10.url, c10.md5) == (
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a")
    assert archive.ARCHIVE_DIR == "cifar-10-batches-py" and arrays.IMAGE_SHAPE == (3, 32, 32)
    assert (c10.archive_path, c10.cache_path) == ("results/data/cifar-10-python.tar.gz",
                                                  "results/data/cifar10.npz")


def test_the_config_picks_the_dataset_and_fills_in_its_own_values():
    from cifar_nets.config import ConfigError, load_config, load_schema
    assert load_schema()["properties"]["data"]["properties"]["dataset"]["enum"] == list(datasets())
    default = load_config()["data"]
    assert (default["dataset"], default["source"], default["md5"], default["label"],
            default["train_images"], default["test_images"]) == (
        "cifar10", get_dataset("cifar10").url, get_dataset("cifar10").md5, "CIFAR-10", 50000, 10000)
    c100 = load_config(overrides={"data": {"dataset": "cifar100"}})["data"]
    assert (c100["source"], c100["md5"], c100["label"]) == (
        get_dataset("cifar100").url, get_dataset("cifar100").md5, "CIFAR-100")
    # a recipe's mean/std `dataset` (config.yaml's modern recipe) is the dataset's normalisation
    modern = [load_config(overrides={"data": {"dataset": name}})["recipes"]["modern"]
              for name in ("cifar10", "cifar100")]
    assert [tuple(m["mean"]) for m in modern] == [get_dataset("cifar10").mean, get_dataset("cifar100").mean]
    assert [tuple(m["std"]) for m in modern] == [get_dataset("cifar10").std, get_dataset("cifar100").std]
    assert modern[0]["mean"] == [0.4914, 0.4822, 0.4465] and modern[0]["std"] == [0.2470, 0.2435, 0.2616]
    given = load_config(overrides={"data": {"dataset": "cifar100", "label": "mine", "train_images": 300}})
    assert (given["data"]["label"], given["data"]["train_images"]) == ("mine", 300)
    with pytest.raises(ConfigError, match=r"^data\.dataset: 'svhn' is not one of"):
        load_config(overrides={"data": {"dataset": "svhn"}})


# --------------------------------------------------------------------------- CIFAR-100's archive

def test_a_cifar100_archive_reads_back_what_was_written(tmp_path):
    path = tmp_path / "c100.tar.gz"
    digest = write_cifar100_archive(path, per_class_train=2, per_class_test=1)
    assert digest == md5(path) == write_cifar100_archive(tmp_path / "again.tar.gz")   # deterministic
    got = read_cifar_archive(path, "cifar100")
    x_train, y_train, x_test, y_test = cifar100_arrays(2, 1)
    assert np.array_equal(got.x_train, x_train.transpose(0, 3, 1, 2))
    assert np.array_equal(got.y_train, y_train) and np.array_equal(got.y_test, y_test)
    assert np.array_equal(got.x_test, x_test.transpose(0, 3, 1, 2))
    assert got.class_names == get_dataset("cifar100").class_names and got.synthetic
    arrays = prepare_cache(path, tmp_path / "c.npz", digest, expected_counts=(200, 100), dataset="cifar100")
    assert load_cache(tmp_path / "c.npz").class_names == arrays.class_names
    assert len(arrays.class_names) == 100


def test_a_cifar100_archive_is_not_cifar10s(tmp_path):
    path = tmp_path / "c100.tar.gz"
    write_cifar100_archive(path)
    with pytest.raises(DataError, match="missing members cifar-10-batches-py/data_batch_1"):
        read_cifar_archive(path)                    # read as CIFAR-10, the default


def test_a_wrong_md5_keeps_nothing(tmp_path):
    path = tmp_path / "c100.tar.gz"
    write_cifar100_archive(path)
    cache = tmp_path / "c.npz"
    with pytest.raises(DataError, match="md5 is .*expected 0123456789abcdef0123456789abcdef"):
        prepare_cache(path, cache, "0123456789abcdef0123456789abcdef", dataset="cifar100")
    assert not cache.exists()


def test_a_truncated_cifar100_archive_is_refused(tmp_path):
    path = tmp_path / "c100.tar.gz"
    write_cifar100_archive(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DataError, match="truncated or corrupt archive"):
        read_cifar_archive(path, "cifar100")


@pytest.mark.parametrize("tamper,message", [
    ({"bad_labels": True}, r"train in .*: label 100 at index 0 is outside 0\.\.99"),
    ({"bad_meta": True}, r"meta in .*: 'fine_label_names' has 99 entries, expected a list of 100 names"),
    ({"drop_member": "test"}, r"missing members cifar-100-python/test"),
])
def test_a_tampered_cifar100_archive_is_refused_in_one_line(tmp_path, tamper, message):
    path = tmp_path / "c100.tar.gz"
    write_cifar100_archive(path, tamper=tamper)
    with pytest.raises(DataError, match=message) as info:
        read_cifar_archive(path, "cifar100")
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------- networks, figures

def test_a_network_has_one_output_per_class_and_cifar10s_sizes_stay():
    import torch
    from cifar_nets import BLOCK_TYPES
    from cifar_nets.engine.models import build_model, count_parameters
    for bt in BLOCK_TYPES:
        ten, hundred = build_model(bt), build_model(bt, n_classes=100)
        # only the last layer grows: 90 more rows of n_hidden_fc weights and a bias each
        assert count_parameters(hundred) - count_parameters(ten) == 90 * (32 + 1)
        assert hundred(torch.zeros(2, 3, 32, 32)).shape == (2, 100)


def test_weights_of_a_100_class_network_load_as_one(tmp_path):
    import torch
    from cifar_nets.engine.checkpoints import load_model
    from cifar_nets.engine.models import build_model
    net = build_model("res", n_blocks=1, n_classes=100)
    blob = {"block_type": "res", "n_blocks": 1, "n_hidden": 32, "n_hidden_fc": 32, "dropout": 0.5,
            "model": net.state_dict()}
    torch.save(blob, tmp_path / "model.pt")
    model, _ = load_model(tmp_path / "model.pt")
    assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 100)


def test_the_figures_stay_readable_at_100_classes(tmp_path):
    """No 100 tick labels nor 10,000 counts on the heatmap, no 100-column sample strip."""
    import matplotlib.pyplot as plt
    from PIL import Image
    from cifar_nets.engine.evaluate import confused_pairs
    from cifar_nets.report import plots_runs
    names = list(get_dataset("cifar100").class_names)
    rng = np.random.default_rng(0)
    cm = pd.DataFrame(rng.integers(0, 5, (100, 100)) + 40 * np.eye(100, dtype=int), index=names, columns=names)
    seen = {}
    real_save = plots_runs.save_figure

    def spy(fig, path):
        ax = fig.axes[0]
        seen[Path(path).name] = (len(ax.get_xticklabels()), len(ax.texts),
                                 [t.get_text() for t in ax.get_xticklabels()])
        return real_save(fig, path)

    plots_runs.save_figure = spy
    try:
        plots_runs.plot_confusion_matrix(cm, tmp_path / "confusion.png", "100 classes")
        plots_runs.plot_confused_pairs(confused_pairs(cm.to_numpy(), names), tmp_path / "pairs.png",
                                       "100 classes", top=10)
        x, y, _, _ = cifar100_arrays(2, 1)
        plots_runs.plot_sample_images(x, y, names, tmp_path / "samples.png")
    finally:
        plots_runs.save_figure = real_save
        plt.close("all")
    ticks, texts, labels = seen["confusion.png"]
    assert ticks == 10 and texts == 0 and labels[:2] == ["0", "10"]     # indices, no names or counts
    for name, limit in (("confusion.png", 1600), ("pairs.png", 1200), ("samples.png", 1600)):
        width, height = Image.open(tmp_path / name).size
        assert max(width, height) <= limit, (name, width, height)


def test_sample_images_are_titled_by_their_dataset():
    from cifar_nets.report.plots_runs import _sample_title
    assert _sample_title(get_dataset("cifar10").class_names) == "CIFAR-10 sample images"
    assert _sample_title(get_dataset("cifar100").class_names) == "CIFAR-100 sample images"
    assert _sample_title(["a", "b", "c"]) == "Sample images (3 classes)"


def test_cifar10s_confusion_keeps_its_names_and_counts(tmp_path):
    import matplotlib.pyplot as plt
    from cifar_nets.report import plots_runs
    names = list(get_dataset("cifar10").class_names)
    cm = pd.DataFrame(np.arange(100).reshape(10, 10), index=names, columns=names)
    fig_axes = {}
    real_save = plots_runs.save_figure
    plots_runs.save_figure = lambda fig, path: fig_axes.setdefault("ax", fig.axes[0]) and real_save(fig, path)
    try:
        plots_runs.plot_confusion_matrix(cm, tmp_path / "c.png", "10 classes")
    finally:
        plots_runs.save_figure = real_save
    ax = fig_axes["ax"]
    assert [t.get_text() for t in ax.get_xticklabels()] == names and len(ax.texts) == 100
    plt.close("all")


# --------------------------------------------------------------------------- a third dataset

THIRD = '''
"""A third dataset, for the test: CIFAR-10's layout under another name."""
from cifar_nets.data.dataset import Dataset, PickleLayout

DATASET = Dataset(
    name="svhn", label="SVHN (test)", url="https://example.org/svhn.tar.gz",
    md5="0123456789abcdef0123456789abcdef", archive_file="svhn-python.tar.gz", cache_file="svhn.npz",
    layout=PickleLayout(directory="svhn-batches-py", train_members=("train",), test_member="test",
                        meta_member="meta", label_key="labels", names_key="label_names"),
    class_names=tuple(str(d) for d in range(10)), train_images=73257, test_images=26032,
    mean=(0.44, 0.44, 0.47), std=(0.20, 0.20, 0.20),
)
'''


def test_a_third_dataset_is_one_file(tmp_path):
    """What docs/workflow.md ("Where things go") says: a dataset is one file in
    cifar_nets/data/sets/ plus config. In a copy of the project with that one file added, config
    validation accepts `data.dataset: svhn` and fills in its own values; nothing else changed."""
    copy = tmp_path / "project"
    for part in ("cifar_nets", "config", "config.yaml"):
        src = ROOT / part
        (shutil.copytree(src, copy / part, ignore=shutil.ignore_patterns("__pycache__"))
         if src.is_dir() else shutil.copy(src, copy / part))
    (copy / "cifar_nets/data/sets/svhn.py").write_text(textwrap.dedent(THIRD))
    code = ("from cifar_nets.config import load_config; from cifar_nets.data.dataset import dataset_of; "
            "d = load_config(overrides={'data': {'dataset': 'svhn'}})['data']; "
            "print(d['source'], d['md5'], d['label'], d['train_images'], dataset_of(d).cache_path)")
    out = subprocess.run([sys.executable, "-c", code], cwd=copy, capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(copy)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["https://example.org/svhn.tar.gz", "0123456789abcdef0123456789abcdef",
                                  "SVHN", "(test)", "73257", "results/data/svhn.npz"]
    where = (ROOT / "docs/workflow.md").read_text()
    assert "cifar_nets/data/sets/" in where and "one file" in where


# --------------------------------------------------------------------------- the whole study

@pytest.mark.workflow
def test_the_whole_study_runs_on_cifar100(tmp_path):
    """`data.dataset: cifar100` and a tiny CIFAR-100-format archive: every job, 100-class
    networks, CIFAR-100's own file names, a report that names CIFAR-100 and readable figures."""
    import yaml
    from PIL import Image
    from workflow_helpers import snakemake
    digest = write_cifar100_archive(tmp_path / "c100.tar.gz", per_class_train=2, per_class_test=1)
    cfg = {"data": {"dataset": "cifar100", "source": str(tmp_path / "c100.tar.gz"), "md5": digest,
                    "label": "tiny CIFAR-100-format test archive", "train_images": 200, "test_images": 100},
           "study": {"n_blocks": [1]},
           "recipes": {"notebook": {"epochs": 1, "batch_size": 16, "lr": 3e-3}},
           "engine": {"threads": 1, "train_eval_subset": 0}}
    (tmp_path / "c100.yaml").write_text(yaml.safe_dump(cfg))
    snakemake(tmp_path, "--configfile", str(tmp_path / "c100.yaml"), "--cores", "2")
    res = tmp_path / "results"
    assert (res / "data/cifar-100-python.tar.gz").exists() and (res / "data/cifar100.npz").exists()
    assert not (res / "data/cifar10.npz").exists() and (tmp_path / "logs/data/prepare_cifar100.log").exists()
    run = res / "runs/notebook/skip/n1/seed0"
    confusion = pd.read_csv(run / "confusion.csv", index_col=0)
    assert confusion.shape == (100, 100) and list(confusion.columns) == list(get_dataset("cifar100").class_names)
    assert len(pd.read_csv(run / "per_class.csv")) == 100
    report = (res / "report.html").read_text()
    assert "CIFAR-100 ablation study (tiny CIFAR-100-format test archive)" in report
    assert "notebook&#x27;s single runs" not in report and "notebook's single runs" not in report
    for png in [res / "figures/sample_images.png", *res.glob("figures/notebook/n1/confusion_*.png")]:
        assert max(Image.open(png).size) <= 1600, png


# --------------------------------------------------------------------------- the stand-in script

def _standin_script():
    import importlib.util
    spec = importlib.util.spec_from_file_location("make_cifar100_standin",
                                                  ROOT / "scripts/make_cifar100_standin.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("args, says", [
    (["--per-class", "-5"], "--per-class: -5 is not from 10 to 5000"),   # was: 49,950 images
    (["--per-class", "0"], "--per-class: 0 is not from 10 to 5000"),     # was: all of them
    (["--test-per-class", "99999999"], "--test-per-class: 99999999 is not from 10 to 1000"),
    (["--use-train-images", "nan"], "--use-train-images: 'nan' is not an integer"),
    (["--use-test-images", "-3"], "--use-test-images: -3 is not `all` or at least 1"),
    (["--use-test-images", "<b>"], "--use-test-images: '<b>' is not an integer"),
    (["--jpeg", "no/such.tar.gz"], "--jpeg no/such.tar.gz: no such file"),
])
def test_the_standin_script_refuses_bad_arguments_in_one_line_and_writes_nothing(tmp_path, capsys,
                                                                                args, says):
    with pytest.raises(SystemExit) as stop:
        _standin_script().main([str(tmp_path / "out"), *args])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and says in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_the_standin_script_writes_an_archive_the_study_reads(tmp_path):
    script = _standin_script()
    if not Path(script.DEFAULT_JPEG).is_file():
        pytest.skip(f"no {script.DEFAULT_JPEG} (the shared CIFAR-10 JPEG archive)")
    assert script.main([str(tmp_path), "--per-class", "10", "--test-per-class", "10",
                        "--use-train-images", "50"]) == 0
    import yaml
    cfg = yaml.safe_load((tmp_path / script.CONFIG_NAME).read_text())["data"]
    assert (cfg["dataset"], cfg["train_images"], cfg["test_images"]) == ("cifar100", 100, 100)
    assert (cfg["use_train_images"], cfg["use_test_images"]) == (50, "all")
    assert hashlib.md5(Path(cfg["source"]).read_bytes()).hexdigest() == cfg["md5"]
    arrays = read_cifar_archive(cfg["source"], get_dataset("cifar100"))
    assert sorted(np.bincount(arrays.y_train).tolist()) == [1] * 100   # one image per fine class
