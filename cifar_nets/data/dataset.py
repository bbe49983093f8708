"""What a dataset is: one declared object per dataset, one file per dataset.

A :class:`Dataset` names everything the study needs to know about a dataset: its config name
(`data.dataset`), how tables and the report name it, where its official archive comes from and
its md5, the archive's layout (which pickled batches hold the training and test images, under
which keys the labels and the class names are), its class names, image shape, image counts and
per-channel normalisation. Each dataset is one module in `cifar_nets/data/sets/` that defines
``DATASET = Dataset(...)``; :func:`datasets` finds them all (no list to edit elsewhere), so adding
a dataset is adding one file (docs/workflow.md, "Where things go").

Torch-free and cheap: config validation and the Snakefile read it before any job.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

SETS_PACKAGE = "cifar_nets.data.sets"
DEFAULT_DATASET = "cifar10"


@dataclass(frozen=True)
class PickleLayout:
    """The layout of a CIFAR-style "python version" archive: a folder of protocol-2 pickles,
    each batch a dict with `data` (uint8 (N, C*H*W), channel planes row-major) and the labels under
    `label_key`; the meta pickle lists the class names under `names_key`."""

    directory: str                     # the archive's top folder, e.g. cifar-10-batches-py
    train_members: tuple[str, ...]     # training batches, concatenated in this order
    test_member: str
    meta_member: str
    label_key: str                     # e.g. labels (CIFAR-10), fine_labels (CIFAR-100)
    names_key: str                     # e.g. label_names, fine_label_names

    @property
    def members(self) -> tuple[str, ...]:
        return (*self.train_members, self.test_member, self.meta_member)


@dataclass(frozen=True)
class Dataset:
    """One dataset, declared once (cifar_nets/data/sets/<name>.py)."""

    name: str                          # config data.dataset; also names its files (results/data/)
    label: str                         # how tables, figures and the report name it by default
    url: str                           # the official archive (config data.source when not given)
    md5: str                           # its md5 (config data.md5 when not given)
    archive_file: str                  # results/data/<archive_file>
    cache_file: str                    # results/data/<cache_file>
    layout: PickleLayout
    class_names: tuple[str, ...]
    train_images: int                  # what the official archive holds
    test_images: int
    mean: tuple[float, float, float]   # per-channel normalisation of its images (0..1 scale)
    std: tuple[float, float, float]
    image_shape: tuple[int, int, int] = (3, 32, 32)
    # an archive in another format: reader(path) -> CifarArrays; None reads `layout`'s pickles
    reader: Callable | None = None

    def __post_init__(self):
        if len(self.class_names) < 2 or len(set(self.class_names)) != len(self.class_names):
            raise ValueError(f"dataset {self.name}: class_names must be at least two distinct names")
        if len(self.image_shape) != 3 or len(self.mean) != self.image_shape[0] != len(self.std):
            raise ValueError(f"dataset {self.name}: image_shape, mean and std do not agree")

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def pairs(self) -> int:
        """Class pairs a confusion matrix has (the most confused pairs are drawn from these)."""
        return self.n_classes * (self.n_classes - 1) // 2

    @property
    def archive_path(self) -> str:
        return f"results/data/{self.archive_file}"

    @property
    def cache_path(self) -> str:
        return f"results/data/{self.cache_file}"


@lru_cache(maxsize=None)
def datasets() -> dict[str, Dataset]:
    """Every dataset, by name: the ``DATASET`` of each module in cifar_nets/data/sets/, the
    default (cifar10) first, then by name."""
    pkg = importlib.import_module(SETS_PACKAGE)
    found: dict[str, Dataset] = {}
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{SETS_PACKAGE}.{info.name}")
        ds = getattr(mod, "DATASET", None)
        if not isinstance(ds, Dataset):
            raise TypeError(f"{mod.__file__}: defines no DATASET = Dataset(...)")
        if ds.name in found:
            raise ValueError(f"{mod.__file__}: dataset name {ds.name!r} is declared twice")
        found[ds.name] = ds
    order = sorted(found, key=lambda n: (n != DEFAULT_DATASET, n))
    return {n: found[n] for n in order}


def get_dataset(name: str | None = None) -> Dataset:
    """The dataset called `name` (None: the default, cifar10); a KeyError listing them if none."""
    all_ = datasets()
    name = DEFAULT_DATASET if name is None else name
    try:
        return all_[name]
    except KeyError:
        raise KeyError(f"no dataset {name!r} (known: {', '.join(all_)})") from None


def dataset_of(data_config: dict) -> Dataset:
    """The dataset a config's `data` section names (`data.dataset`, default cifar10)."""
    return get_dataset((data_config or {}).get("dataset") or DEFAULT_DATASET)


def fill_dataset_values(cfg: dict) -> None:
    """A validated config, in place: `data` with the dataset's own values where it leaves them
    null (:func:`fill_data_defaults`), and a recipe's `mean` / `std` given as `dataset` the
    dataset's normalisation."""
    cfg["data"] = fill_data_defaults(cfg["data"])
    ds = dataset_of(cfg["data"])
    for recipe in (cfg.get("recipes") or {}).values():
        for key in ("mean", "std"):
            if recipe.get(key) == "dataset":
                recipe[key] = list(getattr(ds, key))


def fill_data_defaults(data_config: dict) -> dict:
    """`data` with the dataset's own values where the config leaves them null: source (its
    official URL), md5, label, train_images and test_images. A copy; the rest is kept."""
    ds = dataset_of(data_config)
    out = dict(data_config)
    out.setdefault("dataset", ds.name)
    for key, value in (("source", ds.url), ("md5", ds.md5), ("label", ds.label),
                       ("train_images", ds.train_images), ("test_images", ds.test_images)):
        if out.get(key) is None:
            out[key] = value
    return out
