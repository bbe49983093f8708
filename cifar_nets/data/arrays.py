"""A dataset in memory and on disk: the arrays, their cache, their checksums, the split.

`CifarArrays` holds the whole data set (uint8 images (N, 3, 32, 32), int64 labels, the class
names: ten for CIFAR-10, a hundred for CIFAR-100; cifar_nets/data/sets/); `cifar_nets.data.archive`
reads the official archive into it and `prepare_cache` writes the
part a study uses (`use_images`, `balanced_subset`) as an uncompressed .npz that every later step
reads (`load_cache`, no pickles allowed). `content_sha256` is the checksum of a data set's content
that a run's identity names; `make_split` / `write_split` / `load_split` are the train/validation
split.

Every problem with a file raises `DataError`, a one-line message that names the file and says
what was expected. Outputs are written atomically (`cifar_nets.io.atomic_path`).

The validation split reproduces the notebook exactly: `torch.utils.data.random_split` with
`torch.Generator().manual_seed(seed)` is `randperm` cut at `int(n * train_fraction)`.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cifar_nets.data.dataset import get_dataset
from cifar_nets.io import atomic_path

# CIFAR-10's, for one release: a cache holds any dataset's (cifar_nets/data/dataset.py)
N_CLASSES = get_dataset("cifar10").n_classes
IMAGE_SHAPE = get_dataset("cifar10").image_shape


class DataError(ValueError):
    """A data file is missing, corrupt, tampered with or not what was expected (one-line message)."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split("\n")).replace("\r", " "))


@dataclass(frozen=True, eq=False)
class CifarArrays:
    """The whole data set in memory. eq=False: arrays do not compare with `==` as a bool."""

    x_train: np.ndarray  # uint8 (N, 3, 32, 32)
    y_train: np.ndarray  # int64 (N,)
    x_test: np.ndarray  # uint8 (M, 3, 32, 32)
    y_test: np.ndarray  # int64 (M,)
    class_names: tuple[str, ...]  # the dataset's class names, in label order
    # True: synthetic images (the archive's readme.html carries cifar_nets.data.archive.SYNTHETIC_MARK);
    # None: a cache written before caches recorded it (cache_is_synthetic refuses it)
    synthetic: bool | None = False

# --------------------------------------------------------------------------- cache

_CACHE_KEYS = ("x_train", "y_train", "x_test", "y_test", "class_names")
SYNTHETIC_KEY = "synthetic"   # a 0-d bool: whether the archive's images are synthetic


def _check_arrays(a: CifarArrays, where: str) -> None:
    names = a.class_names
    if (not isinstance(names, tuple) or len(names) < 2
            or not all(isinstance(n, str) and n for n in names)):
        raise DataError(f"{where}: class_names is {names!r}, expected a tuple of at least 2 names")
    n_classes = len(names)
    shape = getattr(a.x_train, "shape", (None,))[1:]
    for part in ("train", "test"):
        x, y = getattr(a, f"x_{part}"), getattr(a, f"y_{part}")
        if (not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 4 or x.shape[1] not in (1, 3)
                or x.shape[1:] != shape):
            raise DataError(f"{where}: x_{part} is {getattr(x, 'dtype', type(x).__name__)} "
                            f"{getattr(x, 'shape', '')}, expected uint8 (N, 3, 32, 32)")
        if not isinstance(y, np.ndarray) or y.dtype != np.int64 or y.shape != (x.shape[0],):
            raise DataError(f"{where}: y_{part} is {getattr(y, 'dtype', type(y).__name__)} "
                            f"{getattr(y, 'shape', '')}, expected int64 ({x.shape[0]},)")
        if y.size and (y.min() < 0 or y.max() >= n_classes):
            raise DataError(f"{where}: y_{part} has labels outside 0..{n_classes - 1}")


def write_cache(arrays: CifarArrays, path: str | os.PathLike) -> None:
    """Save `arrays` as an uncompressed .npz at `path`, atomically (temp file + os.replace)."""
    path = Path(path)
    _check_arrays(arrays, str(path))
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:  # a file object: np.savez would append ".npz" to a bare name
            np.savez(f, x_train=arrays.x_train, y_train=arrays.y_train,
                     x_test=arrays.x_test, y_test=arrays.y_test,
                     class_names=np.array(arrays.class_names, dtype=np.str_),
                     **{SYNTHETIC_KEY: np.array(bool(arrays.synthetic))})


def load_cache(path: str | os.PathLike) -> CifarArrays:
    """Load a cache written by `write_cache` (no pickles allowed) and check it."""
    src = str(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in _CACHE_KEYS if k not in z.files]
            if missing:
                raise DataError(f"{src}: cache lacks {', '.join(missing)}, expected {', '.join(_CACHE_KEYS)}")
            parts = {k: z[k] for k in _CACHE_KEYS}
            synthetic = _synthetic_entry(z, src)
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"{src}: no such cache file") from None
    except Exception as e:  # noqa: BLE001 - BadZipFile, ValueError (pickled objects), OSError...
        raise DataError(f"{src}: unreadable cache ({type(e).__name__}: {e})") from None
    names = parts.pop("class_names")
    if names.dtype.kind != "U" or names.ndim != 1:
        raise DataError(f"{src}: class_names is {names.dtype} {names.shape}, expected a 1-D unicode array")
    arrays = CifarArrays(class_names=tuple(str(n) for n in names), synthetic=synthetic, **parts)
    _check_arrays(arrays, src)
    return arrays


def _synthetic_entry(z, src: str) -> bool | None:
    """The cache's `synthetic` entry (None when an older cache has none)."""
    if SYNTHETIC_KEY not in z.files:
        return None
    flag = z[SYNTHETIC_KEY]
    if flag.dtype != np.bool_ or flag.shape != ():
        raise DataError(f"{src}: {SYNTHETIC_KEY} is {flag.dtype} {flag.shape}, expected a 0-d bool")
    return bool(flag)


def cache_is_synthetic(path: str | os.PathLike) -> bool:
    """Whether the cache's images are synthetic (written by cifar_nets.data.synthetic), read from the
    cache alone (its `synthetic` entry, not the images). A cache from before caches recorded it
    is a DataError that says to rebuild it."""
    src = str(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            flag = _synthetic_entry(z, src)
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"{src}: no such cache file") from None
    except Exception as e:  # noqa: BLE001 - BadZipFile, ValueError, OSError...
        raise DataError(f"{src}: unreadable cache ({type(e).__name__}: {e})") from None
    if flag is None:
        raise DataError(f"{src}: does not record whether its images are synthetic (written by an "
                        f"older cifar_nets); mark it from its archive without rerunning anything: "
                        f"python -m cifar_nets.data.archive {src} results/data/cifar-10-python.tar.gz")
    return flag


def balanced_subset(labels, n: int) -> np.ndarray:
    """Indices (ascending, int64) of `n` of the images with these labels, as evenly spread over
    the classes as they allow, deterministic and nested (a larger `n` keeps every image of a
    smaller one): the classes take turns, in label order, each giving its next image in archive
    order. With 3,000 of CIFAR-10's training images that is the first 300 of each class; a class
    that runs out leaves its turns to the others. `n` >= the number of images keeps them all."""
    y = np.asarray(labels)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    if n >= len(y):
        return np.arange(len(y), dtype=np.int64)
    # rank of each image within its class, in archive order
    order = np.argsort(y, kind="stable")
    starts = np.searchsorted(y[order], y[order], side="left")
    rank = np.empty(len(y), dtype=np.int64)
    rank[order] = np.arange(len(y)) - starts
    # round robin: all first images of a class (by class), then all second ones, ...
    turn = np.lexsort((y, rank))
    return np.sort(turn[:n]).astype(np.int64)


def use_images(arrays: CifarArrays, train: int | str | None = None, test: int | str | None = None,
               where: str = "archive") -> CifarArrays:
    """The part of `arrays` a study uses (config `data.use_train_images` / `data.use_test_images`):
    `train` training and `test` test images chosen by :func:`balanced_subset`, in archive order;
    None or "all" keeps that part whole. Asking for more images than there are is a DataError."""
    parts = {}
    for part, n, key in (("train", train, "data.use_train_images"), ("test", test, "data.use_test_images")):
        x, y = getattr(arrays, f"x_{part}"), getattr(arrays, f"y_{part}")
        if n is None or n == "all":
            parts[part] = (x, y)
            continue
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise DataError(f"{key}: {n!r} is not a positive integer or 'all'")
        if n > len(y):
            raise DataError(f"{where}: holds {len(y)} {part} images, fewer than the {n} of {key}")
        idx = balanced_subset(y, int(n))
        parts[part] = (np.ascontiguousarray(x[idx]), np.ascontiguousarray(y[idx]))
    return CifarArrays(x_train=parts["train"][0], y_train=parts["train"][1],
                       x_test=parts["test"][0], y_test=parts["test"][1],
                       class_names=arrays.class_names, synthetic=arrays.synthetic)


# --------------------------------------------------------------------------- content checksums

def arrays_sha256(*arrays) -> str:
    """Hex sha256 of arrays' content: for each in turn its dtype, shape and C-order bytes, so
    equal content gives equal checksums whatever the buffers, and the same bytes in another
    shape or dtype do not. NumPy arrays or CPU/GPU torch tensors; ~0.1 s for CIFAR-10's 180 MB."""
    h = hashlib.sha256()
    for a in arrays:
        if hasattr(a, "detach"):           # a torch tensor, on any device
            a = a.detach().cpu().numpy()
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape};".encode())
        h.update(a.reshape(-1).view(np.uint8) if a.size else b"")
    return h.hexdigest()


def content_sha256(x, y) -> str:
    """The checksum of a data set's content: its images and their labels (labels as int64, so
    the integer type they came in does not matter). What a run's identity says it trained on
    (cifar_nets.engine.checkpoints.run_identity) and what train.json records as `data_sha256`."""
    if hasattr(y, "detach"):
        y = y.detach().cpu().numpy()
    return arrays_sha256(x, np.asarray(y, dtype=np.int64))


# --------------------------------------------------------------------------- train/validation split

def make_split(n: int, train_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the train and validation parts of `range(n)`, as the notebook made them.

    Identical to `torch.utils.data.random_split(range(n), [n_train, n - n_train],
    generator=torch.Generator().manual_seed(seed))` with `n_train = int(n * train_fraction)`.
    """
    import torch  # noqa: PLC0415 - reading data does not pay for torch

    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    train_fraction = float(train_fraction)
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must be strictly between 0 and 1, got {train_fraction!r}")
    n_train = int(n * train_fraction)
    if n_train < 1 or n_train >= n:
        raise ValueError(f"train_fraction={train_fraction!r} with n={n} leaves {n_train} train and "
                         f"{n - n_train} validation items, expected both non-empty")
    perm = torch.randperm(int(n), generator=torch.Generator().manual_seed(int(seed))).numpy().astype(np.int64)
    return perm[:n_train].copy(), perm[n_train:].copy()


def write_split(path: str | os.PathLike, train_idx, val_idx, seed: int, train_fraction: float) -> None:
    """Save a split as .npz (train_idx, val_idx, seed, train_fraction), atomically."""
    train_idx = np.asarray(train_idx)
    val_idx = np.asarray(val_idx)
    for name, a in (("train_idx", train_idx), ("val_idx", val_idx)):
        if a.ndim != 1 or a.dtype.kind not in "iu" or a.size == 0:
            raise ValueError(f"{name} must be a non-empty 1-D integer array, got {a.dtype} {a.shape}")
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, train_idx=train_idx.astype(np.int64), val_idx=val_idx.astype(np.int64),
                     seed=np.int64(seed), train_fraction=np.float64(train_fraction))


def load_split(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(train_idx, val_idx) from a file written by `write_split`, checked to be disjoint."""
    src = str(path)
    keys = ("train_idx", "val_idx", "seed", "train_fraction")
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in keys if k not in z.files]
            if missing:
                raise DataError(f"{src}: split lacks {', '.join(missing)}, expected {', '.join(keys)}")
            train_idx, val_idx = z["train_idx"], z["val_idx"]
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"{src}: no such split file") from None
    except Exception as e:  # noqa: BLE001
        raise DataError(f"{src}: unreadable split ({type(e).__name__}: {e})") from None
    for name, a in (("train_idx", train_idx), ("val_idx", val_idx)):
        if a.ndim != 1 or a.dtype != np.int64 or a.size == 0 or a.min() < 0:
            raise DataError(f"{src}: {name} is {a.dtype} {a.shape}, expected non-empty non-negative int64 (N,)")
    if np.intersect1d(train_idx, val_idx).size or len(np.unique(train_idx)) != len(train_idx) \
            or len(np.unique(val_idx)) != len(val_idx):
        raise DataError(f"{src}: train_idx and val_idx overlap or repeat, expected disjoint index sets")
    return train_idx, val_idx
