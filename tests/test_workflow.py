"""The real Snakemake workflow, end to end, on a tiny archive in the official format."""
import json
import os
import re
import zipfile
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from cifar_nets.report.figures import figure_entries
from cifar_nets.study.summary import summary_files
from workflow_helpers import ROOT, planned_jobs, snakemake, tiny_config

BLOCKS = ["conv", "res", "skip"]
STUDY = {"block_types": BLOCKS, "n_blocks": [6], "seeds": [0], "recipes": ["notebook"]}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wf")
    # on the CPU with two "GPU" ids: jobs claim and record device slots (tests/test_devices.py)
    cfg = tiny_config(tmp, engine={"device": "cpu", "gpus": [0, 1], "threads": "auto"})
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
        assert not (res / "checkpoints/notebook" / bt / "n6/seed0.pt").exists()
    # every figure of the registry (cifar_nets/report/figures.py) and every summary file of the study
    for entry in figure_entries(STUDY):
        assert (tmp / entry["path"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", entry["path"]
        assert (tmp / entry["path"]).stat().st_size > 5000, entry["path"]
    for path in summary_files():
        assert (tmp / path).stat().st_size > 0, path
    assert {p.rsplit("/", 1)[1] for p in summary_files() if p.endswith(".tex")} == {
        "seeds.tex", "paired.tex"}
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
    assert re.search(r"^\| notebook +\| Custom_ResNet +\| res ", md, re.M), md


@pytest.mark.workflow
def test_report_is_self_contained(finished_run):
    tmp, _ = finished_run
    html = (tmp / "results/report.html").read_text()
    # every figure of the registry, with its caption: samples, by-model, curves, 3 confusion, 3 pairs
    entries = figure_entries(STUDY)
    assert html.count("data:image/png;base64,") == len(entries) == 9
    for entry in entries:
        assert f"<figcaption>{entry['caption']}</figcaption>" in html, entry
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
def test_the_same_values_from_any_source_or_key_order_rerun_nothing(finished_run):
    """Issue 25: eval_batch_size or top_confused_pairs at their default on the command line, or
    config keys in another order, reran report and figures ("Params have changed")."""
    tmp, _ = finished_run
    cfg = tmp / "test_config.yaml"
    (tmp / "reordered.yaml").write_text(
        "report: {top_confused_pairs: 10, sample_images_per_class: 4}\n"
        "engine: {eval_batch_size: 256, threads: 1}\n"
        "recipes: {notebook: {lr: 3.0e-3, epochs: 2, batch_size: 16}}\n")
    for args in (["--config", "engine={eval_batch_size: 256}", "report={top_confused_pairs: 10}"],
                 ["--config", "report={sample_images_per_class: 4, top_confused_pairs: 10}"]):
        r = snakemake(tmp, "--configfile", str(cfg), "-n", *args)
        assert "Nothing to be done" in r.out, (args, r.out[-3000:])
    for files in ([cfg, tmp / "reordered.yaml"], [tmp / "reordered.yaml", cfg]):
        r = snakemake(tmp, "--configfile", *map(str, files), "-n")
        assert "Nothing to be done" in r.out, r.out[-3000:]


@pytest.mark.workflow
def test_the_design_cards_commands_work_as_typed(finished_run):
    """`snakemake results/report.html` needs no --cores (it stopped with "cores have to be
    specified"); `snakemake --cores 4 --resources gpu=1` plans, capped to the usable cores."""
    tmp, _ = finished_run
    header = (ROOT / "Snakefile").read_text()
    assert "#   snakemake results/report.html " in header
    assert "#   snakemake --cores 4 --resources gpu=1 " in header
    r = snakemake(tmp, "results/report.html", "--configfile", str(tmp / "test_config.yaml"))
    assert "Nothing to be done" in r.out, r.out[-2000:]
    r = snakemake(tmp, "--cores", "4", "--resources", "gpu=1", "--configfile",
                  str(tmp / "test_config.yaml"), "-n")
    assert "Nothing to be done" in r.out, r.out[-2000:]


@pytest.mark.workflow
def test_snakemakes_own_report_holds_a_hostile_label_as_text(finished_run):
    """Issue 25: data.label with </script> reached Snakemake's report through rule params and
    ended its embedded JSON script (seven live script elements)."""
    from html.parser import HTMLParser

    class Scripts(HTMLParser):
        def __init__(self):
            super().__init__()
            self.count, self.text = 0, []

        def handle_starttag(self, tag, attrs):
            self.count += tag == "script"

        def handle_data(self, data):
            self.text.append(data)

    tmp, _ = finished_run
    counts = {}
    label = "x</script><script>alert(1)</script>"
    for name, value in (("plain", "tiny test archive"), ("hostile", label)):
        out = tmp / f"sm-report-{name}.html"
        snakemake(tmp, "--configfile", str(tmp / "test_config.yaml"), "--config",
                  f"data={{label: '{value}'}}", "--report", str(out))
        parser = Scripts()
        parser.feed(out.read_text())
        counts[name] = parser.count
        text = "".join(parser.text)
    assert counts["hostile"] == counts["plain"], counts
    assert "alert(1)" not in text.replace("&lt;script&gt;alert(1)&lt;/script&gt;", "")
    assert "data_label=x&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in text


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
def test_lint_gives_no_advice(tmp_path):
    """snakemake --lint: no warnings (every rule that runs code has its conda environment)."""
    cfg = tiny_config(tmp_path)
    proc = snakemake(tmp_path, "--configfile", str(cfg), "--lint", ok=None)
    out = proc.stdout + proc.stderr
    assert re.findall(r"^\s{4}\* (.+)$", out, flags=re.M) == [], out
    assert "Congratulations, your workflow is in a good condition!" in out


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


# --------------------------------------------------------------------------- what a change reruns

@pytest.fixture(scope="module")
def two_recipes(tmp_path_factory):
    """A finished tiny study with both recipes (ResNet only, 2 epochs: the modern recipe warms up
    for 2): 2 training runs."""
    tmp = tmp_path_factory.mktemp("reruns")
    cfg = tiny_config(tmp, epochs=2, block_types=["res"], n_blocks=[6], seeds=[0],
                      recipes=["notebook", "modern"])
    snakemake(tmp, "--configfile", str(cfg), "--cores", "2")
    return tmp, cfg


# What changing each config key reruns: the one table behind both this test and the "what
# changing it reruns" column of docs/configuration.md (tests/test_docs.py checks the page against
# it, and that every key of config/schema.yaml is here once). Each entry: the key, a YAML change
# of it merged over the finished two-recipe study above, and the words the docs use.
RERUNS = [
    ("data.dataset", "data: {dataset: cifar100}", "everything"),
    ("data.source", "data: {source: elsewhere/cifar-10-python.tar.gz}", "everything"),
    ("data.md5", "data: {md5: 0123456789abcdef0123456789abcdef}", "everything"),
    ("data.label", "data: {label: another name}", "summary tables, figures and report"),
    ("data.train_images", "data: {train_images: 130}", "the cache, then everything"),
    ("data.test_images", "data: {test_images: 40}", "the cache, then everything"),
    ("data.use_train_images", "data: {use_train_images: 100}", "the cache, then everything"),
    ("data.use_test_images", "data: {use_test_images: 20}", "the cache, then everything"),
    ("data.synthetic", "data: {synthetic: true}", "summary tables, figures and report"),
    ("split.train_fraction", "split: {train_fraction: 0.8}", "the split and every run on it"),
    ("split.seed", "split: {seed: 7}", "the split and every run on it"),
    ("split.reseed_per_run", "split: {reseed_per_run: true}", "the split and every run on it"),
    ("study.block_types", "study: {block_types: [res, conv]}", "only the runs added"),
    ("study.n_blocks", "study: {n_blocks: [6, 2]}", "only the runs added"),
    ("study.seeds", "study: {seeds: [0, 1]}", "only the runs added"),
    ("study.recipes", "recipes: {short: {epochs: 1, batch_size: 16, lr: 0.01}}\n"
                      "study: {recipes: [notebook, modern, short]}", "only the runs added"),
    ("study.tune", "study: {tune: {enabled: true, grid: {lr: [0.001, 0.003]}, seeds: [5]}}",
     "the tuning stage and the tuned runs"),
    ("model.n_hidden", "model: {n_hidden: 16}", "every run"),
    ("model.n_hidden_fc", "model: {n_hidden_fc: 16}", "every run"),
    ("model.custom_blocks", 'model: {custom_blocks: {ident: "torch.nn:Identity"}}', "figures and report"),
    ("recipes.<name>.epochs", "recipes: {modern: {epochs: 3}}", "the runs of that recipe"),
    ("recipes.<name>.batch_size", "recipes: {modern: {batch_size: 8}}", "the runs of that recipe"),
    ("recipes.<name>.optimizer", "recipes: {modern: {optimizer: sgd}}", "the runs of that recipe"),
    ("recipes.<name>.lr", "recipes: {modern: {lr: 0.01}}", "the runs of that recipe"),
    ("recipes.<name>.momentum", "recipes: {modern: {momentum: 0.8}}", "the runs of that recipe"),
    ("recipes.<name>.weight_decay", "recipes: {modern: {weight_decay: 0.01}}", "the runs of that recipe"),
    ("recipes.<name>.schedule", "recipes: {modern: {schedule: constant}}", "the runs of that recipe"),
    ("recipes.<name>.warmup_epochs", "recipes: {modern: {warmup_epochs: 1}}", "the runs of that recipe"),
    ("recipes.<name>.label_smoothing", "recipes: {modern: {label_smoothing: 0.2}}", "the runs of that recipe"),
    ("recipes.<name>.augment", "recipes: {modern: {augment: false}}", "the runs of that recipe"),
    ("recipes.<name>.crop_padding", "recipes: {modern: {crop_padding: 2}}", "the runs of that recipe"),
    ("recipes.<name>.dropout", "recipes: {notebook: {dropout: 0.3}}", "the runs of that recipe"),
    ("recipes.<name>.mean", "recipes: {notebook: {mean: [0.5, 0.5, 0.5]}}", "the runs of that recipe"),
    ("recipes.<name>.std", "recipes: {notebook: {std: [0.25, 0.25, 0.25]}}", "the runs of that recipe"),
    ("engine.device", "engine: {device: cpu}", "every run"),
    ("engine.channels_last", "engine: {channels_last: false}", "every run"),
    ("engine.bf16", "engine: {bf16: true}", "every run"),
    ("engine.compile", "engine: {compile: true}", "every run"),
    ("engine.tf32", "engine: {tf32: true}", "every run"),
    ("engine.train_eval_subset", "engine: {train_eval_subset: 50}", "every run"),
    ("engine.evaluate_weights", "engine: {evaluate_weights: last}", "every run"),
    ("engine.gpus", "engine: {gpus: [0, 1]}", "nothing"),
    ("engine.runs_per_gpu", "engine: {runs_per_gpu: 2}", "nothing"),
    ("engine.runs_per_job", "engine: {runs_per_job: 3}", "nothing"),
    ("engine.threads", "engine: {threads: 2}", "nothing"),
    ("engine.eval_batch_size", "engine: {eval_batch_size: 7}", "nothing"),
    ("engine.checkpoint_every", "engine: {checkpoint_every: 3}", "nothing"),
    ("stats.confidence", "stats: {confidence: 0.9}", "summary tables, figures and report"),
    ("stats.correction", "stats: {correction: bh}", "summary tables, figures and report"),
    ("stats.family", "stats: {family: group}", "summary tables, figures and report"),
    ("stats.equivalence_margin", "stats: {equivalence_margin: 0.5}", "summary tables, figures and report"),
    ("stats.bootstrap_draws", "stats: {bootstrap_draws: 500}", "summary tables, figures and report"),
    ("stats.bootstrap_seed", "stats: {bootstrap_seed: 1}", "summary tables, figures and report"),
    ("report.sample_images_per_class", "report: {sample_images_per_class: 2}", "figures and report"),
    ("report.top_confused_pairs", "report: {top_confused_pairs: 3}", "figures and report"),
    ("logging.tensorboard", "logging: {tensorboard: true}", "nothing"),
]

FIGURES_AND_REPORT = {"figure_samples", "figures_group", "figures_overview", "report"}


def _reruns_as_documented(reruns, jobs, change):
    """Whether Snakemake's planned jobs (rule -> count) are what the docs' words promise, for the
    two-recipe study (2 training runs)."""
    jobs = {rule: n for rule, n in jobs.items() if rule != "all"}
    trains = jobs.get("train", 0)
    if jobs.get("evaluate", 0) != trains:
        return False
    if reruns == "nothing":
        return jobs == {}
    if reruns == "figures and report":
        return bool(jobs) and set(jobs) <= FIGURES_AND_REPORT
    if reruns == "summary tables, figures and report":
        return "summarize" in jobs and "report" in jobs and set(jobs) <= FIGURES_AND_REPORT | {"summarize"}
    if reruns == "only the runs added":
        added = {"block_types": 2, "n_blocks": 2, "seeds": 2, "short": 1}
        return trains == next(n for word, n in added.items() if word in change) and "summarize" in jobs
    if reruns == "the runs of that recipe":
        return trains == 1
    if reruns == "the tuning stage and the tuned runs":   # 2 grid points x 1 tuning seed, 1 tuned run
        return (jobs.get("tune_train") == 2 and jobs.get("tune_choice") == 1 and trains == 1
                and "split" not in jobs and "summarize" in jobs)
    if reruns == "every run":
        return trains == 2 and "split" not in jobs
    if reruns == "the split and every run on it":
        return trains == 2 and "split" in jobs and "prepare_cifar10" not in jobs
    if reruns == "the cache, then everything":
        return trains == 2 and "prepare_cifar10" in jobs and "download_cifar10" not in jobs
    if reruns == "everything":
        return trains == 2 and "download_cifar10" in jobs
    raise AssertionError(f"no meaning for {reruns!r}")


@pytest.mark.workflow
@pytest.mark.parametrize("key,change,reruns", RERUNS, ids=[k for k, _, _ in RERUNS])
def test_a_change_reruns_exactly_what_the_docs_say(two_recipes, key, change, reruns):
    tmp, cfg = two_recipes
    extra = tmp / "change.yaml"
    extra.write_text(change + "\n")
    proc = snakemake(tmp, "--configfile", str(cfg), str(extra), "-n", "--cores", "2")
    jobs = planned_jobs(proc.out)
    assert _reruns_as_documented(reruns, jobs, change), f"{key}: {jobs}\n{proc.out[-3000:]}"
    if reruns == "the runs of that recipe":
        recipe = change.split("{")[1].split(":")[0].strip()
        assert f"recipe={recipe}" in proc.out and proc.out.count("rule train:") == 1
    if reruns == "the tuning stage and the tuned runs":     # no run of notebook or modern
        assert set(re.findall(r"recipe=(\w+)", proc.out)) == {"tuned"}, proc.out[-3000:]


@pytest.mark.workflow
def test_the_cli_trains_what_the_workflow_trains(finished_run):
    """python -m cifar_nets with the workflow's config file trains the identical run."""
    import subprocess
    import sys
    tmp, _ = finished_run
    out = tmp / "cli_res"
    subprocess.run([sys.executable, "-m", "cifar_nets", "--configfile", str(tmp / "test_config.yaml"),
                    "--data", str(tmp / "results/data/cifar10.npz"),
                    "--split", str(tmp / "results/data/split-seed42.npz"), "--block-type", "res",
                    "--threads", "1", "--out", str(out)], cwd=ROOT, check=True, capture_output=True,
                   env=dict(os.environ, OMP_NUM_THREADS="1"), timeout=300)
    cli = pd.read_csv(out / "history.csv")
    wf = pd.read_csv(tmp / "results/runs/notebook/res/n6/seed0/history.csv")
    for col in ("train_loss", "train_acc", "val_acc", "lr"):
        assert list(cli[col]) == list(wf[col]), col
    cli_json = json.loads((out / "train.json").read_text())
    wf_json = json.loads((tmp / "results/runs/notebook/res/n6/seed0/train.json").read_text())
    for key in ("parameters", "best_val_acc", "best_epoch", "bf16", "channels_last", "compile", "recipe"):
        assert cli_json[key] == wf_json[key], key


# --------------------------------------------------------------------------- filling the machine

def _log_span(path: Path) -> tuple[datetime, datetime]:
    stamps = [datetime.strptime(ln[1:24], "%Y-%m-%d %H:%M:%S.%f")
              for ln in path.read_text().splitlines() if ln.startswith("[20")]
    return stamps[0], stamps[-1]


@pytest.mark.workflow
def test_cpu_training_jobs_run_side_by_side_with_slots(finished_run):
    """--resources gpu=1 on a CPU host: training jobs still overlap (their logs say so), each
    holds its own slot, and train.json / metrics.json / the report record where they ran."""
    tmp_path, _ = finished_run
    runs = {bt: tmp_path / f"results/runs/notebook/{bt}/n6/seed0" for bt in ("conv", "res", "skip")}
    spans = {bt: _log_span(tmp_path / f"logs/train/notebook/{bt}/n6/seed0.log") for bt in runs}
    overlapping = [(a, b) for a in spans for b in spans if a < b
                   and spans[a][0] < spans[b][1] and spans[b][0] < spans[a][1]]
    assert overlapping, f"no two training jobs overlapped: {spans}"
    summaries = {bt: json.loads((p / "train.json").read_text()) for bt, p in runs.items()}
    for a, b in overlapping:   # jobs that ran at the same time held different slots
        assert summaries[a]["gpu_slot"] != summaries[b]["gpu_slot"]
    for s in summaries.values():
        assert s["gpu_slot"] in ("gpu0.0", "gpu1.0") and s["cuda_visible_devices"] is None
        # 3 runs on 2 cores: one thread each, two threads for the run of the last round
        assert s["threads"] == (2 if s["block_type"] == "skip" else 1)
        for key in ("host", "device_name", "torch", "cuda", "cudnn", "bf16", "compile", "tf32"):
            assert key in s, key
    metrics = json.loads((runs["res"] / "metrics.json").read_text())
    assert {"host", "device_name", "torch", "eval_bf16", "eval_channels_last"} <= set(metrics)
    envs = (tmp_path / "results/summary/environments.csv").read_text()
    assert "train" in envs and "evaluate" in envs and "gpu0.0" in envs
    html = (tmp_path / "results/report.html").read_text()
    assert "Where the runs ran" in html and "Environment of the report node" in html


# --------------------------------------------------------------------------- Snakemake's report

@pytest.mark.workflow
def test_snakemakes_own_report_carries_the_study(finished_run):
    tmp_path, _ = finished_run
    cfg = tmp_path / "test_config.yaml"
    snakemake(tmp_path, "--configfile", str(cfg), "--report", "report.zip", timeout=600)
    with zipfile.ZipFile(tmp_path / "report.zip") as z:
        names = z.namelist()
        texts = {n: z.read(n) for n in names}
    def has(name):   # Snakemake keeps each file under report/data/raw/<hash>/<its name>
        return [n for n in names if "/data/raw/" in n and n.endswith("/" + name)]
    for name in ("report.html", "runs.csv", "seeds.csv", "paired.csv", "stopping.csv",
                 "environments.csv", *(e["path"].rsplit("/", 1)[1] for e in figure_entries(STUDY))):
        assert len(has(name)) == 1, (name, names)
    study = texts[has("report.html")[0]].decode()
    assert "Answer at a glance" in study and "Custom_ResNet" in study
    index = texts["report/report.html"].decode(errors="replace")
    for category in ("Conclusions", "Overview", "Per-run", "Data"):
        assert category in index, category
    assert "self-contained report: the answer at a glance" in index    # a caption
    for entry in figure_entries(STUDY):     # each figure's caption from the registry, as a label
        assert json.dumps(entry["caption"])[1:-1] in index, entry["caption"]
    assert json.dumps("Summary tables")[1:-1] in index
