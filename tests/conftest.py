import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from cifar_nets.hardware import usable_cpus  # noqa: E402

torch.set_num_threads(min(2, usable_cpus()))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT
