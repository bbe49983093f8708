import copy

import pandas as pd
import pytest
import yaml

from cifar_nets import config as cfgmod
from cifar_nets.engine.models import BLOCK_TYPES
from cifar_nets.study.summary import (depth_sentences, notebook_comparison, ranking_sentence,
                              recipe_sentences, summary_tables)


@pytest.fixture(scope="module")
def base(repo_root):
    return (yaml.safe_load((repo_root / "config.yaml").read_text()),
            cfgmod.load_schema(repo_root / "config/schema.yaml"))


def test_default_config_is_valid_and_defaults_are_filled(base):
    cfg, schema = base
    out = cfgmod.validate_config(cfg, schema)
    assert out["recipes"]["notebook"]["lr"] == 1e-4 and out["recipes"]["notebook"]["epochs"] == 30
    assert out["recipes"]["notebook"]["crop_padding"] == 4      # filled from the schema
    assert out["study"]["block_types"] == ["conv", "res", "skip"]
    assert cfgmod.BLOCK_TYPES == BLOCK_TYPES


@pytest.mark.parametrize("edit,key", [
    (lambda c: c["recipes"]["notebook"].update(epochs=-3), "recipes.notebook.epochs"),
    (lambda c: c["recipes"]["notebook"].update(batch_sise=3), "recipes.notebook.batch_sise"),
    (lambda c: c.update(studdy={}), "studdy"),
    (lambda c: c["split"].update(train_fraction=0), "split.train_fraction"),
    (lambda c: c["data"].update(md5="abc"), "data.md5"),
    (lambda c: c["engine"].update(device="tpu"), "engine.device"),
    (lambda c: c["study"].update(seeds=[]), "study.seeds"),
    (lambda c: c["study"].update(recipes=["notebook", "nope"]), "study.recipes.1"),
])
def test_bad_values_name_their_key(base, edit, key):
    cfg, schema = base
    bad = copy.deepcopy(cfg)
    edit(bad)
    with pytest.raises(cfgmod.ConfigError) as err:
        cfgmod.validate_config(bad, schema)
    assert str(err.value).startswith(key + ":"), str(err.value)
    assert "\n" not in str(err.value)


def _runs():
    rows = []
    acc = {("conv", 0): [60, 61, 62], ("res", 0): [70, 71, 72], ("skip", 0): [66, 66.5, 67.5],
           ("conv", 6): [55, 57, 56], ("res", 6): [72, 73, 71], ("skip", 6): [69, 68, 70]}
    names = {"conv": "Custom_ConvNet", "res": "Custom_ResNet", "skip": "Custom_SkipNet"}
    for (bt, n), vals in acc.items():
        for seed, v in enumerate(vals):
            rows.append(dict(recipe="notebook", model=names[bt], block_type=bt, n_blocks=n, seed=seed,
                             parameters=1000 + n, test_acc=v))
    return pd.DataFrame(rows)


def test_summary_tables_and_generated_sentences():
    t = summary_tables(_runs())
    seeds = t["seeds"]
    assert list(seeds[seeds.n_blocks == 6].model) == ["Custom_ConvNet", "Custom_ResNet", "Custom_SkipNet"]
    res6 = seeds[(seeds.block_type == "res") & (seeds.n_blocks == 6)].iloc[0]
    assert res6["mean"] == pytest.approx(72.0) and res6["std"] == pytest.approx(1.0)
    s = ranking_sentence(seeds, "notebook", 6, "stand-in (JPEG) CIFAR-10")
    assert "Custom_ResNet 72.00%, Custom_SkipNet 69.00%, Custom_ConvNet 56.00%" in s
    assert "mean over 3 seeds" in s and ">" not in s     # a description, not a verdict
    p = t["paired"]
    row = p[(p.n_blocks == 6) & (p.a == "conv") & (p.b == "res")].iloc[0]
    assert row.mean_diff == pytest.approx(-16.0) and row.verdict == "better" and row.winner == "res"
    assert row.correction == "holm" and row.family_size == len(p) and row.p_adjusted >= row.p_value
    depth = depth_sentences(seeds, "notebook")
    assert any("Custom_ConvNet" in d and "a change of -5.0 points" in d for d in depth)
    assert any("Custom_ResNet" in d and "a change of +1.0 points" in d for d in depth)
    assert all("no test across depths" in d or "verdicts" in d for d in depth)
    assert recipe_sentences(seeds, 6) == []  # one recipe only


def test_recipe_sentence_says_whether_the_ranking_survives():
    runs = _runs()
    other = runs.copy()
    other["recipe"] = "modern"
    other.loc[other.block_type == "conv", "test_acc"] += 30   # conv now wins
    t = summary_tables(pd.concat([runs, other]))
    sentences = recipe_sentences(t["seeds"], 6)
    assert sentences[-1].startswith("The order of the means is not the same under the recipes")


def test_notebook_comparison_uses_the_reported_numbers():
    nb = notebook_comparison(_runs())
    assert list(nb.notebook_test_acc) == [65.18, 71.48, 69.38]
    assert nb.iloc[1]["difference"] == pytest.approx(72.0 - 71.48)


def test_confusion_sentence_names_the_shared_top_pair():
    from cifar_nets.study.summary import confusion_sentence
    idx = pd.MultiIndex.from_tuples([("cat", "dog"), ("automobile", "truck")], names=["class_a", "class_b"])
    counts = {("notebook", 6, "conv"): pd.Series([300, 120], index=idx),
              ("notebook", 6, "res"): pd.Series([250, 90], index=idx)}
    s = confusion_sentence(counts, "notebook", 6)
    assert s.startswith("The most confused class pair is cat / dog for every model")
    assert "Custom_ConvNet 300" in s and "Custom_ResNet 250" in s
    counts[("notebook", 6, "res")] = pd.Series([10, 90], index=idx)
    assert "Custom_ResNet automobile / truck (90)" in confusion_sentence(counts, "notebook", 6)


def test_one_seed_ties_get_no_verdict():
    from cifar_nets.study.verdicts import describe_comparison
    seeds = pd.DataFrame([dict(recipe="notebook", model="Custom_ConvNet", block_type="conv", n_blocks=0,
                               n_seeds=1, mean=67.47),
                          dict(recipe="notebook", model="Custom_ResNet", block_type="res", n_blocks=0,
                               n_seeds=1, mean=67.47)])
    s = ranking_sentence(seeds, "notebook", 0, "x")
    assert "Custom_ConvNet 67.47%, Custom_ResNet 67.47%" in s and "no verdict possible" in s
    row = dict(a="conv", b="res", n_pairs=1, mean_diff=0.0)
    text = describe_comparison(row, names={"conv": "C", "res": "R"})
    assert text == "C vs R: 0.0 points apart on only one seed; no test, no verdict."
