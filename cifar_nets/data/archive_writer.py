"""Write a dataset's archive in the official "python version" format: the inverse of
`cifar_nets.data.archive`, used by `cifar_nets.data.synthetic`, the CIFAR-100-format stand-in
(scripts/make_cifar100_standin.py) and the tests' tampered archives.

The archive has the dataset's official layout (cifar_nets/data/sets/; CIFAR-10:
`cifar-10-batches-py/data_batch_1..5`, `test_batch`, `batches.meta`; CIFAR-100:
`cifar-100-python/train`, `test`, `meta`), then `readme.html`, gzip-compressed tar, with pickles
in the format Python 2's cPickle wrote them: protocol 2, dict keys and byte buffers as `str` (SHORT_BINSTRING /
BINSTRING), numpy arrays through the globals `numpy.core.multiarray _reconstruct`, `numpy
ndarray` and `numpy dtype` with REDUCE + BUILD, memo puts numbered from 1. The pickler below
emits those opcodes by hand, so nothing depends on how the running numpy or Python would pickle.
The bytes are a deterministic function of the content (gzip mtime 0, tar mtimes 0).
"""
from __future__ import annotations

import gzip
import hashlib
import io
import struct
import tarfile
from typing import Callable, Iterable

import numpy as np

from cifar_nets.data.archive import ARCHIVE_DIR, SYNTHETIC_MARK
from cifar_nets.data.dataset import Dataset, get_dataset
from cifar_nets.io import atomic_path

# CIFAR-10's class names, in label order (batches.meta's label_names), for one release
CLASSES = get_dataset("cifar10").class_names


def to_rows(x_hwc: np.ndarray) -> np.ndarray:
    """(N, H, W, C) images -> (N, C*H*W) rows: R plane, G plane, B plane, each row-major."""
    return np.ascontiguousarray(x_hwc.transpose(0, 3, 1, 2).reshape(len(x_hwc), -1))


# --------------------------------------------------------------------------- a Python 2 style pickler

class _Py2Pickle:
    """Emits protocol-2 opcodes the way Python 2's cPickle did for CIFAR-10's dicts."""

    def __init__(self):
        self.out = io.BytesIO()
        self.memo = 0

    def w(self, b: bytes) -> None:
        self.out.write(b)

    def put(self) -> None:
        self.memo += 1
        self.w(b"q" + bytes([self.memo]) if self.memo < 256 else b"r" + struct.pack("<I", self.memo))

    def global_(self, module: str, name: str) -> None:
        self.w(b"c" + module.encode() + b"\n" + name.encode() + b"\n")
        self.put()

    def int_(self, v: int) -> None:
        if 0 <= v < 256:
            self.w(b"K" + bytes([v]))  # BININT1
        elif 0 <= v < 65536:
            self.w(b"M" + struct.pack("<H", v))  # BININT2
        else:
            self.w(b"J" + struct.pack("<i", v))  # BININT

    def str_(self, b: bytes) -> None:
        if len(b) < 256:
            self.w(b"U" + bytes([len(b)]) + b)  # SHORT_BINSTRING
        else:
            self.w(b"T" + struct.pack("<i", len(b)) + b)  # BINSTRING
        self.put()

    def dtype(self, dt: np.dtype) -> None:
        self.global_("numpy", "dtype")
        self.str_(dt.str[1:].encode())  # e.g. 'u1', 'i8'
        self.int_(0)
        self.int_(1)
        self.w(b"\x87")  # TUPLE3 -> ('u1', 0, 1), as Python 2 numpy reduced a dtype
        self.put()
        self.w(b"R")  # REDUCE
        self.put()
        self.w(b"(")  # MARK: state (3, byteorder, None, None, None, -1, -1, 0)
        self.int_(3)
        self.str_(b"|" if dt.itemsize == 1 else b"<")
        self.w(b"NNN")
        self.int_(-1)
        self.int_(-1)
        self.int_(0)
        self.w(b"t")  # TUPLE
        self.put()
        self.w(b"b")  # BUILD

    def ndarray(self, a: np.ndarray) -> None:
        a = np.ascontiguousarray(a)
        if a.dtype.byteorder == ">":
            raise ValueError("big-endian arrays are not supported")
        self.global_("numpy.core.multiarray", "_reconstruct")
        self.global_("numpy", "ndarray")
        self.int_(0)
        self.w(b"\x85")  # TUPLE1 -> (0,)
        self.put()
        self.str_(b"b")
        self.w(b"\x87")  # TUPLE3
        self.put()
        self.w(b"R")  # REDUCE -> _reconstruct(ndarray, (0,), 'b')
        self.put()
        self.w(b"(")  # MARK: state (1, shape, dtype, is_fortran, raw bytes)
        self.int_(1)
        self.tuple_(a.shape)
        self.dtype(a.dtype)
        self.w(b"\x89")  # NEWFALSE
        self.str_(a.tobytes())
        self.w(b"t")  # TUPLE
        self.put()
        self.w(b"b")  # BUILD

    def tuple_(self, items) -> None:
        items = tuple(items)
        if not items:
            self.w(b")")  # EMPTY_TUPLE (never memoized)
            return
        if len(items) > 3:
            self.w(b"(")  # MARK
        for v in items:
            self.obj(v)
        self.w({1: b"\x85", 2: b"\x86", 3: b"\x87"}.get(len(items), b"t"))  # TUPLE1/2/3 or TUPLE
        self.put()

    def list_(self, items) -> None:
        self.w(b"]")  # EMPTY_LIST
        self.put()
        items = list(items)
        for i in range(0, len(items), 1000):  # cPickle batches APPENDS by 1000
            self.w(b"(")
            for v in items[i:i + 1000]:
                self.obj(v)
            self.w(b"e")

    def dict_(self, d: dict) -> None:
        self.w(b"}")  # EMPTY_DICT
        self.put()
        items = list(d.items())
        for i in range(0, len(items), 1000):
            self.w(b"(")
            for k, v in items[i:i + 1000]:
                self.obj(k)
                self.obj(v)
            self.w(b"u")  # SETITEMS

    def obj(self, v) -> None:
        if isinstance(v, bool):
            self.w(b"\x88" if v else b"\x89")
        elif isinstance(v, (int, np.integer)):
            self.int_(int(v))
        elif isinstance(v, bytes):
            self.str_(v)
        elif isinstance(v, str):
            self.str_(v.encode())  # a Python 2 str
        elif isinstance(v, np.ndarray):
            self.ndarray(v)
        elif isinstance(v, tuple):
            self.tuple_(v)
        elif isinstance(v, list):
            self.list_(v)
        elif isinstance(v, dict):
            self.dict_(v)
        elif v is None:
            self.w(b"N")
        else:
            raise TypeError(f"cannot pickle {type(v).__name__}")

    def dumps(self, v) -> bytes:
        self.w(b"\x80\x02")  # PROTO 2
        self.obj(v)
        self.w(b".")  # STOP
        return self.out.getvalue()


def py2_dumps(obj) -> bytes:
    """Pickle `obj` (dicts, lists, tuples, ints, bytes/str, uint8/int arrays) as Python 2 did."""
    return _Py2Pickle().dumps(obj)


# --------------------------------------------------------------------------- the archive

def _labels(ds: Dataset, y) -> dict:
    """A batch's label entries: the layout's label key, and for CIFAR-100's fine labels the
    coarse ones its archive holds beside them (a stand-in's: fine label // 5, 20 groups)."""
    out = {ds.layout.label_key.encode(): [int(v) for v in y]}
    if ds.layout.label_key == "fine_labels":
        out[b"coarse_labels"] = [int(v) // 5 for v in y]
    return out


def archive_members(x_train_hwc, y_train, x_test_hwc, y_test,
                    dataset: Dataset | str | None = None) -> list[tuple[str, dict]]:
    """The official archive's pickled members as (name, dict) in archive order, for `dataset`
    (default CIFAR-10): the layout's training batches (CIFAR-10: five class-mixed batches, the
    `numpy.array_split` of the training images; CIFAR-100: one, `train`), its test batch and its
    meta member."""
    ds = dataset if isinstance(dataset, Dataset) else get_dataset(dataset)
    names, layout = ds.class_names, ds.layout
    rows_train, rows_test = to_rows(x_train_hwc), to_rows(x_test_hwc)
    n_batches = len(layout.train_members)
    batches = np.array_split(np.arange(len(y_train)), n_batches)
    members: list[tuple[str, dict]] = []
    for b, (member, idx) in enumerate(zip(layout.train_members, batches), start=1):
        members.append((member, {
            b"batch_label": f"training batch {b} of {n_batches}".encode(),
            **_labels(ds, y_train[idx]),
            b"data": rows_train[idx],
            b"filenames": [f"{names[y]}_s_{b:01d}{i:05d}.png".encode() for i, y in zip(idx, y_train[idx])],
        }))
    members.append((layout.test_member, {
        b"batch_label": b"testing batch 1 of 1",
        **_labels(ds, y_test),
        b"data": rows_test,
        b"filenames": [f"{names[y]}_t_{i:05d}.png".encode() for i, y in enumerate(y_test)],
    }))
    meta = {layout.names_key.encode(): [c.encode() for c in names]}
    if layout.names_key == "fine_label_names":
        meta[b"coarse_label_names"] = [f"group_{g:02d}".encode() for g in range((len(names) + 4) // 5)]
    else:
        meta.update({b"num_cases_per_batch": len(batches[0]), b"num_vis": int(np.prod(ds.image_shape))})
    members.append((layout.meta_member, meta))
    return members


# readme.html of a synthetic archive: SYNTHETIC_MARK in it marks the data synthetic when read
README_HTML = b"<html>synthetic stand-in for CIFAR-10 (" + SYNTHETIC_MARK + b")</html>\n"


def readme_html(dataset: Dataset | str | None = None, synthetic: bool = True, note: str = "") -> bytes:
    """readme.html for a written archive: with the mark of synthetic data when `synthetic`
    (CIFAR-10's synthetic one is README_HTML, byte for byte)."""
    ds = dataset if isinstance(dataset, Dataset) else get_dataset(dataset)
    if synthetic and not note and ds.name == "cifar10":
        return README_HTML
    text = note or f"stand-in for {ds.label}"
    body = text.encode() + ((b" (" + SYNTHETIC_MARK + b")") if synthetic else b"")
    return b"<html>" + body + b"</html>\n"


def add_member(tar: tarfile.TarFile, name: str, payload: bytes = b"", type_=tarfile.REGTYPE,
               linkname: str = "") -> None:
    """Add one member with fixed metadata (mtime 0, mode 644, no owner names)."""
    info = tarfile.TarInfo(name)
    info.type = type_
    info.mtime, info.mode = 0, 0o644
    info.uname = info.gname = ""
    info.linkname = linkname
    if type_ in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        info.devmajor, info.devminor = 1, 3
    if type_ == tarfile.REGTYPE:
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    else:
        tar.addfile(info)


def write_archive(path, payloads: Iterable[tuple[str, bytes]],
                  extra: Callable[[tarfile.TarFile], None] | None = None,
                  directory: str = ARCHIVE_DIR) -> str:
    """Write a gzip-compressed tar of `<directory>/<name>` members (name, bytes; directory:
    CIFAR-10's `cifar-10-batches-py` unless given, a dataset's is `Dataset.layout.directory`),
    then whatever `extra(tar)` adds; atomically, byte-for-byte deterministic. Returns the md5."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, payload in payloads:
            add_member(tar, f"{directory}/{name}", payload)
        if extra is not None:
            extra(tar)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f, gzip.GzipFile(fileobj=f, mode="wb", mtime=0, filename="") as gz:
            gz.write(raw.getvalue())
        md5 = hashlib.md5(tmp.read_bytes(), usedforsecurity=False).hexdigest()
    return md5



def write_dataset_archive(path, x_train_hwc, y_train, x_test_hwc, y_test,
                          dataset: Dataset | str | None = None, *, synthetic: bool = True,
                          note: str = "") -> str:
    """Write `dataset`'s archive (official layout, Python 2 pickles, readme.html: with the mark
    of synthetic data unless `synthetic` is False, `note` its text) holding these images (uint8
    (N, H, W, C)) and labels; atomically, deterministic. Returns the md5."""
    ds = dataset if isinstance(dataset, Dataset) else get_dataset(dataset)
    members = archive_members(x_train_hwc, y_train, x_test_hwc, y_test, ds)
    payloads = [*((name, py2_dumps(obj)) for name, obj in members),
                ("readme.html", readme_html(ds, synthetic, note))]
    return write_archive(path, payloads, directory=ds.layout.directory)
