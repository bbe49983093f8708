"""A dataset's official "python version" archive (CIFAR-10, CIFAR-100): read it safely, and
turn it into the cache.

Which members hold what is the dataset's layout (cifar_nets/data/dataset.py, one file per dataset in
cifar_nets/data/sets/). CIFAR-10's archive (`cifar-10-python.tar.gz`) holds
`cifar-10-batches-py/data_batch_1..5`, `test_batch` and `batches.meta` (labels under `labels`,
class names under `label_names`); CIFAR-100's holds `cifar-100-python/train`, `test` and `meta`
(`fine_labels`, `fine_label_names`). All are protocol-2 pickles written by Python 2, whose `data`
entry is a uint8 array (N, 3072) laid out as a 1024-value R plane, then G, then B, each row-major
32x32. Reading it:

* happens in memory through `tarfile` (nothing is extracted to disk), streaming the gzip once;
* rejects absolute or `..` member names and any link, device or fifo member;
* unpickles with an allow-list (`_reconstruct`, `ndarray`, `dtype`) so a tampered archive can
  never run code, and checks shapes, dtypes and label ranges before anything is returned.

Every problem with a file raises `cifar_nets.data.arrays.DataError`, a one-line message that names the
file and says what was expected. An archive's content comes back as `cifar_nets.data.arrays.CifarArrays`;
`prepare_cache` writes the part a study uses as the cache every later step reads. Fetching the
archive is `cifar_nets.data.fetch`; writing one in this format, the inverse of reading it, is
`cifar_nets.data.archive_writer`.
"""
from __future__ import annotations

import dataclasses
import gzip
import io
import os
import pickle
import re
import tarfile
import zlib
from pathlib import Path

import numpy as np

from cifar_nets.data.arrays import CifarArrays, DataError, load_cache, use_images, write_cache
from cifar_nets.data.dataset import Dataset, get_dataset
from cifar_nets.data.fetch import CHUNK, check_md5, md5sum

# CIFAR-10's archive, as this module named it before datasets were declared (one release);
# every dataset's own are its Dataset's (cifar_nets/data/sets/)
_CIFAR10 = get_dataset("cifar10")
OFFICIAL_URL = _CIFAR10.url
OFFICIAL_MD5 = _CIFAR10.md5
ARCHIVE_DIR = _CIFAR10.layout.directory
TRAIN_MEMBERS = _CIFAR10.layout.train_members
TEST_MEMBER = _CIFAR10.layout.test_member
META_MEMBER = _CIFAR10.layout.meta_member
REQUIRED_MEMBERS = _CIFAR10.layout.members
ROW_LENGTH = int(np.prod(_CIFAR10.image_shape))  # 3072: one CIFAR-10 image as a row

README_MEMBER = "readme.html"
# What marks an archive of synthetic images: cifar_nets.data.synthetic (archive_writer.README_HTML)
# writes it into the archive's readme.html; the official archive's readme.html has no such text.
# Read from the archive, recorded in the cache, it marks every table, figure and report after.
SYNTHETIC_MARK = b"cifar_nets.data.synthetic"
MAX_README_BYTES = 1 << 20

MAX_MEMBER_BYTES = 1 << 30  # the official batches are ~31 MB; refuse absurd sizes


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
    """Resolves only the three numpy globals a CIFAR batch needs; everything else is refused."""

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


def _parse_batch(obj, where: str, ds: Dataset) -> tuple[np.ndarray, np.ndarray]:
    d = _str_keys(obj, where)
    label_key, row_length, n_classes = ds.layout.label_key, int(np.prod(ds.image_shape)), ds.n_classes
    for key in ("data", label_key):
        if key not in d:
            raise DataError(f"{where}: missing key {key!r} (expected 'data' and {label_key!r})")
    data, labels = d["data"], d[label_key]
    if not isinstance(data, np.ndarray):
        raise DataError(f"{where}: 'data' is a {type(data).__name__}, expected a uint8 numpy array")
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != row_length:
        raise DataError(f"{where}: 'data' is {data.dtype} with shape {data.shape}, "
                        f"expected uint8 with shape (N, {row_length})")
    if data.shape[0] == 0:
        raise DataError(f"{where}: 'data' has no images, expected at least one")
    if not isinstance(labels, (list, tuple, np.ndarray)):
        raise DataError(f"{where}: {label_key!r} is a {type(labels).__name__}, expected a list of integers")
    try:
        y = np.asarray(labels)
    except (ValueError, TypeError, OverflowError) as e:
        raise DataError(f"{where}: {label_key!r} is not a list of integers ({e})") from None
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise DataError(f"{where}: {label_key!r} is not a flat list of integers "
                        f"(got dtype {y.dtype}, shape {y.shape})")
    if len(y) != data.shape[0]:
        raise DataError(f"{where}: {len(y)} labels for {data.shape[0]} images, expected equal counts")
    bad = (y < 0) | (y >= n_classes)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"{where}: label {int(y[i])} at index {i} is outside 0..{n_classes - 1}")
    return data.reshape(-1, *ds.image_shape), y.astype(np.int64)


def _parse_meta(obj, where: str, ds: Dataset) -> tuple[str, ...]:
    d = _str_keys(obj, where)
    key, n_classes = ds.layout.names_key, ds.n_classes
    names = d.get(key)
    if not isinstance(names, (list, tuple)) or len(names) != n_classes:
        got = f"{len(names)} entries" if isinstance(names, (list, tuple)) else repr(type(names).__name__)
        raise DataError(f"{where}: {key!r} has {got}, expected a list of {n_classes} names")
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


def read_cifar_archive(path: str | os.PathLike, dataset: Dataset | str | None = None) -> CifarArrays:
    """Read and validate a dataset's python-version archive (default CIFAR-10) entirely in memory.

    The gzip stream is read once, front to back, and checked to its end (so a truncated or
    corrupt file is always noticed); every member header is inspected, but only the members of
    the dataset's layout (and readme.html, for the mark of synthetic data: SYNTHETIC_MARK) are
    read. Training batches are concatenated in the layout's order (CIFAR-10: 1..5). A dataset
    with a reader of its own (Dataset.reader) is read by it.
    """
    ds = dataset if isinstance(dataset, Dataset) else get_dataset(dataset)
    if ds.reader is not None:
        return ds.reader(path)
    layout = ds.layout
    path = Path(path)
    src = str(path)
    try:
        with open(path, "rb") as f:
            magic = f.read(2)
    except OSError as e:
        raise DataError(f"{src}: cannot read archive ({e.strerror or e})") from None
    if magic != b"\x1f\x8b":
        raise DataError(f"{src}: not a gzip file, expected a .tar.gz archive ({ds.archive_file})")

    parsed: dict[str, object] = {}
    synthetic = False
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
                    if top == layout.directory and base == README_MEMBER and m.size <= MAX_README_BYTES:
                        synthetic = synthetic or SYNTHETIC_MARK in tar.extractfile(m).read()
                        continue
                    if top != layout.directory or base not in layout.members:
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
                    parsed[base] = (_parse_meta(obj, where, ds) if base == layout.meta_member
                                    else _parse_batch(obj, where, ds))
            # The tar reader stops at the end-of-archive marker; read the rest of the gzip stream so
            # its CRC and length trailer are checked too.
            while gz.read(CHUNK):
                pass
    except DataError:
        raise
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        raise DataError(f"{src}: truncated or corrupt archive ({type(e).__name__}: {e})") from None

    missing = [n for n in layout.members if n not in parsed]
    if missing:
        raise DataError(f"{src}: missing members {', '.join(f'{layout.directory}/{n}' for n in missing)}")

    x_train = np.concatenate([parsed[n][0] for n in layout.train_members])
    y_train = np.concatenate([parsed[n][1] for n in layout.train_members])
    x_test, y_test = parsed[layout.test_member]
    return CifarArrays(x_train=x_train, y_train=y_train,
                       x_test=np.array(x_test, dtype=np.uint8, copy=True), y_test=y_test,
                       class_names=parsed[layout.meta_member], synthetic=synthetic)


# --------------------------------------------------------------------------- archive -> cache

def prepare_cache(archive: str | os.PathLike, cache: str | os.PathLike, md5: str,
                  expected_counts: tuple[int, int] | None = None,
                  use: tuple[int | str | None, int | str | None] = (None, None),
                  dataset: Dataset | str | None = None) -> CifarArrays:
    """Verify the archive's md5, read it, check its (train, test) image counts against
    `expected_counts` when given, keep the (train, test) images `use` asks for
    (:func:`use_images`; None or "all" keeps every image), and write the .npz cache of what is
    kept; return those arrays. `dataset` (a Dataset or its name; default CIFAR-10) says how to
    read the archive. Every later step (split, training, evaluation, figures) reads
    the cache, so it sees only the images the study uses.

    On failure nothing is left at `cache` (an older cache there is removed as well).
    """
    archive, cache = Path(archive), Path(cache)
    ds = dataset if isinstance(dataset, Dataset) else get_dataset(dataset)
    want = check_md5(md5)
    try:
        try:
            got = md5sum(archive)
        except FileNotFoundError:
            raise DataError(f"{archive}: no such file (expected the {ds.label} archive)") from None
        except OSError as e:
            raise DataError(f"{archive}: cannot read ({e.strerror or e})") from None
        if got != want:
            raise DataError(f"{archive}: md5 is {got}, expected {want}")
        arrays = read_cifar_archive(archive, ds)
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



def archive_is_synthetic(archive: str | os.PathLike) -> bool:
    """Whether an archive carries the mark of synthetic data (its readme.html), reading only that
    member."""
    try:
        with tarfile.open(archive, "r:*") as tar:
            for m in tar:
                if m.isfile() and m.name.endswith("readme.html"):
                    return SYNTHETIC_MARK in tar.extractfile(m).read()
    except (OSError, tarfile.TarError) as e:
        raise DataError(f"{archive}: cannot read ({e})") from None
    return False


def mark_old_cache(cache: str | os.PathLike, archive: str | os.PathLike) -> bool:
    """Give a cache from before caches recorded it the mark of synthetic data read from its
    archive, in place and with its modification time kept, so that Snakemake reruns nothing
    (the arrays, and so every run identity, are unchanged). Returns the mark."""
    st = os.stat(cache)
    arrays = load_cache(cache)
    synthetic = archive_is_synthetic(archive)
    write_cache(dataclasses.replace(arrays, synthetic=synthetic), cache)
    os.utime(cache, ns=(st.st_atime_ns, st.st_mtime_ns))
    return synthetic


if __name__ == "__main__":   # python -m cifar_nets.data.archive CACHE ARCHIVE
    import sys  # noqa: PLC0415 - only the command line needs it
    if len(sys.argv) != 3:
        sys.exit("usage: python -m cifar_nets.data.archive CACHE ARCHIVE  (marks an older cache as "
                 "synthetic or not, from its archive, without changing its time)")
    try:
        mark = mark_old_cache(sys.argv[1], sys.argv[2])
    except (DataError, OSError) as exc:
        sys.exit(f"python -m cifar_nets.data.archive: {exc}")
    print(f"{sys.argv[1]}: marked {'synthetic' if mark else 'not synthetic'} (from {sys.argv[2]})")
