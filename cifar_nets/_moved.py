"""Old module paths, kept for one release (0.1 -> 0.2): `cifar_nets.train` is now
`cifar_nets.engine.train`, and so on (MOVED). Importing an old path gives the very module object of
the new one (so a monkeypatch or an isinstance check sees one module), with a DeprecationWarning;
`python -m cifar_nets.synthetic` runs the new module as before. Remove in 0.3.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

MOVED = {
    "archive": "data.archive", "archive_writer": "data.archive_writer", "fetch": "data.fetch",
    "synthetic": "data.synthetic", "batches": "engine.batches", "models": "engine.models",
    "custom_blocks": "engine.custom_blocks", "recipe": "engine.recipe", "train": "engine.train",
    "checkpoints": "engine.checkpoints", "compiled": "engine.compiled", "evaluate": "engine.evaluate",
    "run": "engine.run", "tblog": "engine.tblog", "faults": "engine.faults", "seeds": "study.seeds",
    "round_rule": "study.rounds", "tune": "study.tune", "stats": "study.stats",
    "verdicts": "study.verdicts", "bootstrap": "study.bootstrap", "stopping_sim": "study.stopping_sim",
    "study_report": "report.study_report", "tune_report": "report.tune_report", "plots": "report.plots",
    "plots_runs": "report.plots_runs", "plots_study": "report.plots_study", "figures": "report.figures",
    "hardware": "machine.hardware", "slots": "machine.slots", "slot_files": "machine.slot_files",
    "runtime": "machine.runtime",
    # the three whose old name is now a sub-package: that package forwards its missing names
    "data": "data.arrays", "study": "study.summary", "report": "report.html",
}


def _warn(old: str, new: str) -> None:
    warnings.warn(f"{old} moved to {new}; the old path goes in cifar_nets 0.3", DeprecationWarning, stacklevel=3)


class _Alias(importlib.abc.Loader):
    def __init__(self, new: str):
        self.new = new

    def create_module(self, spec):
        module = importlib.import_module(self.new)
        self.spec = module.__spec__
        return module

    def exec_module(self, module):           # the new module is already executed: give it back
        module.__spec__ = self.spec          # the spec the import machinery just replaced

    def get_code(self, fullname):            # runpy: `python -m <old path>` runs the new file
        return importlib.util.find_spec(self.new).loader.get_code(self.new)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        head, _, old = fullname.partition(".")
        if head != "cifar_nets" or old not in MOVED or "." in old or old in ("data", "study", "report"):
            return None
        new = "cifar_nets." + MOVED[old]
        _warn(fullname, new)
        return importlib.util.spec_from_loader(fullname, _Alias(new))


def install() -> None:
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.append(_Finder())


def old_module(name: str):
    """`cifar_nets.<name>` as an attribute of the package: the moved module (PEP 562)."""
    if name not in MOVED or name in ("data", "study", "report"):
        raise AttributeError(f"module 'cifar_nets' has no attribute {name!r}")
    return importlib.import_module(f"cifar_nets.{name}")


def forward(package: str, module: str):
    """A sub-package's __getattr__ for the names its old single module had (`cifar_nets.data.X`
    was X of today's cifar_nets.data.arrays)."""
    def __getattr__(name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        target = importlib.import_module(module)
        if not hasattr(target, name):
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        _warn(f"{package}.{name}", f"{module}.{name}")
        return getattr(target, name)
    return __getattr__
