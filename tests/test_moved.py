"""The flat layout's module paths, kept for one release (issue 23, item 8): an old path is the
new module itself, says where it went, and no file of the project still uses one."""
import re
import subprocess
import sys
import warnings

import pytest

from cifar_nets._moved import MOVED
from workflow_helpers import ROOT

RENAMED = sorted(k for k in MOVED if k not in ("data", "study", "report"))


def test_an_old_path_is_the_moved_module_with_a_warning():
    """Every old path, in one fresh process: the new module object itself, with its own name,
    after a DeprecationWarning that says where it went."""
    code = ("import importlib, warnings\n"
            "from cifar_nets._moved import MOVED\n"
            f"for old in {RENAMED!r}:\n"
            "    new = importlib.import_module('cifar_nets.' + MOVED[old])\n"
            "    with warnings.catch_warnings(record=True) as said:\n"
            "        warnings.simplefilter('always')\n"
            "        mod = importlib.import_module('cifar_nets.' + old)\n"
            "    print(old, mod is new, mod.__spec__.name, [str(w.message) for w in said])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == len(RENAMED)
    for old, line in zip(RENAMED, lines):
        new = f"cifar_nets.{MOVED[old]}"
        assert line.startswith(f"{old} True {new} "), line     # one module object, its own name
        assert f"cifar_nets.{old} moved to {new}" in line, line


def test_an_old_sub_package_name_forwards_its_old_names():
    import cifar_nets.data.arrays as arrays
    import cifar_nets.study.summary as summary
    from cifar_nets import data, study
    with pytest.warns(DeprecationWarning, match="cifar_nets.data.arrays.load_cache"):
        assert data.load_cache is arrays.load_cache
    with pytest.warns(DeprecationWarning):
        assert study.read_summary is summary.read_summary
    with pytest.raises(AttributeError):
        data.no_such_name       # noqa: B018


def test_python_dash_m_on_an_old_path_runs_the_new_module(tmp_path):
    out = subprocess.run([sys.executable, "-m", "cifar_nets.synthetic", "--help"], capture_output=True,
                         text=True, cwd=tmp_path)
    assert out.returncode == 0 and "OUT_DIR" in out.stdout, out.stderr


def test_no_file_of_the_project_uses_an_old_path():
    old = re.compile(r"\bcifar_nets[./](" + "|".join(RENAMED) + r")\b(?!/)")
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    hits = []
    for f in files:
        if f in ("cifar_nets/_moved.py", "tests/test_moved.py", "cifar_nets/__init__.py") or f.startswith("docs/img"):
            continue
        try:
            text = (ROOT / f).read_text()
        except (UnicodeDecodeError, IsADirectoryError):
            continue
        hits += [f"{f}: {m.group(0)}" for m in old.finditer(text)]
    assert not hits, hits


def test_the_package_imports_no_old_path_itself():
    code = ("import warnings; warnings.simplefilter('error', DeprecationWarning)\n"
            "import pkgutil, importlib, cifar_nets\n"
            "for m in pkgutil.walk_packages(cifar_nets.__path__, 'cifar_nets.'):\n"
            "    if m.name != 'cifar_nets.__main__': importlib.import_module(m.name)\n")
    with warnings.catch_warnings():
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
