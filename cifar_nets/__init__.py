"""cifar_nets: the CIFAR-10 ablation study as a plain Python library.

The tree is the architecture, each sub-package a layer that imports only the ones below it:

    report/   figures, plots, the study's sections, the HTML page      (reads study/)
    study/    statistics over seeds, verdicts, seed rounds, tuning     (torch-free)
    engine/   networks, the training loop, checkpoints, evaluation     (uses data/, machine/)
    data/     datasets, archives, cached arrays, split indices
    machine/  devices, precision, threads, device slots, job runtimes
    (top)     config, params, cli, io, logs: the interface and small shared utilities

Nothing here imports Snakemake: the workflow's scripts are thin adapters around these functions.
"""
from __future__ import annotations

from pathlib import Path

__version__ = "0.1.0"



class _NetworkNames(dict):
    """Block type -> the network's name in tables, figures and the report. The built-in ones'
    names come from models.BLOCKS; a block of model.custom_blocks is Custom_<name> (it has no
    entry, so every process names it the same without importing it: `names[b]`, `names.get(b)`
    and pandas' `Series.map(names)` all give it)."""

    def __missing__(self, block_type: str) -> str:
        return f"Custom_{block_type}"

    def get(self, block_type, default=None):  # dict.get skips __missing__
        return self[block_type] if isinstance(block_type, str) else default


def _builtin_blocks() -> tuple[tuple[str, ...], _NetworkNames]:
    """BLOCK_TYPES and MODEL_NAMES, read from the one registry, the literal `BLOCKS` dict of
    cifar_nets/engine/models.py, without importing it (models.py imports torch; the Snakefile and the
    config read the block types before any job, torch-free)."""
    import ast  # noqa: PLC0415

    tree = ast.parse((Path(__file__).parent / "engine" / "models.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["BLOCKS"]:
            pairs = [(k.value, v.elts[0].value) for k, v in zip(node.value.keys, node.value.values)]
            return tuple(k for k, _ in pairs), _NetworkNames(pairs)
    raise ImportError("cifar_nets/engine/models.py defines no BLOCKS registry")


def block_order(block_types) -> list[str]:
    """`block_types` once each in report order: the built-in ones in registry order, then blocks
    of your own by name."""
    given = set(block_types)
    return [b for b in BLOCK_TYPES if b in given] + sorted(given - set(BLOCK_TYPES))


# The built-in block types, in report order, and the notebook's names of their networks: read from
# models.BLOCKS, the one registry; every module, the config schema and the CLI take them from here.
BLOCK_TYPES, MODEL_NAMES = _builtin_blocks()

# The config's `engine` keys that can change what a run computes (part of a run's identity and
# the workflow's train/evaluate params): declared beside the option type, in cifar_nets.engine.recipe.
from cifar_nets.engine.recipe import NUMERIC_ENGINE_KEYS  # noqa: E402, F401 - the package's public name

_PROJECT_ROOT = Path(__file__).resolve().parent.parent

# cifar_nets.train & co., the flat layout's paths, for one release (cifar_nets/_moved.py)
from cifar_nets import _moved  # noqa: E402

_moved.install()


def __getattr__(name: str):
    """CLASS_NAMES (CIFAR-10's, for one release: every dataset's are its own, cifar_nets/data/sets/),
    read when asked, so that `import cifar_nets` scans no dataset files; and the old module paths."""
    if name == "CLASS_NAMES":
        from cifar_nets.data.dataset import get_dataset  # noqa: PLC0415
        return get_dataset("cifar10").class_names
    return _moved.old_module(name)


def project_version(root: str | Path | None = None) -> dict:
    """The version of the code a result came from, for train.json: the package version, and the
    git commit (with whether tracked files differ from it) when `root` (default: the folder
    holding this package) is the top of a git work tree. Without git, outside a repository, or
    inside a repository whose top is elsewhere (a venv in some other checkout), the commit and
    the dirty flag are None; nothing here raises."""
    import os  # noqa: PLC0415
    import subprocess  # noqa: PLC0415

    root = Path(root or _PROJECT_ROOT).resolve()
    # no GIT_DIR & co. from the caller; GIT_OPTIONAL_LOCKS=0: `git status` never takes the
    # index lock, so a commit made at the same time is not disturbed
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["GIT_OPTIONAL_LOCKS"] = "0"

    def git(*args: str) -> str | None:
        try:
            return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                                  check=True, timeout=20, env=env,
                                  stdin=subprocess.DEVNULL).stdout.strip()
        except (OSError, ValueError, subprocess.SubprocessError):
            return None

    commit = dirty = None
    top = git("rev-parse", "--show-toplevel")
    if top and Path(top).resolve() == root:
        commit = git("rev-parse", "--verify", "--quiet", "HEAD") or None
        status = git("status", "--porcelain", "--untracked-files=no") if commit else None
        dirty = None if status is None else bool(status)
    return {"cifar_nets_version": __version__, "git_commit": commit, "git_dirty": dirty}
