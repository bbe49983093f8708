"""CIFAR-10: fetch the official "python version" archive, read it safely, cache it, split it.

The archive (`cifar-10-python.tar.gz`) holds `cifar-10-batches-py/data_batch_1..5`, `test_batch`
and `batches.meta`: protocol-2 pickles written by Python 2, whose `data` entry is a uint8 array
(N, 3072) laid out as a 1024-value R plane, then G, then B, each row-major 32x32. Reading it:

* happens in memory through `tarfile` (nothing is extracted to disk), streaming the gzip once;
* rejects absolute or `..` member names and any link, device or fifo member;
* unpickles with an allow-list (`_reconstruct`, `ndarray`, `dtype`) so a tampered archive can
  never run code, and checks shapes, dtypes and label ranges before anything is returned.

Every problem with a file raises `DataError`, a one-line message that names the file and says
what was expected. Outputs are written atomically (`cifar_nets.io.atomic_path`).

The validation split reproduces the notebook exactly: `torch.utils.data.random_split` with
`torch.Generator().manual_seed(seed)` is `randperm` cut at `int(n * train_fraction)`.
"""
from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import os
import pickle
import re
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .io import atomic_path

OFFICIAL_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
OFFICIAL_MD5 = "c58f30108f718f92721af3b95e74349a"

ARCHIVE_DIR = "cifar-10-batches-py"
TRAIN_MEMBERS = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_MEMBER = "test_batch"
META_MEMBER = "batches.meta"
REQUIRED_MEMBERS = (*TRAIN_MEMBERS, TEST_MEMBER, META_MEMBER)

N_CLASSES = 10
IMAGE_SHAPE = (3, 32, 32)
ROW_LENGTH = 3 * 32 * 32  # 3072
MAX_MEMBER_BYTES = 1 << 30  # the official batches are ~31 MB; refuse absurd sizes
CHUNK = 1 << 20


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
    class_names: tuple[str, ...]  # 10 names


# --------------------------------------------------------------------------- checksums & fetching

def md5sum(path: str | os.PathLike) -> str:
    """Hex md5 of a file, read in 1 MiB chunks."""
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _check_md5_arg(md5: str) -> str:
    if not isinstance(md5, str) or not re.fullmatch(r"[0-9a-fA-F]{32}", md5):
        raise ValueError(f"md5 must be 32 hex digits, got {md5!r}")
    return md5.lower()


_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def _local_source(source: str) -> Path | None:
    """The local path a source names (plain path or file:// URL), or None for http(s)."""
    m = _SCHEME.match(source)
    if m is None:
        return Path(source)
    scheme = m.group(1).lower()
    if scheme in ("http", "https"):
        return None
    if scheme == "file":
        parsed = urllib.parse.urlparse(source)
        if parsed.netloc not in ("", "localhost"):
            raise DataError(f"{source}: file:// URL with a remote host is not supported")
        return Path(urllib.request.url2pathname(parsed.path))
    raise DataError(f"{source}: unsupported URL scheme {scheme!r} (expected https://, http://, file:// or a path)")


def fetch_archive(source: str, dest: str | os.PathLike, md5: str, timeout: float = 60) -> None:
    """Copy or download `source` to `dest`, verifying its md5.

    `source` is an http(s):// URL (streamed with urllib, `timeout` seconds per socket operation),
    a file:// URL or a plain path. The bytes go to a temporary file beside `dest`, which is moved
    onto `dest` only once the md5 matches. On any failure the temporary file is removed and no
    file is left at `dest` (a `dest` from an earlier run is removed too, so a failed fetch never
    leaves a stale archive looking like a fresh one) -- except when `source` *is* `dest`, which is
    only checked and never deleted.
    """
    source = os.fspath(source)
    dest = Path(dest)
    want = _check_md5_arg(md5)
    local = _local_source(source)
    if local is not None:
        if not local.is_file():
            raise DataError(f"{local}: no such file (source for {dest})")
        if dest.exists() and os.path.samefile(local, dest):
            got = md5sum(dest)
            if got != want:
                raise DataError(f"{source}: md5 is {got}, expected {want}")
            return
    try:
        with atomic_path(dest) as tmp:
            h = hashlib.md5(usedforsecurity=False)
            with open(tmp, "wb") as out:
                if local is not None:
                    try:
                        src = open(local, "rb")
                    except OSError as e:
                        raise DataError(f"{local}: cannot read ({e.strerror or e})") from e
                    with src:
                        _copy_hashing(src, out, h)
                else:
                    try:
                        with urllib.request.urlopen(source, timeout=timeout) as resp:
                            _copy_hashing(resp, out, h)
                    except urllib.error.HTTPError as e:
                        e.close()  # it holds the connection open
                        raise DataError(f"{source}: download failed (HTTP {e.code} {e.reason})") from e
                    except urllib.error.URLError as e:
                        raise DataError(f"{source}: download failed ({e.reason})") from e
                    except (OSError, http.client.HTTPException) as e:
                        raise DataError(f"{source}: download failed ({type(e).__name__}: {e})") from e
            got = h.hexdigest()
            if got != want:
                raise DataError(f"{source}: md5 is {got}, expected {want}")
    except BaseException:
        dest.unlink(missing_ok=True)
        raise


def _copy_hashing(src, out, h) -> None:
    while chunk := src.read(CHUNK):
        h.update(chunk)
        out.write(chunk)


# --------------------------------------------------------------------------- safe unpickling

def _reconstruct_function():
    """numpy's `_reconstruct`, whichever of numpy.core / numpy._core holds it."""
    return np.empty(0).__reduce__()[0]


_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct_function(),
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct_function(),
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _RefusedGlobal(Exception):
    def __init__(self, module: str, name: str):
        super().__init__(f"{module}.{name}")


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the three numpy globals a CIFAR-10 batch needs; everything else is refused."""

    def find_class(self, module, name):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except (KeyError, TypeError):
            raise _RefusedGlobal(str(module), str(name)) from None

    def persistent_load(self, pid):
        raise _RefusedGlobal("persistent_id", repr(pid)[:60])


def _unpickle(raw: bytes, where: str):
    try:
        return _RestrictedUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except _RefusedGlobal as e:
        raise DataError(f"{where}: refused pickle global {e}") from None
    except RecursionError:
        raise DataError(f"{where}: corrupt pickle (nested too deeply)") from None
    except Exception as e:  # noqa: BLE001 - any failure of a malformed pickle is a data error
        raise DataError(f"{where}: corrupt pickle ({type(e).__name__}: {e})") from None


# --------------------------------------------------------------------------- reading the archive

def _str_keys(obj, where: str) -> dict:
    if not isinstance(obj, dict):
        raise DataError(f"{where}: expected a pickled dict, got {type(obj).__name__}")
    return {(k.decode("latin-1") if isinstance(k, bytes) else k): v for k, v in obj.items()}


def _parse_batch(obj, where: str) -> tuple[np.ndarray, np.ndarray]:
    d = _str_keys(obj, where)
    for key in ("data", "labels"):
        if key not in d:
            raise DataError(f"{where}: missing key {key!r} (expected 'data' and 'labels')")
    data, labels = d["data"], d["labels"]
    if not isinstance(data, np.ndarray):
        raise DataError(f"{where}: 'data' is a {type(data).__name__}, expected a uint8 numpy array")
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != ROW_LENGTH:
        raise DataError(f"{where}: 'data' is {data.dtype} with shape {data.shape}, "
                        f"expected uint8 with shape (N, {ROW_LENGTH})")
    if data.shape[0] == 0:
        raise DataError(f"{where}: 'data' has no images, expected at least one")
    if not isinstance(labels, (list, tuple, np.ndarray)):
        raise DataError(f"{where}: 'labels' is a {type(labels).__name__}, expected a list of integers")
    try:
        y = np.asarray(labels)
    except (ValueError, TypeError, OverflowError) as e:
        raise DataError(f"{where}: 'labels' is not a list of integers ({e})") from None
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise DataError(f"{where}: 'labels' is not a flat list of integers (got dtype {y.dtype}, shape {y.shape})")
    if len(y) != data.shape[0]:
        raise DataError(f"{where}: {len(y)} labels for {data.shape[0]} images, expected equal counts")
    bad = (y < 0) | (y >= N_CLASSES)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"{where}: label {int(y[i])} at index {i} is outside 0..{N_CLASSES - 1}")
    return data.reshape(-1, *IMAGE_SHAPE), y.astype(np.int64)


def _parse_meta(obj, where: str) -> tuple[str, ...]:
    d = _str_keys(obj, where)
    names = d.get("label_names")
    if not isinstance(names, (list, tuple)) or len(names) != N_CLASSES:
        got = f"{len(names)} entries" if isinstance(names, (list, tuple)) else repr(type(names).__name__)
        raise DataError(f"{where}: 'label_names' has {got}, expected a list of {N_CLASSES} names")
    out = []
    for n in names:
        if isinstance(n, bytes):
            try:
                n = n.decode("utf-8")
            except UnicodeDecodeError:
                raise DataError(f"{where}: label name {n!r} is not valid UTF-8") from None
        if not isinstance(n, str) or not n:
            raise DataError(f"{where}: label name {n!r} is not a non-empty string")
        out.append(n)
    return tuple(out)


def _bad_member_name(name: str) -> bool:
    return (name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) is not None
            or ".." in re.split(r"[/\\]", name))


def read_cifar_archive(path: str | os.PathLike) -> CifarArrays:
    """Read and validate a CIFAR-10 python-version archive entirely in memory.

    The gzip stream is read once, front to back, and checked to its end (so a truncated or
    corrupt file is always noticed); every member header is inspected, but only the seven
    expected members are read. Training batches are concatenated in order 1..5.
    """
    path = Path(path)
    src = str(path)
    try:
        with open(path, "rb") as f:
            magic = f.read(2)
    except OSError as e:
        raise DataError(f"{src}: cannot read archive ({e.strerror or e})") from None
    if magic != b"\x1f\x8b":
        raise DataError(f"{src}: not a gzip file, expected a .tar.gz archive (cifar-10-python.tar.gz)")

    parsed: dict[str, object] = {}
    try:
        with gzip.open(path, "rb") as gz:
            with tarfile.open(fileobj=gz, mode="r|") as tar:
                for m in tar:
                    name = m.name
                    if _bad_member_name(name):
                        raise DataError(f"{src}: unsafe member name {name!r} (absolute or containing '..')")
                    if m.isdir():
                        continue
                    if not m.isreg():
                        kind = ("symlink" if m.issym() else "hardlink" if m.islnk() else
                                "device" if m.isdev() and not m.isfifo() else "fifo" if m.isfifo()
                                else f"type {m.type!r}")
                        raise DataError(f"{src}: member {name!r} is a {kind}, expected only regular files")
                    rel = name[2:] if name.startswith("./") else name
                    top, _, base = rel.partition("/")
                    if top != ARCHIVE_DIR or base not in REQUIRED_MEMBERS:
                        continue  # unexpected extra regular member: skipped, never read
                    where = f"{base} in {src}"
                    if base in parsed:
                        raise DataError(f"{where}: member appears twice, expected once")
                    if m.size > MAX_MEMBER_BYTES:
                        raise DataError(f"{where}: member is {m.size} bytes, expected under {MAX_MEMBER_BYTES}")
                    fobj = tar.extractfile(m)
                    raw = fobj.read()
                    if len(raw) != m.size:
                        raise tarfile.ReadError("unexpected end of data")
                    obj = _unpickle(raw, where)
                    del raw
                    parsed[base] = _parse_meta(obj, where) if base == META_MEMBER else _parse_batch(obj, where)
            # The tar reader stops at the end-of-archive marker; read the rest of the gzip stream so
            # its CRC and length trailer are checked too.
            while gz.read(CHUNK):
                pass
    except DataError:
        raise
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        raise DataError(f"{src}: truncated or corrupt archive ({type(e).__name__}: {e})") from None

    missing = [n for n in REQUIRED_MEMBERS if n not in parsed]
    if missing:
        raise DataError(f"{src}: missing members {', '.join(f'{ARCHIVE_DIR}/{n}' for n in missing)}")

    x_train = np.concatenate([parsed[n][0] for n in TRAIN_MEMBERS])
    y_train = np.concatenate([parsed[n][1] for n in TRAIN_MEMBERS])
    x_test, y_test = parsed[TEST_MEMBER]
    return CifarArrays(x_train=x_train, y_train=y_train,
                       x_test=np.array(x_test, dtype=np.uint8, copy=True), y_test=y_test,
                       class_names=parsed[META_MEMBER])


# --------------------------------------------------------------------------- cache

_CACHE_KEYS = ("x_train", "y_train", "x_test", "y_test", "class_names")


def _check_arrays(a: CifarArrays, where: str) -> None:
    for part in ("train", "test"):
        x, y = getattr(a, f"x_{part}"), getattr(a, f"y_{part}")
        if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 4 or x.shape[1:] != IMAGE_SHAPE:
            raise DataError(f"{where}: x_{part} is {getattr(x, 'dtype', type(x).__name__)} "
                            f"{getattr(x, 'shape', '')}, expected uint8 (N, 3, 32, 32)")
        if not isinstance(y, np.ndarray) or y.dtype != np.int64 or y.shape != (x.shape[0],):
            raise DataError(f"{where}: y_{part} is {getattr(y, 'dtype', type(y).__name__)} "
                            f"{getattr(y, 'shape', '')}, expected int64 ({x.shape[0]},)")
        if y.size and (y.min() < 0 or y.max() >= N_CLASSES):
            raise DataError(f"{where}: y_{part} has labels outside 0..{N_CLASSES - 1}")
    names = a.class_names
    if (not isinstance(names, tuple) or len(names) != N_CLASSES
            or not all(isinstance(n, str) and n for n in names)):
        raise DataError(f"{where}: class_names is {names!r}, expected a tuple of {N_CLASSES} names")


def write_cache(arrays: CifarArrays, path: str | os.PathLike) -> None:
    """Save `arrays` as an uncompressed .npz at `path`, atomically (temp file + os.replace)."""
    path = Path(path)
    _check_arrays(arrays, str(path))
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:  # a file object: np.savez would append ".npz" to a bare name
            np.savez(f, x_train=arrays.x_train, y_train=arrays.y_train,
                     x_test=arrays.x_test, y_test=arrays.y_test,
                     class_names=np.array(arrays.class_names, dtype=np.str_))


def load_cache(path: str | os.PathLike) -> CifarArrays:
    """Load a cache written by `write_cache` (no pickles allowed) and check it."""
    src = str(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in _CACHE_KEYS if k not in z.files]
            if missing:
                raise DataError(f"{src}: cache lacks {', '.join(missing)}, expected {', '.join(_CACHE_KEYS)}")
            parts = {k: z[k] for k in _CACHE_KEYS}
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"{src}: no such cache file") from None
    except Exception as e:  # noqa: BLE001 - BadZipFile, ValueError (pickled objects), OSError...
        raise DataError(f"{src}: unreadable cache ({type(e).__name__}: {e})") from None
    names = parts.pop("class_names")
    if names.dtype.kind != "U" or names.ndim != 1:
        raise DataError(f"{src}: class_names is {names.dtype} {names.shape}, expected a 1-D unicode array")
    arrays = CifarArrays(class_names=tuple(str(n) for n in names), **parts)
    _check_arrays(arrays, src)
    return arrays


def prepare_cache(archive: str | os.PathLike, cache: str | os.PathLike, md5: str,
                  expected_counts: tuple[int, int] | None = None,
                  use: tuple[int | str | None, int | str | None] = (None, None)) -> CifarArrays:
    """Verify the archive's md5, read it, check its (train, test) image counts against
    `expected_counts` when given, keep the (train, test) images `use` asks for
    (:func:`use_images`; None or "all" keeps every image), and write the .npz cache of what is
    kept; return those arrays. Every later step (split, training, evaluation, figures) reads
    the cache, so it sees only the images the study uses.

    On failure nothing is left at `cache` (an older cache there is removed as well).
    """
    archive, cache = Path(archive), Path(cache)
    want = _check_md5_arg(md5)
    try:
        try:
            got = md5sum(archive)
        except FileNotFoundError:
            raise DataError(f"{archive}: no such file (expected the CIFAR-10 archive)") from None
        except OSError as e:
            raise DataError(f"{archive}: cannot read ({e.strerror or e})") from None
        if got != want:
            raise DataError(f"{archive}: md5 is {got}, expected {want}")
        arrays = read_cifar_archive(archive)
        found = (len(arrays.y_train), len(arrays.y_test))
        if expected_counts is not None and found != tuple(expected_counts):
            raise DataError(
                f"{archive}: holds {found[0]} training / {found[1]} test images, expected "
                f"{expected_counts[0]} / {expected_counts[1]} (config data.train_images / data.test_images)")
        arrays = use_images(arrays, *use, where=str(archive))
        write_cache(arrays, cache)
    except BaseException:
        cache.unlink(missing_ok=True)
        raise
    return arrays


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
                       class_names=arrays.class_names)


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
    (cifar_nets.train.run_identity) and what train.json records as `data_sha256`."""
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
