"""A fair comparison when asked for (`study.tune`): each block type's own setting, chosen on the
validation split, then trained on fresh seeds and compared on the test set.

- The config: :func:`check_tune_config` (the checks the schema cannot express: base recipe,
  block types, valid points, tuning seeds disjoint from the study's), :func:`tuning_on`,
  :func:`study_axes` (the study with the recipe :data:`TUNED` added to its axes).
- The grid: :func:`grid_points` (a block type's points, in grid order), :func:`point_label`
  (a point's name, also its folder), :func:`point_recipe` (base recipe + point),
  :func:`tuning_runs` (one dict per tuning run), :func:`grid_plan` (the choice rule's params).
- The choice: :func:`collect_scores` (the validation accuracy of every tuning run, read from its
  train.json: never a test number), :func:`choose` (best mean per block type and depth; ties go
  to the point listed first; NaN refused), :func:`write_choice` and :func:`chosen_recipe`.

Torch-free and Snakemake-free: the Snakefile and the config check import it.
"""
from __future__ import annotations

import copy
import functools
import itertools
import json
import math
from pathlib import Path

TUNED = "tuned"        # the recipe name of the runs trained with each block type's choice
TUNING = "tuning"      # the recipe name of the tuning runs (their train.json, their identity)
TUNABLE = ("epochs", "batch_size", "optimizer", "lr", "momentum", "weight_decay", "schedule",
           "warmup_epochs", "label_smoothing", "augment", "crop_padding", "dropout")
MAX_POINTS = 64        # grid points per block type
TIE_RULE = "the point listed first in the grid"
SCHEMA = Path(__file__).resolve().parents[2] / "config" / "schema.yaml"


class TuneError(ValueError):
    """A tuning run's file or score that cannot be chosen from; the message names it."""


def tuning_on(study: dict) -> bool:
    return bool((study.get("tune") or {}).get("enabled"))


def study_axes(study: dict) -> dict:
    """The study's axes as the workflow runs them: with tuning on, the recipe TUNED joins
    study.recipes, so its runs land in every summary, figure and paired comparison."""
    out = copy.deepcopy(study)
    if tuning_on(study) and TUNED not in out["recipes"]:
        out["recipes"] = [*out["recipes"], TUNED]
    return out


def block_grid(tune: dict, block_type: str) -> dict:
    """The grid of one block type: its entry in per_block, else the shared grid."""
    return (tune.get("per_block") or {}).get(block_type) or tune["grid"]


def grid_points(tune: dict, block_type: str) -> list[dict]:
    """Every point of a block type's grid, as {key: value}: the product of its lists, the first
    key varying slowest, each list in its order."""
    grid = block_grid(tune, block_type)
    keys = list(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def point_label(point: dict) -> str:
    """A point's name and folder, e.g. "lr=0.001" or "lr=0.001,dropout=0.3"."""
    return ",".join(f"{k}={_text(v)}" for k, v in point.items())


def point_recipe(recipes: dict, tune: dict, point: dict) -> dict:
    """The base recipe's fields with the point's values."""
    return {**recipes[tune["base"]], **point}


def study_seed_list(seeds) -> list[int]:
    """Every seed the study may use: the list, or 0..max-1 for a precision target."""
    return list(seeds) if isinstance(seeds, list) else list(range(seeds["max"]))


def tuning_runs(study: dict) -> list[dict]:
    """One dict per tuning run: block_type, n_blocks, point (its label), seed."""
    tune = study["tune"]
    return [dict(block_type=b, n_blocks=n, point=point_label(p), seed=s)
            for b in study["block_types"] for n in study["n_blocks"]
            for p in grid_points(tune, b) for s in tune["seeds"]]


def grid_plan(study: dict, recipes: dict) -> dict:
    """block type -> [{label, point, recipe}] in grid order: what the choice rule writes down."""
    tune = study["tune"]
    return {b: [{"label": point_label(p), "point": p, "recipe": point_recipe(recipes, tune, p)}
                for p in grid_points(tune, b)] for b in study["block_types"]}


# --------------------------------------------------------------------------- the config

@functools.cache
def _recipe_schema() -> dict:
    import yaml  # noqa: PLC0415
    return yaml.safe_load(SCHEMA.read_text())["properties"]["recipes"]["additionalProperties"]


def _check_grid(grid: dict, where: str, recipes: dict, tune: dict, n_train: int) -> None:
    import jsonschema  # noqa: PLC0415
    validator = jsonschema.Draft202012Validator(_recipe_schema())
    size = math.prod(len(v) for v in grid.values())
    if size > MAX_POINTS:
        raise ValueError(f"{where}: {size} grid points, at most {MAX_POINTS} per block type")
    for key, values in grid.items():
        for i, value in enumerate(values):
            recipe = {**recipes[tune["base"]], key: value}
            for err in validator.iter_errors(recipe):
                raise ValueError(f"{where}.{key}.{i}: {err.message[:200]}")
            if key in ("warmup_epochs", "epochs") and recipe.get("warmup_epochs", 0) > recipe["epochs"]:
                raise ValueError(f"{where}.{key}.{i}: warmup_epochs {recipe.get('warmup_epochs')} "
                                 f"is more than {recipe['epochs']} epochs")
            if key == "batch_size" and value > n_train:
                raise ValueError(f"{where}.{key}.{i}: {value} is larger than the training set "
                                 f"({n_train} images)")


def tune_config_error(cfg: dict, n_train: int) -> str | None:
    """What is wrong with a validated config's study.tune ("<key>: <why>"), or None."""
    study, recipes = cfg["study"], cfg["recipes"]
    tune = study.get("tune")
    grids = {"study.tune.grid": tune["grid"]} if tune else {}
    grids.update({f"study.tune.per_block.{b}": g for b, g in (tune or {}).get("per_block", {}).items()})
    for where, grid in grids.items():
        for key in grid:
            if key not in TUNABLE:
                return (f"{where}.{key}: not a recipe key the grid can change (one of "
                        f"{', '.join(TUNABLE)})")
    if not tuning_on(study):
        return None
    if tune["base"] not in recipes:
        return (f"study.tune.base: unknown recipe {tune['base']!r} "
                f"(defined under recipes: {', '.join(recipes)})")
    if TUNED in recipes or TUNED in study["recipes"]:
        return (f"recipes.{TUNED}: the name {TUNED!r} belongs to the tuned runs of study.tune; "
                "give this recipe another name")
    for b in tune.get("per_block") or {}:
        if b not in study["block_types"]:
            return (f"study.tune.per_block.{b}: not a block type of the study "
                    f"(study.block_types: {', '.join(study['block_types'])})")
    try:
        _check_grid(tune["grid"], "study.tune.grid", recipes, tune, n_train)
        for b, grid in (tune.get("per_block") or {}).items():
            _check_grid(grid, f"study.tune.per_block.{b}", recipes, tune, n_train)
    except ValueError as exc:
        return str(exc)
    shared = sorted(set(tune["seeds"]) & set(study_seed_list(study["seeds"])))
    if shared:
        return (f"study.tune.seeds: {', '.join(map(str, shared[:5]))} also in study.seeds; the "
                "chosen settings must be tested on fresh seeds, so tuning seeds may not overlap "
                "the study's")
    return None


# --------------------------------------------------------------------------- the choice

def collect_scores(train_jsons, runs: list[dict], criterion: str):
    """One row per tuning run (block_type, n_blocks, point, seed, val_acc) from its train.json
    (`runs`: the run of each file, in order); `criterion` is the train.json field scored:
    best_val_acc (the weights engine.evaluate_weights: best tests) or final_val_acc (last)."""
    import pandas as pd  # noqa: PLC0415
    rows = []
    for path, run in zip(train_jsons, runs, strict=True):
        facts = json.loads(Path(path).read_text())
        if criterion not in facts:
            raise TuneError(f"{path}: no {criterion} recorded")
        rows.append({**run, "val_acc": facts[criterion]})
    return pd.DataFrame(rows, columns=["block_type", "n_blocks", "point", "seed", "val_acc"])


def choose(scores, order: dict):
    """The grid table: one row per (block_type, n_blocks, point) with n_seeds, mean_val_acc,
    sd_val_acc (n-1; empty with one seed) and `chosen`, True for the best mean of each
    (block_type, n_blocks). Ties (equal means) go to the point listed first in `order` (block
    type -> labels in grid order). A missing or non-finite score is refused (TuneError)."""
    import pandas as pd  # noqa: PLC0415
    bad = scores[~scores.val_acc.map(lambda v: isinstance(v, (int, float)) and math.isfinite(v))]
    if len(bad):
        r = bad.iloc[0]
        raise TuneError(f"tuning run {r.block_type}/n{r.n_blocks}/{r.point}/seed{r.seed}: "
                        f"validation accuracy {r.val_acc!r} is not a finite number")
    rows = []
    for (b, n), group in scores.groupby(["block_type", "n_blocks"], sort=False):
        labels = order[b]
        unknown = set(group.point) - set(labels)
        if unknown:
            raise TuneError(f"{b}/n{n}: points {sorted(unknown)} are not in its grid")
        stats = [(label, group[group.point == label].val_acc.astype(float)) for label in labels]
        best = max(range(len(stats)), key=lambda i: (stats[i][1].mean(), -i))
        for i, (label, vals) in enumerate(stats):
            rows.append({"block_type": b, "n_blocks": int(n), "point": label,
                         "n_seeds": len(vals), "mean_val_acc": vals.mean(),
                         "sd_val_acc": vals.std(ddof=1) if len(vals) > 1 else float("nan"),
                         "chosen": i == best})
    return pd.DataFrame(rows, columns=["block_type", "n_blocks", "point", "n_seeds",
                                       "mean_val_acc", "sd_val_acc", "chosen"])


def grid_table(table, plan: dict):
    """The grid table for people: the network's name and one column per grid key."""
    from cifar_nets import MODEL_NAMES  # noqa: PLC0415
    points = {(b, p["label"]): p["point"] for b, ps in plan.items() for p in ps}
    keys = list(dict.fromkeys(k for point in points.values() for k in point))
    out = table.copy()
    out.insert(1, "model", out.block_type.map(MODEL_NAMES))
    for j, key in enumerate(keys):
        out.insert(4 + j, key, [_text(points[(b, p)][key]) if key in points[(b, p)] else ""
                                for b, p in zip(out.block_type, out.point)])   # as written
    return out


def choice_record(table, plan: dict, tune: dict, criterion: str) -> dict:
    """choice.json's contents: how the choice was made and each (block type, depth)'s point
    with the recipe its tuned runs train."""
    chosen = table[table.chosen]
    recipe_of = {(b, p["label"]): p for b, ps in plan.items() for p in ps}
    return {
        "base": tune["base"], "tuning_seeds": list(tune["seeds"]), "criterion": criterion,
        "data": "validation split only (no test image)", "tie_rule": TIE_RULE,
        "choices": [{"block_type": r.block_type, "n_blocks": int(r.n_blocks), "point": r.point,
                     "settings": recipe_of[(r.block_type, r.point)]["point"],
                     "mean_val_acc": float(r.mean_val_acc), "n_seeds": int(r.n_seeds),
                     "recipe": recipe_of[(r.block_type, r.point)]["recipe"]}
                    for r in chosen.itertuples()],
    }


def write_choice(outputs: dict, table, plan: dict, tune: dict, criterion: str,
                 data_label: str) -> None:
    """choice.json, grid.csv and grid.md (`outputs`: those three paths by name)."""
    from cifar_nets.io import write_json  # noqa: PLC0415
    from cifar_nets.tables import write_table  # noqa: PLC0415
    write_json(outputs["choice"], choice_record(table, plan, tune, criterion))
    shown = grid_table(table, plan)
    write_table(outputs["grid"], shown)
    write_table(outputs["grid_md"], shown, note=f"{data_label}: validation accuracy of the tuning "
                f"runs (seeds {', '.join(map(str, tune['seeds']))}), {criterion}")


def chosen_recipe(choice_path, block_type: str, n_blocks: int) -> dict:
    """The recipe the tuned runs of (block_type, n_blocks) train, from choice.json."""
    record = json.loads(Path(choice_path).read_text())
    for c in record["choices"]:
        if c["block_type"] == block_type and int(c["n_blocks"]) == int(n_blocks):
            return c["recipe"]
    raise TuneError(f"{choice_path}: no choice for {block_type} at {n_blocks} blocks; "
                    "delete it so that the choice is made again")
