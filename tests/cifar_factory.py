"""Build small but real CIFAR-10 "python version" archives for tests, optionally tampered with.

`write_cifar_archive` writes the official layout (`cifar-10-batches-py/data_batch_1..5`,
`test_batch`, `batches.meta`, `readme.html`, gzip-compressed tar) with pickles in the format
Python 2's cPickle wrote them: protocol 2, dict keys and byte buffers as `str`
(SHORT_BINSTRING / BINSTRING), numpy arrays through the globals `numpy.core.multiarray
_reconstruct`, `numpy ndarray` and `numpy dtype` with REDUCE + BUILD, memo puts numbered from 1.
The pickler below emits those opcodes by hand, so nothing here depends on how the running numpy
or Python would pickle.

Images are learnable: each class has its own colour and stripe pattern, plus noise, so a tiny
CNN beats chance. Two probe pixels are set in the first training image (see PROBES) so tests
can check that the R, G, B planes and rows/columns land where they should.

Also used by the end-to-end workflow test, so keep the signatures stable.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import struct
import tarfile
from pathlib import Path

import numpy as np

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
ARCHIVE_DIR = "cifar-10-batches-py"

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


def expected_arrays(per_class_train: int = 10, per_class_test: int = 2, seed: int = 0):
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


def malicious_pickle(command: str, module: str = "os", name: str = "system") -> bytes:
    """A protocol-2 pickle that, if loaded by an unrestricted unpickler, calls module.name(command).

    Only bytes are built here; nothing is executed.
    """
    cmd = command.encode()
    return (b"\x80\x02" + b"c" + module.encode() + b"\n" + name.encode() + b"\n"
            + b"X" + struct.pack("<I", len(cmd)) + cmd  # BINUNICODE
            + b"\x85R.")  # TUPLE1, REDUCE, STOP


# --------------------------------------------------------------------------- the archive

def _add(tar: tarfile.TarFile, name: str, payload: bytes = b"", type_=tarfile.REGTYPE, linkname: str = "") -> None:
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


def _entry(name, default_payload=b"x"):
    """tamper value -> (name, payload): accepts a bare name or a (name, payload) pair."""
    if isinstance(name, (tuple, list)):
        return name[0], name[1]
    return name, default_payload


def write_cifar_archive(path, per_class_train: int = 10, per_class_test: int = 2, seed: int = 0, *,
                        tamper: dict | None = None) -> str:
    """Write a CIFAR-10 python-version archive to `path` and return its md5.

    With per_class_train=10 there are 100 training images in five class-mixed batches of 20 and
    20 test images. The content is a deterministic function of the arguments (see
    `expected_arrays`), and so are the bytes (gzip mtime 0, tar mtimes 0).

    tamper (all optional, combinable):
      extra_member:   (name, bytes)     add a regular member with exactly this name (e.g. "../evil")
      absolute_member: name or (name, bytes)   add a regular member with an absolute name
      symlink_member: name or (name, target)   add a symlink member (default target /etc/passwd)
      hardlink_member: name or (name, target)  add a hardlink member
      fifo_member / device_member: name        add a fifo / character-device member
      pickle_payload: (member, bytes)   replace member's pickle (e.g. "data_batch_1") with raw bytes
      bad_labels: True                  data_batch_1's first label becomes 10 (out of range)
      bad_label_count: True             data_batch_1 has one label fewer than images
      bad_shape: True                   data_batch_1's data has 3071 columns instead of 3072
      bad_dtype: True                   data_batch_1's data is int16 instead of uint8
      bad_meta: True                    batches.meta lists 9 label names instead of 10
      drop_member: name or list         leave out these members (e.g. "test_batch")
    """
    tamper = dict(tamper or {})
    known = {"extra_member", "absolute_member", "symlink_member", "hardlink_member", "fifo_member",
             "device_member", "pickle_payload", "bad_labels", "bad_label_count", "bad_shape",
             "bad_dtype", "bad_meta", "drop_member"}
    unknown = set(tamper) - known
    if unknown:
        raise ValueError(f"unknown tamper options {sorted(unknown)}")

    x_train, y_train, x_test, y_test = expected_arrays(per_class_train, per_class_test, seed)
    rows_train, rows_test = to_rows(x_train), to_rows(x_test)
    batches = np.array_split(np.arange(len(y_train)), 5)

    members: list[tuple[str, dict]] = []
    for b, idx in enumerate(batches, start=1):
        data = rows_train[idx]
        labels = [int(v) for v in y_train[idx]]
        if b == 1:
            if tamper.get("bad_labels"):
                labels[0] = 10
            if tamper.get("bad_label_count"):
                labels = labels[:-1]
            if tamper.get("bad_shape"):
                data = np.ascontiguousarray(data[:, :-1])
            if tamper.get("bad_dtype"):
                data = data.astype(np.int16)
        members.append((f"data_batch_{b}", {
            b"batch_label": f"training batch {b} of 5".encode(),
            b"labels": labels,
            b"data": data,
            b"filenames": [f"{CLASSES[y]}_s_{b:01d}{i:05d}.png".encode() for i, y in zip(idx, y_train[idx])],
        }))
    members.append(("test_batch", {
        b"batch_label": b"testing batch 1 of 1",
        b"labels": [int(v) for v in y_test],
        b"data": rows_test,
        b"filenames": [f"{CLASSES[y]}_t_{i:05d}.png".encode() for i, y in enumerate(y_test)],
    }))
    names = [c.encode() for c in CLASSES]
    members.append(("batches.meta", {
        b"num_cases_per_batch": len(batches[0]),
        b"label_names": names[:9] if tamper.get("bad_meta") else names,
        b"num_vis": 3072,
    }))

    drop = tamper.get("drop_member") or ()
    drop = {drop} if isinstance(drop, str) else set(drop)
    replace = {}
    if "pickle_payload" in tamper:
        member, payload = tamper["pickle_payload"]
        replace[member] = payload

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, obj in members:
            if name in drop:
                continue
            payload = replace.get(name) if name in replace else py2_dumps(obj)
            _add(tar, f"{ARCHIVE_DIR}/{name}", payload)
        if "readme.html" not in drop:
            _add(tar, f"{ARCHIVE_DIR}/readme.html", b"<html>test stand-in for CIFAR-10</html>\n")
        if "extra_member" in tamper:
            _add(tar, *_entry(tamper["extra_member"]))
        if "absolute_member" in tamper:
            _add(tar, *_entry(tamper["absolute_member"]))
        if "symlink_member" in tamper:
            name, target = _entry(tamper["symlink_member"], "/etc/passwd")
            _add(tar, name, type_=tarfile.SYMTYPE, linkname=target)
        if "hardlink_member" in tamper:
            name, target = _entry(tamper["hardlink_member"], f"{ARCHIVE_DIR}/readme.html")
            _add(tar, name, type_=tarfile.LNKTYPE, linkname=target)
        if "fifo_member" in tamper:
            _add(tar, tamper["fifo_member"], type_=tarfile.FIFOTYPE)
        if "device_member" in tamper:
            _add(tar, tamper["device_member"], type_=tarfile.CHRTYPE)

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f, gzip.GzipFile(fileobj=f, mode="wb", mtime=0, filename="") as gz:
        gz.write(raw.getvalue())
    return hashlib.md5(path.read_bytes()).hexdigest()
