"""The docs cannot rot: every shell command in README.md and docs/*.md code blocks runs (as a dry
run where it would train, really where it is cheap), every YAML snippet and `--config` value is
valid against the schema, and the "what changing it reruns" column of docs/configuration.md says
what tests/test_workflow.py's RERUNS table checks with Snakemake.

A command that cannot run here is in ALLOWED with the reason; nothing else is skipped, except
the smoke study's commands while config/smoke.yaml does not exist yet.
"""
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from cifar_nets import config as cfgmod
from test_workflow import RERUNS
from workflow_helpers import ROOT, job_env

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_LANGS = {"", "bash", "sh", "shell", "console"}
FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```", re.M | re.S)

# Commands that are not run, by how they start, with the reason.
ALLOWED = {
    "tensorboard --logdir": "starts a server that runs until it is stopped",
    "sudo apt-get install": "installs system packages as root",
    "scripts/slurm_test_cluster.sh": "starts a SLURM cluster as root: tests/test_slurm.py in CI",
    "scripts/gpu_check.sh": "needs a CUDA GPU (sized in docs/machines.md)",
    "python -m pip install torch": "downloads a CUDA build of PyTorch (gigabytes)",
    "snakemake --report": "needs a finished study: test_workflow.py's "
                          "test_snakemakes_own_report_carries_the_study builds this report",
}
SMOKE = ROOT / "config" / "smoke.yaml"


def code_blocks(page: Path):
    """(language, first line number, text) of every fenced code block of a page."""
    text = page.read_text()
    for m in FENCE.finditer(text):
        yield m.group(1).lower(), text[:m.start()].count("\n") + 2, m.group(2)


def shell_commands(block: str):
    """The commands of a shell block: continuations joined, prompts and comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", block)
    for line in joined.splitlines():
        line = line.strip().removeprefix("$ ")
        words = shlex.split(line, comments=True)
        if words:
            yield line.split(" #")[0].strip(), words


CONFIG_FILES = [ROOT / "config.yaml", *sorted((ROOT / "config").glob("*.yaml"))]


def config_file_commands():
    """The example commands in the comments of config.yaml and the presets (`#   snakemake ...`)."""
    for path in CONFIG_FILES:
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            m = re.match(r"#\s+(snakemake .+)$", line)
            if m:
                for cmd, words in shell_commands(m.group(1)):
                    yield path, lineno, cmd, words


def all_commands():
    found = [(page, lineno, cmd, words)
             for page in PAGES
             for lang, lineno, block in code_blocks(page) if lang in SHELL_LANGS
             for cmd, words in shell_commands(block)]
    return [pytest.param(words, id=f"{page.relative_to(ROOT)}:{lineno}:{cmd[:60]}")
            for page, lineno, cmd, words in [*found, *config_file_commands()]]


def yaml_snippets():
    return [pytest.param(block, id=f"{page.relative_to(ROOT)}:{lineno}")
            for page in PAGES
            for lang, lineno, block in code_blocks(page) if lang in ("yaml", "yml")]


# --------------------------------------------------------------------------- the pages themselves

def test_readme_is_under_12_kb():
    assert len((ROOT / "README.md").read_bytes()) < 12_000


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_a_page_states_its_title_once(page):
    headings = [h.strip().lower() for h in re.findall(r"^#+ (.+)$", page.read_text(), re.M)]
    assert len(headings) == len(set(headings)), [h for h in headings if headings.count(h) > 1]


def anchors(page: Path) -> set:
    """GitHub's anchors of a page's headings."""
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
            for h in re.findall(r"^#+ (.+)$", page.read_text(), re.M)}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_image_and_anchor_resolves(page):
    for target, anchor in re.findall(r"\]\(([^)#\s]*)(?:#([^)\s]*))?\)", page.read_text()):
        if re.match(r"[a-z]+:", target):
            continue
        path = page.parent / target if target else page
        assert path.exists(), f"{page.name}: {target}"
        if anchor:
            assert anchor in anchors(path), f"{page.name}: {target}#{anchor}"


def test_the_report_picture_is_small():
    assert (ROOT / "docs/img/report.png").stat().st_size < 150_000


def test_the_layout_table_names_every_module_of_the_package():
    """docs/workflow.md's Layout section has one table row per cifar_nets/*.py, and no row for a
    module that is not there."""
    text = (ROOT / "docs/workflow.md").read_text()
    layout = re.search(r"^## Layout\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert layout, "docs/workflow.md has no '## Layout' section"
    rows = re.findall(r"^\| `cifar_nets/(\w+\.py)` \| .*\S.* \|$", layout.group(1), re.M)
    on_disk = {p.name for p in (ROOT / "cifar_nets").glob("*.py")}
    assert len(rows) == len(set(rows)), sorted(r for r in set(rows) if rows.count(r) > 1)
    assert not on_disk - set(rows), f"modules missing from the Layout table: {sorted(on_disk - set(rows))}"
    assert not set(rows) - on_disk, f"Layout table names modules not on disk: {sorted(set(rows) - on_disk)}"


# --------------------------------------------------------------------------- config snippets

def _validate(overrides: dict):
    base = cfgmod.read_config_file(cfgmod.DEFAULT_CONFIG)
    return cfgmod.validate_config(cfgmod.merge(base, overrides), cfgmod.load_schema())


@pytest.mark.parametrize("block", yaml_snippets())
def test_every_yaml_snippet_is_a_valid_config(block):
    _validate(yaml.safe_load(block))


def config_values(words):
    """{section: value} of every `--config section=VALUE` of a command (VALUE read as YAML, as the
    workflow reads nested --config values)."""
    out, on = {}, False
    for w in words:
        if w.startswith("-"):
            on = w == "--config"
        elif on and "=" in w:
            key, value = w.split("=", 1)
            out = cfgmod.set_key(out, key, yaml.safe_load(value))
    return out


@pytest.mark.parametrize("words", all_commands())
def test_every_config_value_on_a_command_line_is_valid(words):
    if words[0] == "snakemake":
        _validate(config_values(words))


@pytest.mark.parametrize("words", all_commands())
def test_no_command_gives_configfile_twice(words):
    """Snakemake keeps only the last --configfile flag: `--configfile a.yaml --configfile b.yaml`
    silently ignores a.yaml. The docs list several files after one flag."""
    assert words.count("--configfile") + words.count("--configfiles") <= 1


# --------------------------------------------------------------------------- "what it reruns"

def _recipe_fields():
    return list(cfgmod.load_schema()["properties"]["recipes"]["additionalProperties"]["properties"])


def schema_keys():
    """Every leaf key of the schema, recipe fields as recipes.<name>.<field>."""
    keys = []
    for section, spec in cfgmod.load_schema()["properties"].items():
        if section == "recipes":
            keys += [f"recipes.<name>.{f}" for f in _recipe_fields()]
        else:
            keys += [f"{section}.{k}" for k in spec["properties"]]
    return keys


def documented_reruns():
    """{key: what changing it reruns} from the table of docs/configuration.md."""
    text = (ROOT / "docs/configuration.md").read_text()
    table = text[text.index("| key | default |"):]
    table = table[:table.index("\n\n")]
    out = {}
    for row in table.splitlines()[2:]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        for key in re.findall(r"`([^`]+)`", cells[0]):
            keys = [f"recipes.<name>.{f}" for f in _recipe_fields()] if key == "recipes.<name>.*" else [key]
            for k in keys:
                assert k not in out, f"{k} is in two rows"
                out[k] = cells[-1]
    return out


def test_the_rerun_table_changes_every_config_key_once():
    keys = [k for k, _, _ in RERUNS]
    assert len(keys) == len(set(keys))
    assert sorted(keys) == sorted(schema_keys())


def test_the_docs_say_what_the_rerun_test_checks():
    assert documented_reruns() == {k: reruns for k, _, reruns in RERUNS}


# --------------------------------------------------------------------------- the commands

@pytest.fixture(scope="session")
def workdir(tmp_path_factory):
    """A working directory like a fresh checkout's: copies of config/ and profiles/ (a command may
    write there), the YAML files the docs show (`# name.yaml` first line), and the synthetic
    archive once the smoke preset exists."""
    tmp = tmp_path_factory.mktemp("docs")
    shutil.copytree(ROOT / "config", tmp / "config")
    shutil.copytree(ROOT / "profiles", tmp / "profiles")
    for page in PAGES:
        for lang, _, block in code_blocks(page):
            m = re.match(r"#\s*([\w.-]+\.ya?ml)\s*\n", block)
            if lang in ("yaml", "yml") and m:
                (tmp / m.group(1)).write_text(block)
    return tmp


def _needs_smoke(words):
    return any("smoke" in w or "synthetic" in w for w in words)


def _run(words, cwd, timeout=300):
    proc = subprocess.run(words, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env=job_env())
    assert proc.returncode == 0, f"{shlex.join(words)} exited {proc.returncode}:\n" \
                                 f"{(proc.stdout + proc.stderr)[-4000:]}"
    return proc


def _check_pip(words):
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for w in words:
        m = re.fullmatch(r"\.\[([\w,]+)\]", w)
        if m:
            for extra in m.group(1).split(","):
                assert extra in extras, f"no extra {extra!r} in pyproject.toml"
    assert "-e" in words, words


def _check_pytest(words):
    ini = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    markers = {m.split(":")[0] for m in ini["markers"]}
    args = words[3:]
    for flag, value in zip(args, args[1:]):
        if flag == "-m":
            for name in re.findall(r"\b(?!not\b|and\b|or\b)(\w+)", value):
                assert name in markers, f"unknown marker {name!r}"
    for w in args:
        if w.startswith("tests"):
            assert (ROOT / w.split("::")[0]).exists(), w


def _check_flags(program, args):
    """`program --help` runs and lists every flag in `args`."""
    helptext = _run([*program, "--help"], ROOT, timeout=120).stdout
    for w in args:
        if w.startswith("--"):
            assert w.split("=")[0] in helptext, f"{shlex.join(program)} has no option {w}"


def _check_script(words):
    """A Python script with its flags: it exists and its --help lists every flag used."""
    script = ROOT / words[1]
    assert script.exists(), script
    _check_flags([sys.executable, str(script)], words[2:])


@pytest.mark.workflow
@pytest.mark.parametrize("words", all_commands())
def test_every_command_in_the_docs_runs(words, workdir):
    line = shlex.join(words)
    for start, reason in ALLOWED.items():
        if line.startswith(start):
            script = ROOT / words[0]
            if words[0].startswith("scripts/"):
                assert script.exists(), script
            pytest.skip(f"not run: {reason}")
    if _needs_smoke(words) and not SMOKE.exists():
        pytest.skip("smoke preset not built yet")
    if words[:4] == ["python", "-m", "pip", "install"]:
        return _check_pip(words)
    if words[:3] == ["python", "-m", "pytest"]:
        return _check_pytest(words)
    if words[0] == "python" and words[1].endswith(".py"):
        return _check_script(words)
    if words[:3] == ["python", "-m", "cifar_nets"]:   # the trainer: its flags, not a training
        return _check_flags([sys.executable, "-m", "cifar_nets"], words[3:])
    if words[:2] == ["python", "-m"] and words[2].startswith("cifar_nets."):
        if ">" in words:   # e.g. python -m cifar_nets.config > config/README.md: run to stdout
            words = words[:words.index(">")]
        return _run([sys.executable, *words[1:]], workdir)
    if words[0] in ("ruff", "snakefmt"):   # the lint commands: run for real on the project
        return _run(words, ROOT)
    if words[0] == "snakemake":
        if "profiles/slurm" in words:
            pytest.importorskip("snakemake_executor_plugin_slurm")
        args = words[1:]
        if "--unlock" not in args and "-n" not in args:
            args = [*args, "-n"]
        return _run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), *args], workdir)
    raise AssertionError(f"no way to check {line!r}: run it here or add it to ALLOWED with a reason")
