"""study.tune (issue 22, item 5): the grid, the config checks and the choice on validation data
(cifar_nets/study/tune.py), the report's section and the figure. The workflow end to end:
tests/test_tuning_workflow.py."""
import copy
import json
import math

import pandas as pd
import pytest
import yaml

from cifar_nets import config as cfgmod
from cifar_nets.report import figures
from cifar_nets.report.plots_study import draw_tuning_validation
from cifar_nets.study.tune import (TIE_RULE, TUNED, TuneError, choice_record, choose, chosen_recipe,
                             grid_plan, grid_points, grid_table, point_label, study_axes,
                             tuning_runs)
from cifar_nets.report.tune_report import tuning_sections, with_tuning
from workflow_helpers import ROOT

DEFAULT = yaml.safe_load((ROOT / "config.yaml").read_text())


def _config(**tune):
    cfg = copy.deepcopy(DEFAULT)
    cfg["study"]["tune"].update(enabled=True, **tune)
    return cfg


def _validate(cfg):
    return cfgmod.validate_config(cfg, cfgmod.load_schema())


def _scores(values: dict) -> pd.DataFrame:
    """{(block_type, point): [val_acc per seed]} as collect_scores' table (seeds 10, 11, ...)."""
    return pd.DataFrame([{"block_type": b, "n_blocks": 6, "point": p, "seed": 10 + i, "val_acc": v}
                         for (b, p), vals in values.items() for i, v in enumerate(vals)])


# --------------------------------------------------------------------------- the choice

def test_the_best_mean_validation_accuracy_is_chosen_per_block_type():
    table = choose(_scores({("res", "a"): [50, 54], ("res", "b"): [53, 52], ("res", "c"): [40, 41],
                            ("conv", "a"): [30, 31], ("conv", "b"): [20, 45]}),
                   {"res": ["a", "b", "c"], "conv": ["a", "b"]})
    chosen = {b: p for b, p in zip(table.block_type, table.point) if table.chosen[table.point == p]
              .loc[table.block_type == b].item()}
    assert chosen == {"res": "b", "conv": "b"}          # 52.5 > 52 > 40.5; 32.5 > 30.5
    row = table[(table.block_type == "res") & (table.point == "a")].iloc[0]
    assert row.mean_val_acc == 52 and row.sd_val_acc == pytest.approx(math.sqrt(8))
    assert list(table.n_seeds) == [2] * 5
    assert table.groupby("block_type").chosen.sum().to_dict() == {"conv": 1, "res": 1}


def test_a_tie_goes_to_the_point_listed_first_in_the_grid():
    scores = _scores({("res", "x"): [50, 52], ("res", "y"): [51, 51], ("res", "z"): [49, 53]})
    assert choose(scores, {"res": ["x", "y", "z"]}).query("chosen").point.item() == "x"
    assert choose(scores, {"res": ["z", "y", "x"]}).query("chosen").point.item() == "z"
    assert choose(scores, {"res": ["y", "z", "x"]}).query("chosen").point.item() == "y"
    assert TIE_RULE == "the point listed first in the grid"


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), None, "52.0"])
def test_a_score_that_is_not_a_finite_number_is_refused(bad):
    scores = _scores({("res", "a"): [50, bad], ("res", "b"): [40, 41]})
    with pytest.raises(TuneError, match=r"^tuning run res/n6/a/seed11: validation accuracy .* "
                                        r"is not a finite number$"):
        choose(scores, {"res": ["a", "b"]})


def test_a_point_outside_the_grid_is_refused_and_one_seed_has_no_sd():
    with pytest.raises(TuneError, match=r"points \['q'\] are not in its grid"):
        choose(_scores({("res", "q"): [50]}), {"res": ["a"]})
    table = choose(_scores({("res", "a"): [50], ("res", "b"): [51]}), {"res": ["a", "b"]})
    assert table.sd_val_acc.isna().all() and table.query("chosen").point.item() == "b"


def test_the_choice_file_holds_the_recipe_the_tuned_runs_train(tmp_path):
    cfg = _validate(_config(grid={"lr": [1e-3, 3e-3], "dropout": [0.5, 0.3]}, seeds=[5, 6]))
    plan = grid_plan(cfg["study"], cfg["recipes"])
    labels = [p["label"] for p in plan["res"]]
    assert labels == ["lr=0.001,dropout=0.5", "lr=0.001,dropout=0.3", "lr=0.003,dropout=0.5",
                      "lr=0.003,dropout=0.3"]
    table = choose(_scores({("res", label): [40 + i, 40 + i] for i, label in enumerate(labels)}),
                   {"res": labels})
    record = choice_record(table, plan, cfg["study"]["tune"], "best_val_acc")
    (tmp_path / "choice.json").write_text(json.dumps(record))
    recipe = chosen_recipe(tmp_path / "choice.json", "res", 6)
    assert recipe == {**cfg["recipes"]["notebook"], "lr": 3e-3, "dropout": 0.3}
    assert record["tuning_seeds"] == [5, 6] and "validation" in record["data"]
    shown = grid_table(table, plan)
    assert list(shown.columns[:6]) == ["block_type", "model", "n_blocks", "point", "lr", "dropout"]
    assert list(shown.lr) == ["0.001", "0.001", "0.003", "0.003"]
    with pytest.raises(TuneError, match="no choice for conv at 6 blocks"):
        chosen_recipe(tmp_path / "choice.json", "conv", 6)


# --------------------------------------------------------------------------- the grid and the config

def test_points_are_the_product_in_grid_order_and_per_block_replaces_the_grid():
    tune = {"grid": {"lr": [1e-3, 3e-4], "augment": [False, True]},
            "per_block": {"conv": {"lr": [1e-2]}}, "seeds": [9], "base": "notebook"}
    assert [point_label(p) for p in grid_points(tune, "res")] == [
        "lr=0.001,augment=false", "lr=0.001,augment=true", "lr=0.0003,augment=false",
        "lr=0.0003,augment=true"]
    assert grid_points(tune, "conv") == [{"lr": 1e-2}]
    study = {"block_types": ["conv", "res"], "n_blocks": [2, 6], "tune": tune}
    assert len(tuning_runs(study)) == (1 + 4) * 2


def test_tuning_is_off_by_default_and_adds_the_recipe_tuned_when_on():
    cfg = _validate(copy.deepcopy(DEFAULT))
    assert cfg["study"]["tune"]["enabled"] is False
    assert study_axes(cfg["study"])["recipes"] == ["notebook"]
    assert figures.figure_entries(cfg["study"], ("tuning",)) == []
    on = _validate(_config())
    assert study_axes(on["study"])["recipes"] == ["notebook", TUNED]
    assert on["study"]["recipes"] == ["notebook"]      # the config itself is not changed
    assert [e["path"] for e in figures.figure_entries(study_axes(on["study"]), ("tuning",))] == [
        "results/figures/tuning_validation.png"]


@pytest.mark.parametrize("edit,message", [
    (lambda c: c["study"]["tune"].update(seeds=[1000, 0]),
     r"^study\.tune\.seeds: 0 also in study\.seeds; .*fresh seeds"),
    (lambda c: c["study"].update(seeds={"min": 3, "max": 10, "step": 2, "target_halfwidth": 1.0})
     or c["study"]["tune"].update(seeds=[9]),
     r"^study\.tune\.seeds: 9 also in study\.seeds"),
    (lambda c: c["study"]["tune"].update(base="nope"), r"^study\.tune\.base: unknown recipe 'nope'"),
    (lambda c: c["study"]["tune"].update(per_block={"gated": {"lr": [1e-3]}}),
     r"^study\.tune\.per_block\.gated: not a block type of the study"),
    (lambda c: c["study"]["tune"].update(grid={"mean": [0.5]}),
     r"^study\.tune\.grid\.mean: not a recipe key the grid can change"),
    (lambda c: c["study"]["tune"].update(grid={"lr": [1e-3, 0]}),
     r"^study\.tune\.grid\.lr\.1: 0 is less than or equal to the minimum of 0"),
    (lambda c: c["study"]["tune"].update(grid={"optimizer": ["adam", "cosine"]}),
     r"^study\.tune\.grid\.optimizer\.1: 'cosine' is not one of"),
    (lambda c: c["study"]["tune"].update(grid={"warmup_epochs": [40]}),
     r"^study\.tune\.grid\.warmup_epochs\.0: warmup_epochs 40 is more than 30 epochs"),
    (lambda c: c["study"]["tune"].update(grid={"lr": [1e-3 * i for i in range(1, 9)],
                                                "dropout": [0.1 * i for i in range(1, 10)]}),
     r"^study\.tune\.grid: 72 grid points, at most 64"),
    (lambda c: c["recipes"].update(tuned={"epochs": 1, "batch_size": 8, "lr": 0.1}),
     r"^recipes\.tuned: the name 'tuned' belongs to the tuned runs"),
    (lambda c: c["study"]["tune"].update(seeds=[]), r"^study\.tune\.seeds: "),
])
def test_a_bad_tuning_config_is_a_one_line_error_naming_its_key(edit, message):
    cfg = _config()
    edit(cfg)
    with pytest.raises(cfgmod.ConfigError, match=message) as err:
        _validate(cfg)
    assert "\n" not in str(err.value)


def test_grid_values_from_the_command_line_are_read_as_yaml():
    """--config study='{tune: {grid: {lr: [0.001, 0.01]}}}' arrives as strings."""
    cfg = copy.deepcopy(DEFAULT)
    cfg["study"]["tune"] = {"enabled": "true", "base": "notebook", "grid": {"lr": ["0.001", "0.01"],
                            "augment": ["true"], "optimizer": ["adamw"]}, "per_block": {},
                            "seeds": ["7"]}
    out = _validate(cfg)["study"]["tune"]
    assert out["grid"] == {"lr": [0.001, 0.01], "augment": [True], "optimizer": ["adamw"]}
    assert out["enabled"] is True and out["seeds"] == [7]


# --------------------------------------------------------------------------- the report and the figure

def _grid_files(tmp_path):
    cfg = _validate(_config(grid={"lr": [1e-3, 3e-3]}))
    plan = grid_plan({**cfg["study"], "block_types": ["conv", "res"]}, cfg["recipes"])
    table = choose(_scores({("conv", "lr=0.001"): [30, 32], ("conv", "lr=0.003"): [35, 36],
                            ("res", "lr=0.001"): [50, 52], ("res", "lr=0.003"): [49, 48]}),
                   {b: [p["label"] for p in ps] for b, ps in plan.items()})
    paths = [tmp_path / "choice.json", tmp_path / "grid.csv"]
    paths[0].write_text(json.dumps(choice_record(table, plan, cfg["study"]["tune"], "best_val_acc")))
    grid_table(table, plan).to_csv(paths[1], index=False)
    return paths


def test_the_report_section_shows_the_grid_the_choices_and_the_figure(tmp_path):
    paths = _grid_files(tmp_path)
    png = tmp_path / "tuning_validation.png"
    draw_tuning_validation(pd.read_csv(paths[1]), png, {})
    assert png.read_bytes()[:4] == b"\x89PNG"
    entries = [{"name": "tuning_validation", "scope": "tuning", "recipe": None, "n_blocks": None,
                "block_type": None, "path": str(png)}]
    (section,) = tuning_sections(paths, entries)
    text = " ".join(section["sentences"])
    assert "Custom_ConvNet, 6 blocks: lr 0.003 (mean validation accuracy 35.50%" in text
    assert "Custom_ResNet, 6 blocks: lr 0.001 (mean validation accuracy 51.00%" in text
    assert "No test image was used to choose" in text
    assert len(section["tables"][0][1]) == 4 and section["figures"][0][1] == str(png)
    assert tuning_sections([], entries) == []
    sections = [{"title": "Answer at a glance"}, {"title": "Runs: notebook recipe, 6 blocks"},
                {"title": "Data"}]
    assert [s["title"][:4] for s in with_tuning(sections, [section])] == ["Answ", "Tuni", "Runs",
                                                                          "Data"]
