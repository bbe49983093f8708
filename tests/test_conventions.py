"""Conventions of the ecosystems: licence, configuration reference, software environment,
Snakemake's own report, TensorBoard curves."""
import re
import tomllib

import pytest
import yaml

from cifar_nets import config as cfgmod
from workflow_helpers import ROOT, engine, recipe, snakemake, tiny_config, tiny_training_set

# conda-forge name of each PyPI distribution where they differ
CONDA_NAMES = {"torch": "pytorch", "snakemake": "snakemake-minimal", "matplotlib": "matplotlib-base"}


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_license_file_matches_pyproject():
    license_text = (ROOT / "LICENSE").read_text()
    assert _pyproject()["project"]["license"] == {"text": "MIT"}
    assert license_text.startswith("MIT License") and "WITHOUT WARRANTY OF ANY KIND" in license_text


def test_config_reference_is_generated_from_the_schema():
    """config/README.md is what the schema's descriptions and config.yaml say, key for key."""
    assert (ROOT / "config/README.md").read_text() == cfgmod.reference_markdown()
    schema = cfgmod.load_schema()
    for section, spec in schema["properties"].items():
        assert spec.get("description"), section
        fields = (spec["additionalProperties"]["properties"] if section == "recipes"
                  else spec["properties"])
        for key, field in fields.items():
            assert field.get("description"), f"{section}.{key} has no description"


def _split_requirement(req: str) -> tuple[str, str]:
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", req)
    return m.group(1).lower(), m.group(2).replace(" ", "")


def test_conda_environment_has_the_runtime_dependencies_of_pyproject():
    env = yaml.safe_load((ROOT / "envs/cifar-ablation.yaml").read_text())
    conda = dict(_split_requirement(d) for d in env["dependencies"] if isinstance(d, str))
    python = conda.pop("python")
    assert python == ">=3.11" and _pyproject()["project"]["requires-python"] == ">=3.11"
    pypi = dict(_split_requirement(d) for d in _pyproject()["project"]["dependencies"])
    assert {CONDA_NAMES.get(k, k): v for k, v in pypi.items()} == conda


def test_every_rule_that_runs_code_has_the_conda_environment():
    for smk in (ROOT / "rules").glob("*.smk"):
        text = smk.read_text()
        assert text.count("script:") == text.count('conda:\n        "../envs/cifar-ablation.yaml"'), smk


# --------------------------------------------------------------------------- TensorBoard

@pytest.fixture(scope="module")
def tiny():
    return tiny_training_set(seed=6)


def test_tensorboard_curves_continue_after_a_resume_without_duplicated_epochs(tiny, tmp_path):
    pytest.importorskip("tensorboard")
    from cifar_nets.engine.tblog import TAGS, EpochCurves, read_curves
    from cifar_nets.engine.train import train_run
    from workflow_helpers import spec
    kw = dict(spec=spec("res", seed=2, recipe=recipe(epochs=4, batch_size=50)),
              options=engine(device="cpu", train_eval_subset=0, checkpoint_every=2),
              checkpoint=tmp_path / "c.pt", progress=False, log=lambda m: None)
    logdir = tmp_path / "tb"
    # killed after epoch 3: epochs 1-3 are in the event files, the checkpoint holds epoch 2
    first = EpochCurves(logdir)
    train_run(*tiny, max_epochs=3, on_epoch=first, **kw)
    first.close()
    assert [s for s, _ in read_curves(logdir)["accuracy/val"]] == [1, 2, 3]
    second = EpochCurves(logdir)
    result = train_run(*tiny, on_epoch=second, **kw)   # resumes after epoch 2
    second.close()
    curves = read_curves(logdir)
    assert set(curves) == set(TAGS.values())
    for tag, points in curves.items():
        assert [s for s, _ in points] == [1, 2, 3, 4], tag     # each epoch once
    assert [v for _, v in curves["accuracy/val"]] == pytest.approx(
        [h["val_acc"] for h in result.history])
    assert [v for _, v in curves["loss/train"]] == pytest.approx(
        [h["train_loss"] for h in result.history])


def test_tensorboard_on_without_the_package_stops_before_any_job(tmp_path):
    """A `tensorboard` that cannot be imported (a stub first on the path): a config error."""
    stub = tmp_path / "stub/tensorboard"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("raise ImportError('simulated: not installed')\n")
    cfg = tiny_config(tmp_path)
    (tmp_path / "tb.yaml").write_text("logging: {tensorboard: true}\n")
    import os
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path / "stub"), str(ROOT)]))
    r = snakemake(tmp_path, "--configfile", str(cfg), str(tmp_path / "tb.yaml"), "--cores", "1",
                  ok=False, env=env)
    assert "config error: logging.tensorboard: true needs the tensorboard package" in r.out
    assert not (tmp_path / "results").exists()
