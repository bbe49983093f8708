"""Write a CIFAR-10 archive in the official "python version" format: the inverse of
`cifar_nets.data.archive`, used by `cifar_nets.data.synthetic` and by the tests' tampered archives.

The archive has the official layout (`cifar-10-batches-py/data_batch_1..5`, `test_batch`,
`batches.meta`, `readme.html`, gzip-compressed tar) with pickles in the format Python 2's
cPickle wrote them: protocol 2, dict keys and byte buffers as `str` (SHORT_BINSTRING /
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
from cifar_nets.io import atomic_path

# CIFAR-10's class names, in label order (batches.meta's label_names)
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def to_rows(x_hwc: np.ndarray) -> np.ndarray:
    """(N, 32, 32, 3) images -> (N, 3072) rows: R plane, G plane, B plane, each row-major."""
    return np.ascontiguousarray(x_hwc.transpose(0, 3, 1, 2).reshape(len(x_hwc), 3 * 32 * 32))


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

def archive_members(x_train_hwc, y_train, x_test_hwc, y_test) -> list[tuple[str, dict]]:
    """The official archive's pickled members as (name, dict) in archive order: five class-mixed
    training batches (`numpy.array_split` of the training images), `test_batch`, `batches.meta`."""
    rows_train, rows_test = to_rows(x_train_hwc), to_rows(x_test_hwc)
    batches = np.array_split(np.arange(len(y_train)), 5)
    members: list[tuple[str, dict]] = []
    for b, idx in enumerate(batches, start=1):
        members.append((f"data_batch_{b}", {
            b"batch_label": f"training batch {b} of 5".encode(),
            b"labels": [int(v) for v in y_train[idx]],
            b"data": rows_train[idx],
            b"filenames": [f"{CLASSES[y]}_s_{b:01d}{i:05d}.png".encode() for i, y in zip(idx, y_train[idx])],
        }))
    members.append(("test_batch", {
        b"batch_label": b"testing batch 1 of 1",
        b"labels": [int(v) for v in y_test],
        b"data": rows_test,
        b"filenames": [f"{CLASSES[y]}_t_{i:05d}.png".encode() for i, y in enumerate(y_test)],
    }))
    members.append(("batches.meta", {
        b"num_cases_per_batch": len(batches[0]),
        b"label_names": [c.encode() for c in CLASSES],
        b"num_vis": 3072,
    }))
    return members


# readme.html of a synthetic archive: SYNTHETIC_MARK in it marks the data synthetic when read
README_HTML = b"<html>synthetic stand-in for CIFAR-10 (" + SYNTHETIC_MARK + b")</html>\n"


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
                  extra: Callable[[tarfile.TarFile], None] | None = None) -> str:
    """Write a gzip-compressed tar of `cifar-10-batches-py/<name>` members (name, bytes), then
    whatever `extra(tar)` adds; atomically, byte-for-byte deterministic. Returns the md5."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, payload in payloads:
            add_member(tar, f"{ARCHIVE_DIR}/{name}", payload)
        if extra is not None:
            extra(tar)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f, gzip.GzipFile(fileobj=f, mode="wb", mtime=0, filename="") as gz:
            gz.write(raw.getvalue())
        md5 = hashlib.md5(tmp.read_bytes(), usedforsecurity=False).hexdigest()
    return md5

