"""The real Snakemake workflow, end to end, on a tiny archive in the official format."""
import json
import re

import pandas as pd
import pytest

from workflow_helpers import ROOT, snakemake, tiny_config  # noqa: F401 - ROOT kept for importers

BLOCKS = ["conv", "res", "skip"]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wf")
    cfg = tiny_config(tmp)
    proc = snakemake(tmp, "--configfile", str(cfg), "--cores", "2", "--resources", "gpu=1")
    return tmp, proc


@pytest.mark.workflow
def test_every_output_exists(finished_run):
    tmp, _ = finished_run
    res = tmp / "results"
    for bt in BLOCKS:
        run = res / "runs/notebook" / bt / "n6/seed0"
        for name in ("model.pt", "history.csv", "train.json", "metrics.json", "per_class.csv",
                     "confusion.csv", "confused_pairs.csv", "predictions.csv"):
            assert (run / name).stat().st_size > 0, run / name
        for fig in (f"confusion_{bt}.png", f"confused_pairs_{bt}.png"):
            assert (res / "figures/notebook/n6" / fig).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert not (res / "checkpoints/notebook" / bt / "n6/seed0.pt").exists()
    for name in ("sample_images.png", "test_accuracy_by_model.png", "notebook/n6/accuracy_curves.png"):
        assert (res / "figures" / name).stat().st_size > 5000
    for name in ("runs", "seeds", "paired"):
        assert (res / "summary" / f"{name}.csv").exists() and (res / "summary" / f"{name}.md").exists()
    # a log per job
    assert (tmp / "logs/train/notebook/res/n6/seed0.log").exists()
    assert (tmp / "logs/data/prepare_cifar10.log").exists()


@pytest.mark.workflow
def test_summary_table_has_a_row_per_run_with_the_named_columns(finished_run):
    tmp, _ = finished_run
    runs = pd.read_csv(tmp / "results/summary/runs.csv")
    assert list(runs.model) == ["Custom_ConvNet", "Custom_ResNet", "Custom_SkipNet"]
    assert list(runs.parameters) == [92042, 92042, 78122]
    for col in ("test_acc", "best_val_acc", "final_train_acc", "train_val_gap", "train_seconds",
                "train_images_per_s", "n_blocks", "seed", "block_type"):
        assert runs[col].notna().all(), col
    for _, r in runs.iterrows():
        metrics = json.loads((tmp / f"results/runs/notebook/{r.block_type}/n6/seed0/metrics.json").read_text())
        assert metrics["test_acc"] == pytest.approx(r.test_acc)
        preds = pd.read_csv(tmp / f"results/runs/notebook/{r.block_type}/n6/seed0/predictions.csv")
        assert 100 * preds.correct.mean() == pytest.approx(r.test_acc)
        cm = pd.read_csv(tmp / f"results/runs/notebook/{r.block_type}/n6/seed0/confusion.csv", index_col=0)
        assert cm.to_numpy().sum() == 30 and 100 * cm.to_numpy().trace() / 30 == pytest.approx(r.test_acc)
    md = (tmp / "results/summary/runs.md").read_text()
    assert "| Custom_ResNet |" in md


@pytest.mark.workflow
def test_report_is_self_contained(finished_run):
    tmp, _ = finished_run
    html = (tmp / "results/report.html").read_text()
    assert html.count("data:image/png;base64,") >= 9   # samples, by-model, curves, 3 confusion, 3 pairs
    assert not re.search(r"""(src|href)=["']?(https?:|file:|//)""", html)
    for needle in ("Custom_ResNet", "tiny test archive", "Configuration used", "Environment",
                   "torch", "Answer at a glance"):
        assert needle in html


@pytest.mark.workflow
def test_rerun_has_nothing_to_do(finished_run):
    tmp, _ = finished_run
    proc = snakemake(tmp, "--configfile", str(tmp / "test_config.yaml"), "-n", "--cores", "1")
    assert "Nothing to be done" in proc.stdout + proc.stderr


@pytest.mark.workflow
def test_sweep_expands_to_the_product_of_jobs(tmp_path):
    cfg = tiny_config(tmp_path, block_types=BLOCKS, n_blocks=[0, 2, 4], seeds=[1, 2],
                      recipes=["notebook", "modern"])
    proc = snakemake(tmp_path, "--configfile", str(cfg), "-n", "--cores", "1", "--quiet", "rules")
    out = proc.stdout + proc.stderr
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", out, flags=re.M))
    assert int(jobs["train"]) == 3 * 3 * 2 * 2
    assert int(jobs["evaluate"]) == 36
    assert int(jobs["figures_group"]) == 2 * 3
    assert int(jobs["split"]) == 1


@pytest.mark.workflow
def test_reseeded_split_makes_one_split_per_seed(tmp_path):
    cfg = tiny_config(tmp_path, block_types=["res"], n_blocks=[6], seeds=[1, 2, 3], recipes=["notebook"])
    extra = tmp_path / "reseed.yaml"
    extra.write_text("split: {reseed_per_run: true}\n")
    proc = snakemake(tmp_path, "--configfile", str(cfg), str(extra), "-n", "--cores", "1",
                     "--quiet", "rules")
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", proc.stdout + proc.stderr, flags=re.M))
    assert int(jobs["split"]) == 3


@pytest.mark.workflow
@pytest.mark.parametrize("override,key", [
    ("study={block_types: [dense], n_blocks: [6], seeds: [0], recipes: [notebook]}", "study.block_types"),
    ("recipes={notebook: {epochs: 0, batch_size: 16, lr: 0.001}}", "recipes.notebook.epochs"),
    ("recipes={notebook: {epoch: 3, epochs: 2, batch_size: 16, lr: 0.001}}", "recipes.notebook.epoch"),
    ("recipes={notebook: {epochs: 2, batch_size: 1000, lr: 0.001}}", "recipes.notebook.batch_size"),
    ("model={n_hidden: 33}", "model.n_hidden"),
    ("split={train_fraction: 1.5}", "split.train_fraction"),
    ("study={block_types: [res], n_blocks: [6], seeds: [0], recipes: [fancy]}", "study.recipes"),
])
def test_bad_config_stops_before_any_job_and_names_the_key(tmp_path, override, key):
    cfg = tiny_config(tmp_path)
    extra = tmp_path / "bad.yaml"
    extra.write_text(override.replace("=", ": ", 1) + "\n")
    proc = snakemake(tmp_path, "--configfile", str(cfg), str(extra), "--cores", "1", check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert f"config error: {key}" in out, out[-2000:]
    assert not (tmp_path / "results").exists()


@pytest.mark.workflow
def test_lint_reports_only_environment_advice(tmp_path):
    cfg = tiny_config(tmp_path)
    proc = snakemake(tmp_path, "--configfile", str(cfg), "--lint", check=False)
    out = proc.stdout + proc.stderr
    advice = re.findall(r"^\s{4}\* (.+)$", out, flags=re.M)
    unexpected = [a for a in advice if "conda" not in a.lower() and "container" not in a.lower()]
    assert unexpected == [], out


@pytest.mark.workflow
def test_full_grid_preset_lists_every_job(tmp_path, repo_root):
    cfg = tiny_config(tmp_path)
    proc = snakemake(tmp_path, "--configfile", str(cfg), str(repo_root / "config/full_grid.yaml"),
                     "-n", "--cores", "1", "--quiet", "rules")
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", proc.stdout + proc.stderr, flags=re.M))
    assert int(jobs["train"]) == 3 * 7 * 5 * 2 == 210
    assert int(jobs["evaluate"]) == 210
    assert int(jobs["figures_group"]) == 7 * 2
    assert int(jobs["figures_overview"]) == 1
