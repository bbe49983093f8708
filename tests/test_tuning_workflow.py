"""study.tune end to end on a tiny archive (issue 22, item 5): tuning runs on their own seeds,
scored on the validation split only, the choice, the tuned runs on the study's seeds, the report;
and what a change of the grid reruns."""
import json
import re

import pandas as pd
import pytest
import yaml

from workflow_helpers import planned_jobs, snakemake, tiny_config

BLOCKS = ["conv", "res"]
GRID = [1e-3, 1e-2]
TUNE_SEEDS = [7, 8]
STUDY_SEEDS = [0]


def _tune_yaml(tmp, grid, name="tune.yaml"):
    path = tmp / name
    path.write_text(yaml.safe_dump({"study": {"tune": {
        "enabled": True, "base": "notebook", "grid": {"lr": grid}, "seeds": TUNE_SEEDS}}}))
    return path


@pytest.fixture(scope="module")
def tuned_study(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tune")
    cfg = tiny_config(tmp, block_types=BLOCKS, n_blocks=[6], seeds=STUDY_SEEDS,
                      recipes=["notebook"])
    tune = _tune_yaml(tmp, GRID)
    proc = snakemake(tmp, "--configfile", str(cfg), str(tune), "--cores", "2")
    return tmp, cfg, tune, proc


def _tuning_scores(tmp) -> pd.DataFrame:
    """Every tuning run's validation accuracy, read here from its own files (not the choice's)."""
    rows = []
    for path in sorted((tmp / "results/tuning/runs").glob("*/n6/*/seed*/train.json")):
        facts = json.loads(path.read_text())
        history = pd.read_csv(path.parent / "history.csv")
        assert facts["best_val_acc"] == history.val_acc.max()
        rows.append({"block_type": path.parts[-5], "point": path.parts[-3],
                     "seed": int(path.parent.name.removeprefix("seed")),
                     "val_acc": history.val_acc.max()})
    return pd.DataFrame(rows)


@pytest.mark.workflow
def test_the_choice_is_the_grid_point_with_the_best_validation_mean(tuned_study):
    tmp = tuned_study[0]
    scores = _tuning_scores(tmp)
    assert len(scores) == len(BLOCKS) * len(GRID) * len(TUNE_SEEDS)
    choice = json.loads((tmp / "results/tuning/choice.json").read_text())
    grid = pd.read_csv(tmp / "results/tuning/grid.csv")
    labels = [f"lr={lr!r}" for lr in GRID]
    for b in BLOCKS:
        means = [scores[(scores.block_type == b) & (scores.point == p)].val_acc.mean() for p in labels]
        best = labels[means.index(max(means))]       # ties: the point listed first
        (mine,) = [c for c in choice["choices"] if c["block_type"] == b]
        assert mine["point"] == best and mine["mean_val_acc"] == pytest.approx(max(means)), (b, means)
        rows = grid[grid.block_type == b]
        assert list(rows.point) == labels and list(rows.chosen) == [p == best for p in labels]
        assert list(rows.mean_val_acc) == pytest.approx(means)
    assert choice["criterion"] == "best_val_acc" and choice["tuning_seeds"] == TUNE_SEEDS


@pytest.mark.workflow
def test_the_tuned_runs_train_the_chosen_setting_on_the_study_seeds(tuned_study):
    tmp = tuned_study[0]
    choice = json.loads((tmp / "results/tuning/choice.json").read_text())
    for c in choice["choices"]:
        for seed in STUDY_SEEDS:
            run = tmp / f"results/runs/tuned/{c['block_type']}/n6/seed{seed}"
            facts = json.loads((run / "train.json").read_text())
            assert facts["recipe"] == "tuned" and facts["seed"] == seed
            settings = {k: v for k, v in facts["recipe_settings"].items() if k != "name"}
            assert settings == {**c["recipe"], "mean": c["recipe"]["mean"], "std": c["recipe"]["std"]}
            assert settings["lr"] == c["settings"]["lr"]
            assert set(pd.read_csv(run / "history.csv").lr) == {c["settings"]["lr"]}
            assert json.loads((run / "metrics.json").read_text())["test_acc"] >= 0
    runs = pd.read_csv(tmp / "results/summary/runs.csv")
    assert sorted(set(runs.recipe)) == ["notebook", "tuned"] and len(runs) == 2 * len(BLOCKS)
    paired = pd.read_csv(tmp / "results/summary/paired.csv")
    assert "tuned" in set(paired.recipe)


@pytest.mark.workflow
def test_no_tuning_run_touches_the_test_set(tuned_study):
    tmp, cfg, tune, _ = tuned_study
    for folder in (tmp / "results/tuning/runs").glob("*/n6/*/seed*"):
        assert sorted(p.name for p in folder.iterdir()) == ["history.csv", "model.pt", "train.json"]
        assert not any("test" in key for key in json.loads((folder / "train.json").read_text()))
    assert not (tmp / "logs/evaluate/tuning").exists()
    assert not list((tmp / "logs/evaluate").rglob("*lr=*"))
    # what the choice and the tuning runs read: Snakemake's own record of their inputs
    proc = snakemake(tmp, "--configfile", str(cfg), str(tune), "-n", "--cores", "1",
                     "--forcerun", "tune_train", "tune_choice")
    jobs = re.findall(r"^(?:local)?rule (\w+):\n\s+input: ([^\n]*)", proc.out, re.M)
    tune_inputs = [i for rule, inputs in jobs if rule in ("tune_train", "tune_choice")
                   for i in inputs.split(", ")]
    assert len([r for r, _ in jobs if r == "tune_train"]) == len(BLOCKS) * len(GRID) * len(TUNE_SEEDS)
    assert set(tune_inputs) - {"results/data/cifar10.npz", "results/data/split-seed42.npz"} == {
        i for i in tune_inputs if re.fullmatch(r"results/tuning/runs/\w+/n6/lr=[\d.]+/seed\d+/train\.json", i)}


@pytest.mark.workflow
def test_tuning_and_study_seeds_never_overlap(tuned_study, tmp_path):
    tmp = tuned_study[0]
    tuning = {json.loads(p.read_text())["seed"] for p in (tmp / "results/tuning/runs").rglob("train.json")}
    study = {json.loads(p.read_text())["seed"] for p in (tmp / "results/runs").rglob("train.json")}
    assert tuning == set(TUNE_SEEDS) and study == set(STUDY_SEEDS) and not tuning & study
    cfg = tiny_config(tmp_path, block_types=BLOCKS, n_blocks=[6], seeds=[0, 7], recipes=["notebook"])
    proc = snakemake(tmp_path, "--configfile", str(cfg), str(_tune_yaml(tmp_path, GRID)), "-n",
                     "--cores", "1", ok=False)
    assert "config error: study.tune.seeds: 7 also in study.seeds" in proc.out
    assert "Traceback" not in proc.out


@pytest.mark.workflow
def test_the_report_shows_the_grid_the_choices_and_the_figure(tuned_study):
    tmp, cfg, tune, _ = tuned_study
    html = (tmp / "results/report.html").read_text()
    assert "Tuning: each block type&#39;s own setting, chosen on the validation split" in html
    assert "Validation accuracy over each block type&#39;s tuning grid" in html
    assert "Custom_ResNet, 6 blocks: lr " in html and "Runs: tuned recipe, 6 blocks" in html
    assert (tmp / "results/figures/tuning_validation.png").read_bytes()[:4] == b"\x89PNG"
    proc = snakemake(tmp, "--configfile", str(cfg), str(tune), "-n", "--cores", "1")
    assert "Nothing to be done" in proc.out


@pytest.mark.workflow
def test_a_new_grid_point_reruns_the_tuning_and_what_its_choice_changes_only(tuned_study):
    """Runs last: it changes the finished study. The point kept is not retrained, the study's
    other recipe neither; a tuned run retrains exactly when its block type's choice changed."""
    tmp, cfg, _, _ = tuned_study
    def stamps():
        return {p.relative_to(tmp).as_posix(): p.stat().st_mtime_ns
                for p in (tmp / "results").rglob("train.json")}

    before, old = stamps(), json.loads((tmp / "results/tuning/choice.json").read_text())
    tune = _tune_yaml(tmp, [GRID[0], 3e-3], "tune2.yaml")
    plan = planned_jobs(snakemake(tmp, "--configfile", str(cfg), str(tune), "-n", "--cores", "1").out)
    assert plan["tune_train"] == len(BLOCKS) * len(TUNE_SEEDS) and plan["tune_choice"] == 1
    assert "prepare_cifar10" not in plan and "split" not in plan
    snakemake(tmp, "--configfile", str(cfg), str(tune), "--cores", "2")
    after, new = stamps(), json.loads((tmp / "results/tuning/choice.json").read_text())
    changed = {k for k in before if k in after and after[k] != before[k]}
    old_point = {c["block_type"]: c["point"] for c in old["choices"]}
    new_point = {c["block_type"]: c["point"] for c in new["choices"]}
    assert changed == {f"results/runs/tuned/{b}/n6/seed{s}/train.json"
                       for b in BLOCKS if old_point[b] != new_point[b] for s in STUDY_SEEDS}
    assert {k for k in after if k not in before} == {
        f"results/tuning/runs/{b}/n6/lr=0.003/seed{s}/train.json" for b in BLOCKS for s in TUNE_SEEDS}
