"""The docs cannot rot: the shell commands of README.md, docs/*.md and config/README.md (in code
blocks and written inline in prose as `snakemake ...` / `python -m ...`), of the comments of
config.yaml, the presets, the profiles and the Snakefile's header are checked, every YAML snippet
and `--config` value is valid against the schema, and the "what changing it reruns" column of
docs/configuration.md says what tests/test_workflow.py's RERUNS table checks with Snakemake.

How each command is checked (`check_kind`):
- `snakemake ...`: a dry run (`-n` added) in a fresh working directory, except `--unlock`, run for
  real; the README's smoke study on a synthetic archive runs for real, end to end, once
  (test_the_readme_smoke_study_runs_for_real). Dry runs and the real run are `workflow` (slow).
- `snakemake --profile profiles/slurm ...` without snakemake-executor-plugin-slurm: a dry run with
  a copy of the profile that leaves out `executor` and the plugin's `slurm-*` options; what only
  the plugin can check is reported as skipped (test_the_slurm_executor_options).
- `python -m cifar_nets.<module> ...`: run for real; `python -m cifar_nets ...` (training) and
  `python script.py ...`: `--help` lists every flag used; `python -m pytest`: its markers and test
  paths exist; `python -m pip install -e ...`: its extras exist; ruff and snakefmt: run for real.
- a command with an elision (`...`) or a placeholder (`N`, `OUT_DIR`): every flag is in the
  program's `--help`.
- ALLOWED: not run, with the reason.
Every check that runs no Snakemake is in the fast tier (python -m pytest -m "not slow").
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
INLINE_PAGES = [*PAGES, ROOT / "config" / "README.md"]
# `snakemake ...` or `python -m ...` in backticks in prose, with at least one argument: a bare
# program name (`snakemake`, `python -m cifar_nets`) is a name, not a command
INLINE = re.compile(r"(?<![`\w])`((?:snakemake|python -m [\w.]+) [^`\n]+)`(?!`)")
PLACEHOLDER = re.compile(r"^(\.\.\.|[A-Z][A-Z_]*|<[^>]*>)$")   # ..., N, OUT_DIR, <file>
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


CONFIG_FILES = [ROOT / "config.yaml", *sorted((ROOT / "config").glob("*.yaml")),
                *sorted((ROOT / "profiles").glob("*/config.yaml")), ROOT / "Snakefile"]


def config_file_commands():
    """The example commands in the comments of config.yaml, the presets, the profiles and the
    Snakefile's header (`#   snakemake ...`; two spaces or more end the command: a description)."""
    for path in CONFIG_FILES:
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            m = re.match(r"#\s+(snakemake .+?)(?:\s{2,}.*)?$", line)
            if m:
                for cmd, words in shell_commands(m.group(1)):
                    yield path, lineno, cmd, words


def inline_commands():
    """The commands written inline in prose: `snakemake ...` and `python -m ...` in backticks."""
    for page in INLINE_PAGES:
        text = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), page.read_text())
        for m in INLINE.finditer(text):
            for cmd, words in shell_commands(m.group(1)):
                yield page, text[:m.start()].count("\n") + 1, cmd, words


def found_commands():
    """(file, line, command, words) of every command the docs show."""
    blocks = [(page, lineno, cmd, words)
              for page in PAGES
              for lang, lineno, block in code_blocks(page) if lang in SHELL_LANGS
              for cmd, words in shell_commands(block)]
    return [*blocks, *inline_commands(), *config_file_commands()]


def all_commands(marked: bool = False):
    """One param per command; `marked`: those that run Snakemake are `workflow` (slow)."""
    return [pytest.param(words, id=f"{page.relative_to(ROOT)}:{lineno}:{cmd[:60]}",
                         marks=[pytest.mark.workflow] if marked and check_kind(words) in SNAKEMAKE_KINDS
                         else [])
            for page, lineno, cmd, words in found_commands()]


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
    """docs/workflow.md's Layout section has one table row per module of the package (sub-package
    __init__ files aside), and no row for a module that is not there. The datasets (one file
    each in cifar_nets/data/sets/) share one row, so that adding one is adding its file only."""
    text = (ROOT / "docs/workflow.md").read_text()
    layout = re.search(r"^## Layout\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert layout, "docs/workflow.md has no '## Layout' section"
    rows = re.findall(r"^\| `cifar_nets/([\w/]+\.py)` \| .*\S.* \|$", layout.group(1), re.M)
    pkg = ROOT / "cifar_nets"
    on_disk = {p.relative_to(pkg).as_posix() for p in pkg.rglob("*.py")
               if (p.name != "__init__.py" or p.parent == pkg) and p.parent != pkg / "data" / "sets"}
    assert re.search(r"^\| `cifar_nets/data/sets/<name>\.py` \| .*\S.* \|$", layout.group(1), re.M)
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
    """A second --configfile flag stops the run (Snakemake alone would keep only the files after
    the last flag). The docs list several files after one flag."""
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


def test_the_engine_keys_that_rerun_every_run_are_the_one_list():
    """Which engine keys change numbers is said once, by NUMERIC_ENGINE_KEYS: the docs table's
    "every run" rows and the RERUNS test's are exactly those keys."""
    from cifar_nets.engine.recipe import NUMERIC_ENGINE_KEYS
    numeric = {f"engine.{k}" for k in NUMERIC_ENGINE_KEYS}
    engine = {k: v for k, v in documented_reruns().items() if k.startswith("engine.")}
    assert {k for k, v in engine.items() if v == "every run"} == numeric
    assert {v for k, v in engine.items() if k not in numeric} == {"nothing"}
    assert {k for k, _, r in RERUNS if k.startswith("engine.") and r == "every run"} == numeric


# prose that would say again which engine keys change numbers: two lines naming three or more of
# them together with words about results or reruns (the table rows above are checked instead)
_RESULT_WORDS = re.compile(r"number|rerun|result|fingerprint|identity|comput", re.I)


def test_no_prose_lists_the_result_changing_engine_keys_again():
    from cifar_nets.engine.recipe import NUMERIC_ENGINE_KEYS
    texts = [*INLINE_PAGES, ROOT / "config.yaml", ROOT / "config" / "schema.yaml",
             *sorted((ROOT / "config").glob("*.yaml"))]
    table = re.compile(r"^\| `engine\.")
    found = []
    for path in texts:
        lines = path.read_text().splitlines()
        for n, pair in enumerate(zip(lines, [*lines[1:], ""]), 1):    # a line and the next
            if any(table.match(line) for line in pair):
                continue
            text = " ".join(pair)
            named = [k for k in NUMERIC_ENGINE_KEYS if re.search(rf"(?<![\w-]){k}(?![\w-])", text)]
            if len(named) >= 3 and _RESULT_WORDS.search(text):
                found.append(f"{path.relative_to(ROOT)}:{n}: {pair[0].strip()[:100]}")
    assert not found, found


# --------------------------------------------------------------------------- the commands

SNAKEMAKE_KINDS = {"snakemake", "snakemake-slurm"}


def check_kind(words) -> str:
    """How a command is checked (the module docstring): one of allowed, elided, pip, pytest,
    script, trainer, module, lint, snakemake, snakemake-slurm; AssertionError when none fits."""
    line = shlex.join(words)
    if any(line.startswith(start) for start in ALLOWED):
        return "allowed"
    if any(PLACEHOLDER.match(w) for w in words[1:]):
        return "elided"
    if words[:4] == ["python", "-m", "pip", "install"]:
        return "pip"
    if words[:3] == ["python", "-m", "pytest"]:
        return "pytest"
    if words[0] == "python" and words[1].endswith(".py"):
        return "script"
    if words[:3] == ["python", "-m", "cifar_nets"]:
        return "trainer"
    if words[:2] == ["python", "-m"] and words[2].startswith("cifar_nets."):
        return "module"
    if words[0] in ("ruff", "snakefmt"):
        return "lint"
    if words[0] == "snakemake":
        return "snakemake-slurm" if "profiles/slurm" in words else "snakemake"
    raise AssertionError(f"no way to check {line!r}: run it here or add it to ALLOWED with a reason")


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
    if SMOKE.exists():   # what `python -m cifar_nets.data.synthetic synthetic/` writes, whichever tier runs
        _run([sys.executable, "-m", "cifar_nets.data.synthetic", "synthetic/"], tmp, timeout=120)
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


def _program(words):
    """The command line that runs the program of `words` with this interpreter."""
    if words[0] == "snakemake":
        return [sys.executable, "-m", "snakemake"]
    if words[:2] == ["python", "-m"]:
        return [sys.executable, "-m", words[2]]
    if words[0] == "python" and len(words) > 1 and words[1].endswith(".py"):   # a script of the project
        return [sys.executable, str(ROOT / words[1])]
    return [words[0]]


def _user_configfiles(words, workdir):
    """A `--configfile` the docs name as the user's own (a bare name such as my.yaml that no
    snippet of the docs writes) gets a small valid file, so the rest of the command is checked."""
    on = False
    for w in words[1:]:
        if w.startswith("-"):
            on = w in ("--configfile", "--configfiles")
        elif on and w.endswith((".yaml", ".yml")) and "/" not in w and not (workdir / w).exists():
            (workdir / w).write_text("study: {seeds: [0]}\n")


def _snakemake(args, workdir, dry=True, timeout=300):
    if dry and "--unlock" not in args and "-n" not in args:
        args = [*args, "-n"]
    return _run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), *args], workdir,
                timeout=timeout)


def _slurm_free_profile(workdir):
    """A copy of profiles/slurm without what needs snakemake-executor-plugin-slurm: `executor`
    and the plugin's `slurm-*` options (the left-out keys are returned)."""
    profile = yaml.safe_load((ROOT / "profiles/slurm/config.yaml").read_text())
    dropped = sorted(k for k in profile if k == "executor" or k.startswith("slurm-"))
    out = workdir / "profiles" / "slurm-without-plugin"
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump({k: v for k, v in profile.items()
                                                     if k not in dropped}))
    return out, dropped


def _has_slurm_plugin():
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401, PLC0415 - optional
    except ImportError:
        return False
    return True


# The design card's commands run as typed, without --cores: with none given the workflow plans
# for every usable core (workflow_scripts/snakemake_api.py default_cores; test_workflow.py runs it)
AS_TYPED = {"snakemake results/report.html"}


@pytest.mark.parametrize("words", all_commands())
def test_every_command_has_a_way_to_be_checked(words):
    """The fast tier's half of the commands test: each command the docs show is one the test
    below knows how to check, and every `snakemake` command that executes jobs gives --cores
    (or a profile that runs the jobs elsewhere), so it runs as typed whatever the defaults."""
    kind = check_kind(words)
    if words[0] == "snakemake" and kind not in ("allowed", "elided"):   # "..." may hold it
        executes = not ({"-n", "--dry-run", "--unlock", "--report"} & set(words))
        if executes and "--profile" not in words and shlex.join(words) not in AS_TYPED:
            assert any(w == "--cores" or w.startswith(("--cores=", "-c")) for w in words), \
                f"{shlex.join(words)}: no --cores (Snakemake refuses local execution without it)"


def test_inline_commands_are_found():
    """The prose commands are read too, e.g. the README's `snakemake --cores 2 --forcerun train`."""
    found = {shlex.join(words) for _, _, _, words in inline_commands()}
    assert "snakemake --cores 2 --forcerun train" in found
    assert "snakemake --unlock" in found
    assert not {w for w in found if w in ("snakemake", "python -m cifar_nets")}


def test_the_commands_the_code_prints_give_cores():
    """The commands the package tells a user to run (e.g. the trainer's "run `snakemake ...`
    first") give --cores, so Snakemake runs them as printed."""
    for path in sorted((ROOT / "cifar_nets").rglob("*.py")):
        for cmd in re.findall(r"`(snakemake [^`]*)`", path.read_text()):
            if not {"-n", "--unlock", "--report", "--profile", "..."} & set(cmd.split()):
                assert "--cores" in cmd.split(), f"{path.name}: `{cmd}` has no --cores"


@pytest.mark.parametrize("words", all_commands(marked=True))
def test_every_command_in_the_docs_runs(words, workdir):
    _check_command(words, workdir)


def _check_command(words, workdir):
    kind = check_kind(words)
    if kind == "allowed":
        if words[0].startswith("scripts/"):
            assert (ROOT / words[0]).exists(), words[0]
        reason = next(r for start, r in ALLOWED.items() if shlex.join(words).startswith(start))
        pytest.skip(f"not run: {reason}")
    if _needs_smoke(words) and not SMOKE.exists():
        pytest.skip("smoke preset not built yet")
    if kind == "elided":   # e.g. `snakemake --sdm conda ...`, `--cores N`: its flags exist
        return _check_flags(_program(words), words[1:])
    if kind == "pip":
        return _check_pip(words)
    if kind == "pytest":
        return _check_pytest(words)
    if kind == "script":
        return _check_script(words)
    if kind == "trainer":   # the trainer: its flags, not a training
        return _check_flags([sys.executable, "-m", "cifar_nets"], words[3:])
    if kind == "module":
        if ">" in words:   # e.g. python -m cifar_nets.config > config/README.md: run to stdout
            words = words[:words.index(">")]
        return _run([sys.executable, *words[1:]], workdir)
    if kind == "lint":   # the lint commands: run for real on the project
        return _run(words, ROOT)
    _user_configfiles(words, workdir)
    args = words[1:]
    if kind == "snakemake-slurm" and not _has_slurm_plugin():
        profile, _ = _slurm_free_profile(workdir)
        args = [str(profile) if a == "profiles/slurm" else a for a in args]
    return _snakemake(args, workdir)


def test_the_slurm_executor_options(workdir):
    """What only snakemake-executor-plugin-slurm can check: the profile's `executor: slurm` and
    its `slurm-*` options. Without the plugin this is skipped, and says what is not checked (the
    rest of every SLURM command runs as a dry run above)."""
    if not _has_slurm_plugin():
        _, dropped = _slurm_free_profile(workdir)
        pytest.skip(f"snakemake-executor-plugin-slurm not installed: profiles/slurm's "
                    f"{', '.join(dropped)} not checked (the rest of each SLURM command is "
                    f"dry-run without them; tests/test_slurm.py runs them on a cluster)")
    _snakemake(["--profile", "profiles/slurm"], workdir)


def _readme_smoke_commands():
    """The README's code block that writes a synthetic archive and runs the smoke study on it."""
    for lang, _, block in code_blocks(ROOT / "README.md"):
        commands = [words for _, words in shell_commands(block)] if lang in SHELL_LANGS else []
        if any(w[:3] == ["python", "-m", "cifar_nets.data.synthetic"] for w in commands):
            return commands
    raise AssertionError("README.md shows no smoke study on a synthetic archive")


@pytest.mark.workflow
def test_the_readme_smoke_study_runs_for_real(tmp_path):
    """The README's offline smoke study, exactly as typed, end to end: a synthetic archive, the
    whole DAG, a report that says its numbers mean nothing."""
    from cifar_nets.study.summary import SYNTHETIC_WARNING  # noqa: PLC0415 - pandas only here

    shutil.copytree(ROOT / "config", tmp_path / "config")
    writer, study = _readme_smoke_commands()
    assert study[0] == "snakemake" and "-n" not in study
    _run([sys.executable, *writer[1:]], tmp_path, timeout=120)
    _snakemake(study[1:], tmp_path, dry=False, timeout=1200)
    report = (tmp_path / "results" / "report.html").read_text()
    assert SYNTHETIC_WARNING in report
    assert open(tmp_path / "results/summary/runs.csv").readline().startswith("SYNTHETIC DATA")
