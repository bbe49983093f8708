"""The original notebook's input pipeline, shared by the benchmarks: torchvision's CIFAR10 dataset
object over the extracted archive, per-image PIL transforms (Resize, ToTensor, Normalize), the
notebook's seeded 90/10 random_split and a shuffling multi-worker DataLoader.

The split's fraction and seed are read from the project's config.yaml (`split:`), the same values
the workflow uses, so the notebook pipeline and the engine train on the same images."""
from __future__ import annotations

import contextlib
import tarfile
import tempfile
from pathlib import Path

import torch
import yaml

from cifar_nets.config import load_config

_NOTEBOOK = load_config()["recipes"]["notebook"]
NOTEBOOK_MEAN, NOTEBOOK_STD = tuple(_NOTEBOOK["mean"]), tuple(_NOTEBOOK["std"])   # from config.yaml

BATCH = 128
CONFIG = Path(__file__).resolve().parent.parent / "config.yaml"


def split_settings(config: str | Path = CONFIG) -> tuple[float, int]:
    """(train_fraction, seed) of the validation split, from the project's config.yaml."""
    split = yaml.safe_load(Path(config).read_text())["split"]
    return float(split["train_fraction"]), int(split["seed"])


@contextlib.contextmanager
def extracted(archive: str | Path):
    """The archive unpacked in a temporary folder (torchvision reads the extracted batches)."""
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        yield Path(tmp)


def datasets(root: Path):
    """(train, val, test) exactly as the notebook builds them."""
    from torchvision import datasets as tv_datasets, transforms  # noqa: PLC0415 - only the notebook pipeline needs torchvision

    class StandInCIFAR10(tv_datasets.CIFAR10):
        # torchvision checks the official per-file md5s; the stand-in's (and the tests' tiny
        # archives') files differ. The pipeline needs the images and labels, not the class names.
        def _check_integrity(self) -> bool:
            return True

        def _load_meta(self) -> None:
            self.classes = [str(i) for i in range(10)]
            self.class_to_idx = {c: i for i, c in enumerate(self.classes)}

    transform = transforms.Compose([transforms.Resize(32), transforms.ToTensor(),
                                    transforms.Normalize(NOTEBOOK_MEAN, NOTEBOOK_STD)])
    full = StandInCIFAR10(str(root), train=True, download=False, transform=transform)
    test = StandInCIFAR10(str(root), train=False, download=False, transform=transform)
    train_fraction, split_seed = split_settings()
    n_train = int(len(full) * train_fraction)
    train, val = torch.utils.data.random_split(full, [n_train, len(full) - n_train],
                                               generator=torch.Generator().manual_seed(split_seed))
    return train, val, test


def loader(ds, *, shuffle: bool, workers: int, seed: int | None = None, batch_size: int = BATCH):
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    return torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=shuffle, num_workers=workers,
                                       persistent_workers=workers > 0, generator=gen)
