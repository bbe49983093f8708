import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from cifar_nets.machine.hardware import usable_cpus  # noqa: E402

torch.set_num_threads(min(2, usable_cpus()))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


SLOW_MARKERS = ("workflow", "faults", "slurm")


def pytest_collection_modifyitems(config, items):
    """The fast tier is `python -m pytest -m "not slow"`: every test that runs the real workflow,
    breaks it on purpose or needs the SLURM cluster is also `slow` (README.md, "Tests"), unless
    it is marked `fast`."""
    for item in items:
        if item.get_closest_marker("fast"):
            continue        # the one whole-DAG run the fast tier keeps (every rule and script)
        if any(item.get_closest_marker(name) for name in SLOW_MARKERS):
            item.add_marker(pytest.mark.slow)
