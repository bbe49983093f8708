"""Issue 17, items 2 and 6: every config value is checked before any job, naming its key, and the
command line answers every bad input in one line (exit code 2), never a traceback.

The property tests (Hypothesis) put values at and beyond the schema's edges (NaN, inf, huge,
empty, path characters, HTML) into random keys and accept exactly two outcomes: a one-line
`<key>: ...` ConfigError, or a config every later step can use.
"""
import copy
import math
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cifar_nets import config as cfgmod
from workflow_helpers import ROOT, planned_jobs, snakemake, tiny_config

SCHEMA = cfgmod.load_schema()
DEFAULT = yaml.safe_load((ROOT / "config.yaml").read_text())
SECTIONS = tuple(SCHEMA["properties"])


def _validate(cfg):
    return cfgmod.validate_config(cfg, SCHEMA)


def _with(path, value, cfg=None):
    out = copy.deepcopy(DEFAULT if cfg is None else cfg)
    node = out
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return out


def _error(cfg) -> str:
    with pytest.raises(cfgmod.ConfigError) as err:
        _validate(cfg)
    message = str(err.value)
    assert "\n" not in message and len(message) < 400, message
    return message


# --------------------------------------------------------------------------- the issue's reproductions

@pytest.mark.parametrize("path,value,key", [
    (("recipes", "notebook", "std"), [math.inf] * 3, "recipes.notebook.std.0"),
    (("recipes", "notebook", "label_smoothing"), math.nan, "recipes.notebook.label_smoothing"),
    (("recipes", "notebook", "lr"), math.nan, "recipes.notebook.lr"),
    (("recipes", "notebook", "dropout"), math.nan, "recipes.notebook.dropout"),
    (("recipes", "notebook", "warmup_epochs"), 1e300, "recipes.notebook.warmup_epochs"),
    (("recipes", "notebook", "warmup_epochs"), 31, "recipes.notebook.warmup_epochs"),
    (("split", "train_fraction"), math.nan, "split.train_fraction"),
    (("study", "seeds"), [2**63], "study.seeds.0"),
    (("study", "seeds"), [2**64], "study.seeds.0"),
    (("split", "seed"), 2**63, "split.seed"),
    (("engine", "runs_per_gpu"), 10**9, "engine.runs_per_gpu"),
    (("recipes", "notebook", "epochs"), 10**9, "recipes.notebook.epochs"),
    (("model", "n_hidden"), 10**6, "model.n_hidden"),
    (("study", "recipes"), ["a" * 300], "study.recipes.0"),
    (("data", "label"), "x" * 300, "data.label"),
    (("engine", "gpus"), [math.inf], "engine.gpus.0"),
])
def test_issue_reproductions_are_config_errors_naming_the_key(path, value, key):
    message = _error(_with(path, value))
    assert message.startswith(key + ":"), message


def test_a_recipe_name_that_is_not_a_path_component_is_refused():
    cfg = copy.deepcopy(DEFAULT)
    for name in ("a/b", "../x", "x" * 300, "<b>", "a b"):
        cfg["recipes"] = {**DEFAULT["recipes"], name: {"epochs": 1, "batch_size": 1, "lr": 1.0}}
        message = _error(cfg)
        assert message.startswith("recipes.") and "not a valid name" in message, message


def test_the_largest_seed_every_generator_takes_is_accepted():
    top = SCHEMA["properties"]["split"]["properties"]["seed"]["maximum"]
    assert top == 2**63 - 1                       # np.int64 in the split file
    _validate(_with(("study", "seeds"), [top]))
    torch.Generator().manual_seed(top)            # torch takes up to 2**64 - 1
    np.int64(top)


# --------------------------------------------------------------------------- --config strings

@pytest.mark.parametrize("given,expected", [
    ({"study": {"seeds": ["0", "1", "2"]}}, ("study", "seeds", [0, 1, 2])),
    ({"engine": {"gpus": ["0", "2"]}}, ("engine", "gpus", [0, 2])),
    ({"engine": {"bf16": "false"}}, ("engine", "bf16", False)),
    ({"engine": {"threads": "auto"}}, ("engine", "threads", "auto")),
    ({"engine": {"threads": "3"}}, ("engine", "threads", 3)),
    ({"data": {"label": "123"}}, ("data", "label", "123")),
    ({"recipes": {"notebook": {"lr": "1e-3", "std": ["0.2", "0.2", "0.2"]}}},
     ("recipes", "notebook", "std", [0.2, 0.2, 0.2])),
    ({"study": {"seeds": {"min": "2", "max": "4", "step": "1", "target_halfwidth": "0.5"}}},
     ("study", "seeds", {"min": 2, "max": 4, "step": 1, "target_halfwidth": 0.5})),
])
def test_strings_from_nested_config_overrides_are_read_as_yaml(given, expected):
    out = _validate(cfgmod.merge(DEFAULT, given))
    *path, value = expected
    for part in path:
        out = out[part]
    assert out == value


def test_whole_floats_become_integers_where_the_schema_wants_one():
    """JSON Schema counts 42.0 as an integer; torch.manual_seed refuses it (found by Hypothesis)."""
    out = _validate(_with(("split", "seed"), 42.0, _with(("engine", "threads"), 2.0)))
    assert type(out["split"]["seed"]) is int and type(out["engine"]["threads"]) is int
    torch.Generator().manual_seed(out["split"]["seed"])


def test_a_string_nan_from_the_command_line_is_still_refused():
    message = _error(cfgmod.merge(DEFAULT, {"recipes": {"notebook": {"lr": ".nan"}}}))
    assert message.startswith("recipes.notebook.lr: nan is not a finite number")


def test_a_config_that_is_not_a_mapping_is_refused_in_one_line(tmp_path):
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    (tmp_path / "bad.yaml").write_text("study: {seeds: [0, 1\n")
    for name, words in (("list.yaml", "not a list"), ("bad.yaml", "not valid YAML"),
                        ("missing.yaml", "cannot read")):
        with pytest.raises(cfgmod.ConfigError, match=words) as err:
            cfgmod.load_config(tmp_path / name)
        assert str(err.value).startswith(str(tmp_path / name)) and "\n" not in str(err.value)


# --------------------------------------------------------------------------- property tests

def _leaves(schema, value, path=()):
    """(path, schema) of every value in the default config."""
    if isinstance(value, dict) and "properties" in schema | {}:
        for k, v in value.items():
            sub = schema.get("properties", {}).get(k) or schema.get("additionalProperties") or {}
            yield from _leaves(sub, v, (*path, k))
    elif isinstance(value, dict) and isinstance(schema.get("additionalProperties"), dict):
        for k, v in value.items():
            yield from _leaves(schema["additionalProperties"], v, (*path, k))
    else:
        yield path, schema


LEAVES = list(_leaves(SCHEMA, DEFAULT))
EDGES = [math.nan, math.inf, -math.inf, 0, -1, 1, 2, 0.5, 1e-300, 2**31, 2**63 - 1, 2**63, 2**64,
         1e308, -1e308, "", "x" * 300, "../x", "a/b", "<script>alert(1)</script>", "-->", ".nan",
         "nan", "auto", "true", "é", None, [], {}, [math.nan], [2**64], ["0", "1"], True]


def _bounds(schema):
    out = []
    for alt in schema.get("oneOf", [schema]):
        for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            if k in alt:
                out += [alt[k], alt[k] - 1, alt[k] + 1]
        if "items" in alt:
            out += [[b] for b in _bounds(alt["items"])]
    return out


@st.composite
def edited_configs(draw):
    cfg, edited = copy.deepcopy(DEFAULT), []
    for _ in range(draw(st.integers(1, 3))):
        path, schema = draw(st.sampled_from(LEAVES))
        value = draw(st.sampled_from(EDGES + _bounds(schema)) | st.floats() | st.integers())
        cfg = _with(path, value, cfg)
        edited.append(".".join(path))
    return cfg, edited


def _usable(cfg):
    """What every later step does with a valid config, without training."""
    from cifar_nets.engine.recipe import EngineOptions, Recipe

    EngineOptions.from_config(cfg)
    for name in cfg["study"]["recipes"]:
        recipe = Recipe.from_config(cfg, name)
        assert re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,63}", name)
        assert all(math.isfinite(v) for v in (recipe.lr, recipe.dropout, *recipe.mean, *recipe.std))
        assert 0 <= recipe.warmup_epochs <= recipe.epochs
    seeds = cfg["study"]["seeds"]
    for seed in (seeds if isinstance(seeds, list) else [seeds["max"] - 1]) + [cfg["split"]["seed"]]:
        torch.Generator().manual_seed(seed)
        np.int64(seed)
    n_train = int(cfg["data"]["train_images"] * cfg["split"]["train_fraction"])
    assert 1 <= n_train < cfg["data"]["train_images"]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edited_configs())
def test_any_edge_value_is_a_one_line_error_naming_a_key_or_a_usable_config(case):
    cfg, edited = case
    try:
        out = _validate(cfg)
    except cfgmod.ConfigError as exc:
        message = str(exc)
        assert "\n" not in message and len(message) < 400, message
        key = message.split(":", 1)[0]
        assert key.split(".")[0] in SECTIONS, (message, edited)
        return
    _usable(out)


@pytest.mark.workflow
@settings(max_examples=6, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(case=edited_configs())
def test_the_workflow_gives_a_config_error_or_a_valid_dry_run(case, tmp_path_factory):
    cfg, _ = case
    wd = tmp_path_factory.mktemp("prop")
    (wd / "c.yaml").write_text(yaml.safe_dump(cfg))
    r = snakemake(wd, "--configfile", str(wd / "c.yaml"), "-n", "--cores", "1", ok=None,
                  timeout=300)
    if r.rc != 0:
        assert re.search(r"config error: [\w.]+: ", r.out) and "Traceback" not in r.out, r.out[-3000:]
    else:
        assert planned_jobs(r.out).get("train", 0) >= 1, r.out[-3000:]
    assert not (wd / "results").exists()


# --------------------------------------------------------------------------- workflow overrides

@pytest.mark.workflow
def test_the_documented_nested_config_override_works(tmp_path):
    """config.yaml's header example: `--config study='{seeds: [0, 1, 2]}'`."""
    header = (ROOT / "config.yaml").read_text().splitlines()[:4]
    assert any("--config study='{seeds: [0, 1, 2]}'" in line for line in header)
    cfg = tiny_config(tmp_path)
    r = snakemake(tmp_path, "--configfile", str(cfg), "-n", "--cores", "1",
                  "--config", "study={seeds: [0, 1, 2]}")
    assert planned_jobs(r.out)["train"] == 9, r.out[-2000:]


@pytest.mark.workflow
@pytest.mark.parametrize("override,message", [
    ("recipes={notebook: {lr: .nan}}", r"recipes\.notebook\.lr: nan is not a finite number"),
    ("split={train_fraction: .nan}", r"split\.train_fraction: nan is not a finite number"),
    ("study={seeds: [18446744073709551616]}", r"study\.seeds\.0: 18446744073709551616 is greater"),
])
def test_non_finite_and_huge_overrides_stop_the_workflow_naming_the_key(tmp_path, override, message):
    cfg = tiny_config(tmp_path)
    r = snakemake(tmp_path, "--configfile", str(cfg), "-n", "--cores", "1", "--config", override,
                  ok=False)
    assert re.search("config error: " + message, r.out) and "Traceback" not in r.out, r.out[-3000:]


# --------------------------------------------------------------------------- the command line

def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "cifar_nets", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("args,words", [
    (["--set", "study.seeds={min: 2, max: 4, step: 1, target_halfwidth: 1.0}"], "--data"),
    (["--configfile", "missing.yaml"], "missing.yaml: cannot read"),
    (["--configfile", "list.yaml"], "list.yaml: a config file holds a mapping"),
    (["--set", "study.seeds=[0, 1"], "is not a YAML value"),
    (["--set", "nokey"], "expected KEY=VALUE"),
    (["--threads", "-1"], "--threads: -1 is not a positive number"),
    (["--threads", "many"], "--threads"),
    (["--recipe", "modern", "--batch-size", "100000"], "recipes.modern.batch_size: 100000 is larger"),
    (["--recipe", "nope"], "--recipe: unknown recipe 'nope'"),
    (["--seed", str(2**64)], "study.seeds.0:"),
    (["--n-blocks", "-1"], "study.n_blocks.0:"),
    (["--set", "recipes.notebook.lr=.nan"], "recipes.notebook.lr: nan is not a finite number"),
    (["--data", "nowhere.npz"], "--data nowhere.npz: no such file"),
    (["--block-type", "dense"], "--block-type: 'dense' is not a block type"),
])
def test_every_bad_command_line_is_one_line_and_exit_code_2(tmp_path, args, words):
    (tmp_path / "list.yaml").write_text("- a\n")
    r = _cli(*args, "--out", "out", cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert words in r.stderr, r.stderr
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- cores and GPU ids

def _train_threads(out):
    return sorted(int(t) for t in re.findall(r"rule train:(?:\n    [^\n]*)*?\n    threads: (\d+)", out))


@pytest.mark.workflow
def test_cores_above_the_usable_ones_are_capped_with_one_warning(tmp_path):
    from cifar_nets.machine.hardware import usable_cpus
    usable = usable_cpus()
    cfg = tiny_config(tmp_path, engine={"threads": "auto"}, block_types=["conv", "res", "skip"])
    capped = snakemake(tmp_path, "--configfile", str(cfg), "-n", "--cores", str(usable + 3))
    exact = snakemake(tmp_path, "--configfile", str(cfg), "-n", "--cores", str(usable))
    warning = f"--cores {usable + 3} is more than the {usable} usable cores of this host"
    assert capped.out.count(warning) == 1, capped.out[-2000:]
    assert warning not in exact.out
    assert _train_threads(capped.out) == _train_threads(exact.out)
    from cifar_nets.machine.hardware import cpu_thread_plan     # Snakemake prints threads above 1 only
    assert _train_threads(capped.out) == sorted(t for t in cpu_thread_plan(usable, 3) if t > 1)
    # Snakemake schedules for the capped count too (the one internal this project sets: fails
    # here if a Snakemake release stops reading it)
    real = snakemake(tmp_path, "--configfile", str(cfg), "--cores", str(usable + 3),
                     "results/data/split-seed42.npz")
    assert f"Provided cores: {usable}" in real.out, real.out[-2000:]


@pytest.mark.workflow
def test_gpu_ids_the_host_lacks_stop_the_run_naming_the_key(tmp_path):
    cfg = tiny_config(tmp_path)
    r = snakemake(tmp_path, "--configfile", str(cfg), "-n", "--cores", "1", "--config",
                  "engine={device: cuda, gpus: [7]}", ok=False,
                  env=dict(__import__("os").environ, CUDA_VISIBLE_DEVICES=""))
    assert re.search(r"config error: engine\.gpus: \[7\] but this host has \d+ visible CUDA", r.out), \
        r.out[-2000:]


@pytest.mark.workflow
def test_configfile_given_twice_stops_instead_of_dropping_the_first(tmp_path):
    """Snakemake keeps only the files after the last --configfile: the preset would be dropped."""
    cfg = tiny_config(tmp_path)
    (tmp_path / "more.yaml").write_text("study: {seeds: [0, 1]}\n")
    r = snakemake(tmp_path, "--configfile", str(cfg), "--configfile", "more.yaml", "-n", ok=False)
    assert "config error: --configfile given more than once" in r.out, r.out[-2000:]
    ok = snakemake(tmp_path, "--configfile", str(cfg), "more.yaml", "-n")
    assert planned_jobs(ok.out)["train"] == 6, ok.out[-2000:]   # 3 block types x 2 seeds


# --------------------------------------------------------------------------- how config arrives (issue 25)

@pytest.mark.parametrize("source,words", [
    ("ftp://example.org/x.tar.gz", "unsupported URL scheme 'ftp'"),
    ("s3://bucket/cifar.tar.gz", "unsupported URL scheme 's3'"),
    ("file://otherhost/x.tar.gz", "file:// URL on the host 'otherhost'"),
])
def test_a_source_the_downloader_cannot_read_is_a_config_error(source, words):
    message = _error(cfgmod.merge(DEFAULT, {"data": {"source": source}}))
    assert message.startswith(f"data.source: {source!r}: {words}"), message
    assert "allowed: https://, http://, file:// (this host) or a plain path" in message
    for fine in ("HTTPS://a.example/x.tar.gz", "file:///tmp/x.tar.gz", "rel/x.tar.gz"):
        _validate(cfgmod.merge(DEFAULT, {"data": {"source": fine}}))


def test_the_same_config_in_any_key_order_validates_to_the_same_repr():
    """Snakemake compares a rule's params by repr: the key order of the files and --config must not
    show in it (eval_batch_size or top_confused_pairs given at their default reran the report)."""
    def reversed_keys(value):
        return ({k: reversed_keys(value[k]) for k in reversed(list(value))} if isinstance(value, dict)
                else value)
    schema = cfgmod.load_schema()
    base = cfgmod.validate_config(copy.deepcopy(DEFAULT), schema)
    assert repr(cfgmod.validate_config(reversed_keys(DEFAULT), schema)) == repr(base)
    # the order of config.yaml itself (defaults filled in) is the order: a study made before keeps
    # its params
    assert list(base) == list(DEFAULT) and list(base["engine"]) == list(DEFAULT["engine"])
    own = cfgmod.merge(DEFAULT, {"recipes": {"fast": {"lr": 0.1, "epochs": 1, "batch_size": 8}}})
    assert list(cfgmod.validate_config(own, schema)["recipes"]["fast"]) == list(base["recipes"]["notebook"])


@pytest.mark.parametrize("text", ["x</script><script>alert(1)</script>", "a & b <!-- c", "&amp;lt;",
                                  "plain CIFAR-10"])
def test_params_hold_no_angle_bracket_and_give_the_value_back(text):
    from cifar_nets.params import escape_params, unescape_params
    value = {"data": {"label": text}, "list": [text, 3]}
    escaped = escape_params(value)
    assert "<" not in repr(escaped)
    assert unescape_params(escaped) == value
    assert (escaped == value) == (not set(text) & set("&<>"))   # unchanged without &<>


def test_config_given_twice_or_replaced_by_the_command_line_is_named(tmp_path):
    from workflow_scripts.snakemake_api import config_source_error
    prog = "snakemake"
    assert config_source_error([prog, "--configfile", "a.yaml", "b.yaml", "--config", "x=1", "y=2"]) is None
    for argv, words in (
            ([prog, "--config", "a=1", "--config", "b=2"], "--config given more than once"),
            ([prog, "-C", "a=1", "--config=b=2"], "--config given more than once"),
            ([prog, "--configfile", "a.yaml", "--configfiles", "b.yaml"], "--configfile given more than once")):
        assert config_source_error(argv).startswith(words), argv
    profile = tmp_path / "profile.yaml"
    profile.write_text("configfile: [a.yaml]\nconfig: {study: '{seeds: [0, 1]}'}\n")
    assert config_source_error([prog, "-n"], [profile]) is None
    assert config_source_error([prog, "--configfile", "b.yaml"], [profile]).startswith(
        f"the profile {profile} sets configfile:, and --configfile on the command line replaces it")
    assert config_source_error([prog, "--config", "a=1"], [profile]).startswith(
        f"the profile {profile} sets config:, and --config on the command line replaces it")
    assert "both set configfile:" in config_source_error([prog], [profile, profile])


@pytest.mark.workflow
def test_a_second_config_flag_or_a_replaced_profile_configfile_stops_the_run(tmp_path):
    cfg = tiny_config(tmp_path)
    r = snakemake(tmp_path, "--configfile", str(cfg), "-n", "--config", "study={seeds: [0, 1]}",
                  "--config", "model={n_hidden: 16}", ok=False)
    assert "config error: --config given more than once" in r.out, r.out[-2000:]
    (tmp_path / "prof").mkdir()
    (tmp_path / "prof/config.yaml").write_text(f"configfile: [{cfg}]\n")
    (tmp_path / "more.yaml").write_text("study: {seeds: [0, 1]}\n")
    r = snakemake(tmp_path, "--profile", "prof", "--configfile", "more.yaml", "-n", ok=False)
    assert "config error: the profile prof/config.yaml sets configfile:" in r.out, r.out[-2000:]
    assert not (tmp_path / "results").exists()
    ok = snakemake(tmp_path, "--profile", "prof", "-n")                # the profile alone: its files
    assert planned_jobs(ok.out)["train"] == 3, ok.out[-2000:]
