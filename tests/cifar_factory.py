"""Build small but real CIFAR-10 "python version" archives for tests, optionally tampered with.

The archive writer itself is the package's (`cifar_nets.data.archive_writer`: the official layout,
pickles written opcode by opcode as Python 2's cPickle did; `cifar_nets.data.synthetic`: learnable
procedural images, two probe pixels in the first training image); this module adds the tampering the data tests need and
keeps the names the tests import (`write_cifar_archive`, `expected_arrays`, `to_rows`,
`py2_dumps`, `malicious_pickle`, `CLASSES`, `PROBES`).

Also used by the end-to-end workflow test, so keep the signatures stable.
"""
from __future__ import annotations

import struct
import tarfile

import numpy as np

from cifar_nets.data.archive_writer import (  # noqa: F401 - re-exported for the tests
    ARCHIVE_DIR,
    CLASSES,
    README_HTML,
    add_member,
    archive_members,
    py2_dumps,
    to_rows,
    write_archive,
)
from cifar_nets.data.synthetic import PROBES  # noqa: F401
from cifar_nets.data.synthetic import synthetic_arrays as expected_arrays  # noqa: F401


def malicious_pickle(command: str, module: str = "os", name: str = "system") -> bytes:
    """A protocol-2 pickle that, if loaded by an unrestricted unpickler, calls module.name(command).

    Only bytes are built here; nothing is executed.
    """
    cmd = command.encode()
    return (b"\x80\x02" + b"c" + module.encode() + b"\n" + name.encode() + b"\n"
            + b"X" + struct.pack("<I", len(cmd)) + cmd  # BINUNICODE
            + b"\x85R.")  # TUPLE1, REDUCE, STOP


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

    members = archive_members(*expected_arrays(per_class_train, per_class_test, seed))
    batch1 = members[0][1]
    if tamper.get("bad_labels"):
        batch1[b"labels"][0] = 10
    if tamper.get("bad_label_count"):
        batch1[b"labels"] = batch1[b"labels"][:-1]
    if tamper.get("bad_shape"):
        batch1[b"data"] = np.ascontiguousarray(batch1[b"data"][:, :-1])
    if tamper.get("bad_dtype"):
        batch1[b"data"] = batch1[b"data"].astype(np.int16)
    if tamper.get("bad_meta"):
        members[-1][1][b"label_names"] = members[-1][1][b"label_names"][:9]

    drop = tamper.get("drop_member") or ()
    drop = {drop} if isinstance(drop, str) else set(drop)
    replace = {}
    if "pickle_payload" in tamper:
        member, payload = tamper["pickle_payload"]
        replace[member] = payload
    payloads = [(name, replace[name] if name in replace else py2_dumps(obj))
                for name, obj in members if name not in drop]
    if "readme.html" not in drop:
        payloads.append(("readme.html", README_HTML))

    def extra(tar: tarfile.TarFile) -> None:
        if "extra_member" in tamper:
            add_member(tar, *_entry(tamper["extra_member"]))
        if "absolute_member" in tamper:
            add_member(tar, *_entry(tamper["absolute_member"]))
        if "symlink_member" in tamper:
            name, target = _entry(tamper["symlink_member"], "/etc/passwd")
            add_member(tar, name, type_=tarfile.SYMTYPE, linkname=target)
        if "hardlink_member" in tamper:
            name, target = _entry(tamper["hardlink_member"], f"{ARCHIVE_DIR}/readme.html")
            add_member(tar, name, type_=tarfile.LNKTYPE, linkname=target)
        if "fifo_member" in tamper:
            add_member(tar, tamper["fifo_member"], type_=tarfile.FIFOTYPE)
        if "device_member" in tamper:
            add_member(tar, tamper["device_member"], type_=tarfile.CHRTYPE)

    return write_archive(path, payloads, extra)


def cifar100_arrays(per_class_train: int = 2, per_class_test: int = 1, seed: int = 0, n_classes: int = 100):
    """Random images for a CIFAR-100-format archive: (x_train_hwc, y_train, x_test_hwc, y_test),
    the classes in turn (0, 1, ..., 99, 0, 1, ...), a deterministic function of the arguments."""
    rng = np.random.default_rng(seed)
    y_train = np.tile(np.arange(n_classes), per_class_train).astype(np.int64)
    y_test = np.tile(np.arange(n_classes), per_class_test).astype(np.int64)
    x_train = rng.integers(0, 256, size=(len(y_train), 32, 32, 3), dtype=np.uint8)
    x_test = rng.integers(0, 256, size=(len(y_test), 32, 32, 3), dtype=np.uint8)
    return x_train, y_train, x_test, y_test


def write_cifar100_archive(path, per_class_train: int = 2, per_class_test: int = 1, seed: int = 0, *,
                           tamper: dict | None = None) -> str:
    """A CIFAR-100 python-version archive (cifar-100-python/train, test, meta; fine and coarse
    labels; readme.html with the mark of synthetic data) of `cifar100_arrays`; returns its md5.

    tamper: bad_labels: True (train's first fine label becomes 100), bad_meta: True (99 fine
    label names), drop_member: name (e.g. "meta")."""
    from cifar_nets.data.archive_writer import readme_html
    from cifar_nets.data.dataset import get_dataset

    tamper = dict(tamper or {})
    unknown = set(tamper) - {"bad_labels", "bad_meta", "drop_member"}
    if unknown:
        raise ValueError(f"unknown tamper options {sorted(unknown)}")
    ds = get_dataset("cifar100")
    members = archive_members(*cifar100_arrays(per_class_train, per_class_test, seed), ds)
    if tamper.get("bad_labels"):
        members[0][1][b"fine_labels"][0] = 100
    if tamper.get("bad_meta"):
        members[-1][1][b"fine_label_names"] = members[-1][1][b"fine_label_names"][:99]
    payloads = [(name, py2_dumps(obj)) for name, obj in members if name != tamper.get("drop_member")]
    payloads.append(("readme.html", readme_html(ds)))
    return write_archive(path, payloads, directory=ds.layout.directory)
