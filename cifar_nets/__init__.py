"""cifar_nets: the CIFAR-10 ablation study as a plain Python library.

Models, data, training, evaluation, statistics, plots and the report. Nothing here imports
Snakemake: the workflow's scripts are thin adapters around these functions.
"""
from __future__ import annotations

from pathlib import Path

__version__ = "0.1.0"

# The study's block types, in report order, and the notebook's names of their networks: the one
# list every module, the config schema and the CLI take them from.
BLOCK_TYPES = ("conv", "res", "skip")
MODEL_NAMES = {"conv": "Custom_ConvNet", "res": "Custom_ResNet", "skip": "Custom_SkipNet"}

CLASS_NAMES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)

# The config's `engine` keys that can change what a run computes (part of a run's identity and
# the workflow's train/evaluate params): declared beside the option type, in cifar_nets.recipe.
from .recipe import NUMERIC_ENGINE_KEYS  # noqa: E402, F401 - the package's public name

_PROJECT_ROOT = Path(__file__).resolve().parent.parent


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
