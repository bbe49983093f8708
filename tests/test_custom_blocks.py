"""Your own block, without editing the package (issue 19, item 7): model.custom_blocks.

A class named by `model.custom_blocks: {name: "module:Class"}` is imported and checked on a dummy
batch before any job (every failure one line naming the key), runs beside the built-in blocks
under its own name, and its source file's sha256 is part of its runs' identity, so editing the
file retrains its runs and nothing else.
"""
import itertools
import json
import sys

import pandas as pd
import pytest
import torch
import yaml

from cifar_nets import MODEL_NAMES, block_order
from cifar_nets import config as cfgmod
from cifar_nets.engine.checkpoints import fingerprint, run_identity
from cifar_nets.engine.custom_blocks import block_params, load_block, register_custom_blocks
from cifar_nets.engine.models import build_model, count_parameters, model_name
from cifar_nets.engine.recipe import RunSpec
from workflow_helpers import ROOT, engine, planned_jobs, snakemake, tiny_config
from workflow_helpers import recipe as Recipe

GATED = """
import torch
from torch import nn


class GatedBlock(nn.Module):
    def __init__(self, n_hidden):
        super().__init__()
        self.value = nn.Conv2d(n_hidden, n_hidden, 3, padding=1)
        self.gate = nn.Conv2d(n_hidden, n_hidden, 1)

    def forward(self, x):
        return x + self.value(torch.relu(x)) * torch.sigmoid(self.gate(x))


class Raises(nn.Module):
    def __init__(self, n_hidden):
        raise RuntimeError("no weights for you")


class Halves(nn.Module):
    def __init__(self, n_hidden):
        super().__init__()
        self.conv = nn.Conv2d(n_hidden, n_hidden // 2, 3, padding=1)

    def forward(self, x):
        return self.conv(x)


class Shrinks(nn.Module):
    def __init__(self, n_hidden):
        super().__init__()
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        return self.pool(x)


class NotAModule:
    def __init__(self, n_hidden):
        pass


class BadForward(nn.Module):
    def __init__(self, n_hidden):
        super().__init__()

    def forward(self, x):
        return x.view(-1, 7)


class InplaceEntry(nn.Module):
    # nn.ReLU(inplace=True) first: trains fine, its input being a convolution's output
    def __init__(self, n_hidden):
        super().__init__()
        self.act = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(n_hidden, n_hidden, 3, padding=1)

    def forward(self, x):
        return self.conv(self.act(x))


class Float64(GatedBlock):
    def forward(self, x):
        return super().forward(x).double()


class Float16(GatedBlock):
    def forward(self, x):
        return super().forward(x).half()


class Meta(GatedBlock):
    def forward(self, x):
        return torch.empty(x.shape, device="meta")


class PooledNorm(nn.Module):
    # a BatchNorm on pooled features: dies on a batch of one in training mode
    def __init__(self, n_hidden):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.norm = nn.BatchNorm2d(n_hidden)

    def forward(self, x):
        return x * torch.sigmoid(self.norm(self.pool(x)))


class ExitsInForward(GatedBlock):
    def forward(self, x):
        raise SystemExit(3)


class ExitsInInit(nn.Module):
    def __init__(self, n_hidden):
        import sys
        sys.exit("bye")


class Flattens(GatedBlock):
    # .view needs a contiguous input: fails on a channels-last one
    def forward(self, x):
        return super().forward(x.view(x.shape[0], -1).view(x.shape))


class EvalOnly(GatedBlock):
    def forward(self, x):
        if not self.training:
            raise RuntimeError("not in eval mode")
        return super().forward(x)
"""

_counter = itertools.count()


@pytest.fixture
def block_module(tmp_path, monkeypatch):
    """A module of blocks in a fresh working directory (a new module name per test: Python caches
    imported modules)."""
    name = f"blocks_{next(_counter)}_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(GATED)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    return name


def _validate(**model):
    base = yaml.safe_load((ROOT / "config.yaml").read_text())
    over = {"model": {"custom_blocks": model}}
    if model:
        over["study"] = {"block_types": ["res", *model]}
    return cfgmod.validate_config(cfgmod.merge(base, over), cfgmod.load_schema())


def _refused(**model) -> str:
    with pytest.raises(cfgmod.ConfigError) as err:
        _validate(**model)
    message = str(err.value)
    assert "\n" not in message and "Traceback" not in message, message
    return message


# --------------------------------------------------------------------------- the checks

def test_a_valid_block_is_accepted_and_listed_beside_the_built_in_ones(block_module):
    cfg = _validate(gated=f"{block_module}:GatedBlock")
    assert cfg["study"]["block_types"] == ["res", "gated"]
    assert cfg["model"]["custom_blocks"] == {"gated": f"{block_module}:GatedBlock"}


@pytest.mark.parametrize("target,words", [
    ("no_such_module_xyz:GatedBlock", "no module 'no_such_module_xyz' to import"),
    ("{mod}:Missing", "has no class 'Missing'"),
    ("{mod}:Raises", "raised RuntimeError: no weights for you"),
    ("{mod}:Halves", "maps (2, 32, 8, 8) to (2, 16, 8, 8)"),
    ("{mod}:Shrinks", "maps (2, 32, 8, 8) to (2, 32, 4, 4)"),
    ("{mod}:NotAModule", "not a torch.nn.Module"),
    ("{mod}:BadForward", "raised RuntimeError"),
])
def test_a_bad_block_is_one_line_naming_its_key(block_module, target, words):
    message = _refused(gated=target.format(mod=block_module))
    assert message.startswith("model.custom_blocks.gated: "), message
    assert words in message, message


@pytest.mark.parametrize("target,words", [
    ("{mod}:Float64", "returns float64 in training mode, float32 on a batch of shape (2, 32, 8, 8)"),
    ("{mod}:Float16", "returns float16 in training mode"),
    ("{mod}:Meta", "returned a tensor on meta, not on its input's device cpu"),
    ("{mod}:PooledNorm", "in training mode, float32 on a batch of shape (1, 32, 8, 8) raised "
                         "ValueError: Expected more than 1 value per channel"),
    ("{mod}:ExitsInForward", "raised SystemExit: 3"),
    ("{mod}:ExitsInInit", "raised SystemExit: bye"),
    ("{mod}:EvalOnly", "in eval mode, float32 on a batch of shape (2, 32, 8, 8) raised "
                       "RuntimeError: not in eval mode"),
])
def test_a_block_is_run_as_training_and_evaluation_will(block_module, target, words):
    """Issue 25, item 8: dtypes, a batch of one, eval mode; SystemExit is one line too."""
    message = _refused(gated=target.format(mod=block_module))
    assert message.startswith("model.custom_blocks.gated: "), message
    assert words in message, message


def test_an_in_place_relu_at_the_entry_is_accepted(block_module):
    cfg = _validate(gated=f"{block_module}:InplaceEntry")
    assert cfg["study"]["block_types"] == ["res", "gated"]


def test_a_module_that_exits_on_import_is_one_line(block_module, tmp_path):
    (tmp_path / f"{block_module}_exits.py").write_text("import sys\nsys.exit(4)\n")
    message = _refused(gated=f"{block_module}_exits:GatedBlock")
    assert message.startswith("model.custom_blocks.gated: importing ") and "SystemExit: 4" in message


def test_the_fast_path_is_checked_when_the_engine_may_use_it(block_module):
    from cifar_nets.engine.custom_blocks import CustomBlockError, check_block
    block = load_block("gated", f"{block_module}:Flattens")
    assert check_block(block, 32, {"bf16": False, "channels_last": False}) > 0
    for options in ({"bf16": "auto", "channels_last": "auto"}, None):
        with pytest.raises(CustomBlockError, match=r"in training mode, bf16 autocast, channels-last "
                                                   r"on a batch of shape \(2, 32, 8, 8\) raised"):
            check_block(block, 32, options)
    ok = load_block("gated", f"{block_module}:GatedBlock")
    assert check_block(ok, 32, {"bf16": True, "channels_last": True}) > 0


def test_the_terminal_cli_accepts_a_configured_block(block_module):
    from cifar_nets.__main__ import _parser, settings
    from cifar_nets.config import ConfigError
    args = _parser().parse_args(["--block-type", "gated", "--out", "o", "--set",
                                 f"model.custom_blocks={{gated: '{block_module}:GatedBlock'}}"])
    cfg, run = settings(args)
    assert run["block_type"] == "gated" and cfg["study"]["block_types"] == ["gated"]
    args = _parser().parse_args(["--block-type", "gatd", "--out", "o", "--set",
                                 f"model.custom_blocks={{gated: '{block_module}:GatedBlock'}}"])
    with pytest.raises(ConfigError, match="gatd"):
        settings(args)


def test_a_training_job_checks_its_block_again_on_its_device(block_module):
    """What passed the config's check elsewhere (or skipped it) is checked where it trains, with
    the options resolved there, before any epoch: one line, not a traceback mid-epoch."""
    import numpy as np

    from cifar_nets.engine.custom_blocks import CustomBlockError
    from cifar_nets.engine.train import train_run
    register_custom_blocks({"n_hidden": 32, "n_hidden_fc": 32,
                            "custom_blocks": {"evalonly": f"{block_module}:EvalOnly"}})
    x = np.random.default_rng(0).integers(0, 256, (60, 3, 32, 32), dtype=np.uint8)
    y = np.arange(60) % 10
    logs = []
    with pytest.raises(CustomBlockError, match=r"^model\.custom_blocks\.evalonly: .* in eval mode, "
                                               r"float32 on a batch of shape \(2, 32, 8, 8\) raised"):
        train_run(x, y, np.arange(50), np.arange(50, 60),
                  RunSpec("evalonly", 1, 0, Recipe(epochs=1, batch_size=25), 32, 32),
                  engine(device="cpu", bf16=False, channels_last=False, compile=False),
                  log=logs.append, progress=False)
    assert not any("epoch" in m for m in logs), logs


def test_a_module_that_fails_to_import_is_named(block_module, tmp_path):
    (tmp_path / f"{block_module}_broken.py").write_text("import torch\n1 / 0\n")
    message = _refused(gated=f"{block_module}_broken:GatedBlock")
    assert message.startswith("model.custom_blocks.gated: importing ") and "ZeroDivisionError" in message


@pytest.mark.parametrize("name,words", [
    ("res", "'res' is a built-in block type"),
    ("ResNet", "the name of the built-in 'res'"),
])
def test_a_name_that_clashes_with_a_built_in_one_is_refused(block_module, name, words):
    base = yaml.safe_load((ROOT / "config.yaml").read_text())
    over = {"model": {"custom_blocks": {name: f"{block_module}:GatedBlock"}}}
    with pytest.raises(cfgmod.ConfigError) as err:
        cfgmod.validate_config(cfgmod.merge(base, over), cfgmod.load_schema())
    assert str(err.value).startswith(f"model.custom_blocks.{name}: ") and words in str(err.value)


@pytest.mark.parametrize("name,target,key", [
    ("../up", "m:C", "model.custom_blocks.../up: not a valid name"),
    ("x" * 65, "m:C", "model.custom_blocks.xxxx"),
    ("gated", "no colon", "model.custom_blocks.gated: "),
    ("gated", "a/b:C", "model.custom_blocks.gated: "),
])
def test_names_and_targets_are_checked_by_the_schema(name, target, key):
    base = yaml.safe_load((ROOT / "config.yaml").read_text())
    with pytest.raises(cfgmod.ConfigError) as err:
        cfgmod.validate_config(cfgmod.merge(base, {"model": {"custom_blocks": {name: target}}}),
                               cfgmod.load_schema())
    assert str(err.value).startswith(key), str(err.value)


def test_study_block_types_still_refuses_a_name_nobody_declared(block_module):
    base = yaml.safe_load((ROOT / "config.yaml").read_text())
    over = {"model": {"custom_blocks": {"gated": f"{block_module}:GatedBlock"}},
            "study": {"block_types": ["res", "gatd"]}}
    with pytest.raises(cfgmod.ConfigError, match=r"^study\.block_types\.1: 'gatd' is not one of"):
        cfgmod.validate_config(cfgmod.merge(base, over), cfgmod.load_schema())


def test_the_shipped_example_meets_the_contract():
    cfg = _validate(gated="examples.my_blocks:GatedBlock")
    assert cfg["study"]["block_types"] == ["res", "gated"]


# --------------------------------------------------------------------------- names and identity

def test_its_network_is_built_named_and_ordered_like_the_built_in_ones(block_module):
    model = {"n_hidden": 32, "n_hidden_fc": 32, "custom_blocks": {"gated": f"{block_module}:GatedBlock"}}
    assert register_custom_blocks(model) == ["gated"]
    net = build_model("gated", n_blocks=2).eval()
    assert net(torch.randn(3, 3, 32, 32)).shape == (3, 10)
    per_block = (32 * 32 * 9 + 32) + (32 * 32 + 32)      # the 3x3 value conv and the 1x1 gate
    assert count_parameters(net) == count_parameters(build_model("res", n_blocks=0)) + 2 * per_block
    assert model_name("gated") == MODEL_NAMES["gated"] == "Custom_gated"
    assert pd.Series(["gated", "res"]).map(MODEL_NAMES).tolist() == ["Custom_gated", "Custom_ResNet"]
    assert block_order(["gated", "skip", "conv", "alpha"]) == ["conv", "skip", "alpha", "gated"]


def test_its_source_hash_is_part_of_the_run_identity(block_module, tmp_path):
    model = {"n_hidden": 32, "n_hidden_fc": 32, "custom_blocks": {"gated": f"{block_module}:GatedBlock"}}
    register_custom_blocks(model)
    spec = RunSpec(block_type="gated", n_blocks=1, seed=0, recipe=Recipe(), n_hidden=32, n_hidden_fc=32)
    ident = run_identity(spec, engine(device="cpu"), torch.device("cpu"), data_sha256="d",
                         train_idx=[0, 1], val_idx=[2])
    block = load_block("gated", f"{block_module}:GatedBlock")
    assert ident["block"] == {"class": f"{block_module}:GatedBlock", "source_sha256": block.source_sha256}
    assert block.source_file == str(tmp_path / f"{block_module}.py")
    # a built-in block type's identity (and fingerprint) has no block entry: unchanged by this feature
    res = run_identity(RunSpec(**{**spec.__dict__, "block_type": "res"}), engine(device="cpu"),
                       torch.device("cpu"), data_sha256="d", train_idx=[0, 1], val_idx=[2])
    assert "block" not in res and fingerprint(res) != fingerprint(ident)


def test_the_train_params_of_built_in_blocks_ignore_custom_blocks(block_module):
    plain = {"n_hidden": 32, "n_hidden_fc": 32, "custom_blocks": {}}
    mine = dict(plain, custom_blocks={"gated": f"{block_module}:GatedBlock"})
    assert block_params(plain, "res") == block_params(mine, "res") == {"n_hidden": 32, "n_hidden_fc": 32}
    assert block_params(mine, "gated")["block"]["class"] == f"{block_module}:GatedBlock"


# --------------------------------------------------------------------------- the workflow

@pytest.mark.workflow
def test_a_block_of_your_own_runs_through_the_workflow_and_an_edit_retrains_only_it(tmp_path):
    (tmp_path / "my_blocks.py").write_text(GATED)
    cfg_path = tiny_config(tmp_path, block_types=["res", "gated"], n_blocks=[2], seeds=[0],
                           recipes=["notebook"])
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["model"] = {"custom_blocks": {"gated": "my_blocks:GatedBlock"}}
    cfg_path.write_text(yaml.safe_dump(cfg))
    snakemake(tmp_path, "--configfile", str(cfg_path), "--cores", "2")

    runs = pd.read_csv(tmp_path / "results/summary/runs.csv")
    assert runs.model.tolist() == ["Custom_ResNet", "Custom_gated"], runs
    gated = tmp_path / "results/runs/notebook/gated/n2/seed0"
    train = json.loads((gated / "train.json").read_text())
    assert train["model"] == "Custom_gated"
    assert json.loads((gated / "metrics.json").read_text())["model"] == "Custom_gated"
    report = (tmp_path / "results/report.html").read_text()
    assert "Custom_gated" in report and "Confusion matrix, Custom_gated" in report
    assert (tmp_path / "results/figures/notebook/n2/confusion_gated.png").exists()

    # nothing to do; then an edit of the block's file retrains that block's run only
    assert planned_jobs(snakemake(tmp_path, "--configfile", str(cfg_path), "-n").out) == {}
    with open(tmp_path / "my_blocks.py", "a") as f:
        f.write("\n# tuned\n")
    proc = snakemake(tmp_path, "--configfile", str(cfg_path), "-n", "--cores", "2")
    jobs = planned_jobs(proc.out)
    assert jobs.get("train") == 1 and jobs.get("evaluate") == 1, (jobs, proc.out[-3000:])
    assert "block_type=gated" in proc.out and "block_type=res" not in proc.out
    assert {"summarize", "report"} <= set(jobs)

    # a block that no longer keeps the shape stops the workflow before any job, in one line
    (tmp_path / "my_blocks.py").write_text(GATED.replace("class GatedBlock", "class Old")
                                           .replace("class Halves", "class GatedBlock"))
    proc = snakemake(tmp_path, "--configfile", str(cfg_path), "-n", ok=False)
    assert "model.custom_blocks.gated: my_blocks:GatedBlock maps (2, 32, 8, 8) to (2, 16, 8, 8)" in proc.out
    assert "Traceback" not in proc.out
