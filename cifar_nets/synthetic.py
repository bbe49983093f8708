"""A small synthetic CIFAR-10 archive in the official "python version" format, to see the
pipeline work with no archive at hand (and the archive every test builds).

    python -m cifar_nets.synthetic OUT_DIR [--per-class-train N] [--per-class-test M]

writes `OUT_DIR/cifar-10-synthetic.tar.gz` and `OUT_DIR/synthetic.yaml`, a config file that
points the workflow at it (`data.source` as an absolute path, its md5, its image counts, every
image used, and `data.synthetic: true`, so the report and the summaries say that their numbers
mean nothing):

    snakemake --cores 2 --configfile config/smoke.yaml OUT_DIR/synthetic.yaml

The archive has the official layout (`cifar-10-batches-py/data_batch_1..5`, `test_batch`,
`batches.meta`, `readme.html`, gzip-compressed tar) with pickles in the format Python 2's
cPickle wrote them: protocol 2, dict keys and byte buffers as `str` (SHORT_BINSTRING /
BINSTRING), numpy arrays through the globals `numpy.core.multiarray _reconstruct`, `numpy
ndarray` and `numpy dtype` with REDUCE + BUILD, memo puts numbered from 1. The pickler below
emits those opcodes by hand, so nothing depends on how the running numpy or Python would pickle.

Images are procedural: each class has its own colour and stripe pattern, plus seeded noise, so
a tiny CNN beats chance; they look nothing like photographs. Two probe pixels are set in the
first training image (see PROBES) so tests can check that the R, G, B planes and rows/columns
land where they should. The content and the bytes are a deterministic function of the
arguments (gzip mtime 0, tar mtimes 0).
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import os
import struct
import sys
import tarfile
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from .io import atomic_path, write_text

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
ARCHIVE_DIR = "cifar-10-batches-py"
ARCHIVE_NAME = "cifar-10-synthetic.tar.gz"
CONFIG_NAME = "synthetic.yaml"
LABEL = "synthetic (random) images - numbers mean nothing"
# The defaults make as many images as config/smoke.yaml uses (5,000 training, 1,000 test).
DEFAULT_PER_CLASS_TRAIN = 500
DEFAULT_PER_CLASS_TEST = 100
MAX_PER_CLASS = 6000  # CIFAR-10's own size: 6,000 images per class in all

# (row, col) -> (R, G, B) in training image 0 (first row of data_batch_1). Row/col asymmetric so a
# transposed reader fails.
PROBES = {(3, 7): (11, 22, 33), (7, 3): (44, 55, 66)}

# One colour per class (R, G, B) and one stripe (orientation, period).
_PALETTE = np.array([
    (200, 40, 40), (40, 200, 40), (40, 40, 200), (200, 200, 40), (200, 40, 200),
    (40, 200, 200), (230, 130, 30), (120, 60, 200), (128, 128, 128), (30, 30, 30),
], dtype=np.float64)
_STRIPES = [("h", 4), ("v", 4), ("h", 8), ("v", 8), ("d", 4), ("d", 8), ("h", 2), ("v", 2), ("d", 2), ("a", 6)]


# --------------------------------------------------------------------------- images

def _class_image(c: int, rng: np.random.Generator) -> np.ndarray:
    """One 32x32x3 (row, col, channel) uint8 image of class c."""
    rows, cols = np.mgrid[0:32, 0:32]
    kind, period = _STRIPES[c]
    phase = rng.integers(0, period)
    coord = {"h": rows, "v": cols, "d": rows + cols, "a": rows - cols + 64}[kind] + phase
    stripe = np.where((coord // max(period // 2, 1)) % 2 == 0, 45.0, -45.0)
    img = _PALETTE[c][None, None, :] + stripe[:, :, None] + rng.normal(0.0, 25.0, size=(32, 32, 3))
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def synthetic_arrays(per_class_train: int = 10, per_class_test: int = 2, seed: int = 0):
    """The images an archive from `write_cifar_archive` with these arguments holds, in reading order.

    Returns (x_train_hwc, y_train, x_test_hwc, y_test): images as uint8 (N, 32, 32, 3), i.e.
    (row, col, channel); a correct reader returns x[i, c, row, col] == x_hwc[i, row, col, c].
    Train is data_batch_1..5 concatenated (class-mixed order), test is class-mixed too.
    """
    rng = np.random.default_rng(seed)
    out = []
    for per_class in (per_class_train, per_class_test):
        labels = np.repeat(np.arange(len(CLASSES)), per_class)
        labels = labels[rng.permutation(len(labels))]
        images = np.stack([_class_image(int(c), rng) for c in labels]) if len(labels) else \
            np.zeros((0, 32, 32, 3), np.uint8)
        out += [images, labels.astype(np.int64)]
    x_train, y_train, x_test, y_test = out
    if len(x_train):
        for (r, c), rgb in PROBES.items():
            x_train[0, r, c, :] = rgb
    return x_train, y_train, x_test, y_test


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


README_HTML = b"<html>synthetic stand-in for CIFAR-10 (cifar_nets.synthetic)</html>\n"


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


def write_cifar_archive(path, per_class_train: int = 10, per_class_test: int = 2, seed: int = 0) -> str:
    """Write a synthetic CIFAR-10 python-version archive to `path` and return its md5: 10 x
    `per_class_train` training images in five class-mixed batches, 10 x `per_class_test` test
    images (see `synthetic_arrays`)."""
    members = archive_members(*synthetic_arrays(per_class_train, per_class_test, seed))
    return write_archive(path, [*((name, py2_dumps(obj)) for name, obj in members),
                                ("readme.html", README_HTML)])


def config_text(source: str, md5: str, train_images: int, test_images: int) -> str:
    """synthetic.yaml: the data section that points the workflow at a synthetic archive."""
    import yaml  # noqa: PLC0415

    data = {"source": source, "md5": md5, "label": LABEL, "train_images": train_images,
            "test_images": test_images, "use_train_images": "all", "use_test_images": "all",
            "synthetic": True}
    return ("# Written by python -m cifar_nets.synthetic: a synthetic archive of random images in the\n"
            "# official CIFAR-10 format. The report says that its numbers mean nothing. Use it after\n"
            "# a preset, after one --configfile (a second flag would drop the first file), e.g.\n"
            "# snakemake --cores 2 --configfile config/smoke.yaml <this file>\n"
            + yaml.safe_dump({"data": data}, sort_keys=False))


def write_synthetic(out_dir, per_class_train: int = DEFAULT_PER_CLASS_TRAIN,
                    per_class_test: int = DEFAULT_PER_CLASS_TEST) -> tuple[Path, Path]:
    """Write OUT_DIR/cifar-10-synthetic.tar.gz and OUT_DIR/synthetic.yaml; return their paths."""
    for name, n in (("per_class_train", per_class_train), ("per_class_test", per_class_test)):
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_PER_CLASS:
            raise ValueError(f"{name} must be an integer from 1 to {MAX_PER_CLASS}, got {n!r}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out}: exists and is not a folder")
    archive = out / ARCHIVE_NAME
    md5 = write_cifar_archive(archive, per_class_train, per_class_test)
    cfg = out / CONFIG_NAME
    write_text(cfg, config_text(str(archive.resolve()), md5, 10 * per_class_train, 10 * per_class_test))
    return archive, cfg


class _Parser(argparse.ArgumentParser):
    """argparse, but every error is one line (no usage block) and exit code 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 1 <= n <= MAX_PER_CLASS:
        raise argparse.ArgumentTypeError(f"{n} is not from 1 to {MAX_PER_CLASS}")
    return n


def main(argv=None) -> int:
    p = _Parser(
        prog="python -m cifar_nets.synthetic",
        description="Write a small synthetic CIFAR-10 archive (random images, official format) and "
                    "a config file for it, to see the workflow run offline. Its numbers mean nothing.")
    p.add_argument("out_dir", metavar="OUT_DIR",
                   help=f"folder for {ARCHIVE_NAME} and {CONFIG_NAME} (created if missing)")
    p.add_argument("--per-class-train", type=_positive, default=DEFAULT_PER_CLASS_TRAIN, metavar="N",
                   help=f"training images per class (default {DEFAULT_PER_CLASS_TRAIN}: the "
                        f"{10 * DEFAULT_PER_CLASS_TRAIN} config/smoke.yaml uses)")
    p.add_argument("--per-class-test", type=_positive, default=DEFAULT_PER_CLASS_TEST, metavar="M",
                   help=f"test images per class (default {DEFAULT_PER_CLASS_TEST})")
    args = p.parse_args(argv)
    try:
        archive, cfg = write_synthetic(args.out_dir, args.per_class_train, args.per_class_test)
    except (ValueError, OSError) as e:
        msg = f"{e.filename}: {e.strerror}" if isinstance(e, OSError) and e.filename else str(e)
        print(f"python -m cifar_nets.synthetic: error: {msg}", file=sys.stderr)
        return 2
    print(f"wrote {archive} ({10 * args.per_class_train} training / {10 * args.per_class_test} test "
          f"images) and {cfg}; run it with:\n"
          f"  snakemake --cores 2 --configfile config/smoke.yaml {os.path.relpath(cfg)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
