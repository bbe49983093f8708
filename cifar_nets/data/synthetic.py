"""A small synthetic CIFAR-10 archive in the official "python version" format, to see the
pipeline work with no archive at hand (and the archive every test builds).

    python -m cifar_nets.data.synthetic OUT_DIR [--per-class-train N] [--per-class-test M]

writes `OUT_DIR/cifar-10-synthetic.tar.gz` and `OUT_DIR/synthetic.yaml`, a config file that
points the workflow at it (`data.source` as an absolute path, its md5, its image counts, every
image used, and `data.synthetic: true`). The archive marks itself synthetic (its readme.html
holds cifar_nets.data.archive.SYNTHETIC_MARK), so the report, the summary tables and the figures say
that their numbers mean nothing whatever the config says:

    snakemake --cores 2 --configfile config/smoke.yaml OUT_DIR/synthetic.yaml

Images are procedural: each class has its own colour and stripe pattern, plus seeded noise, so
a tiny CNN beats chance; they look nothing like photographs. Two probe pixels are set in the
first training image (see PROBES) so tests can check that the R, G, B planes and rows/columns
land where they should. The archive itself (layout, Python 2 pickles, deterministic bytes) is
written by `cifar_nets.data.archive_writer`; the content and the bytes are a deterministic function of
the arguments.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from cifar_nets.data.archive_writer import CLASSES, README_HTML, archive_members, py2_dumps, write_archive
from cifar_nets.cli import OneLineParser, int_in
from cifar_nets.io import write_text

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


# --------------------------------------------------------------------------- the archive and its config

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
    return ("# Written by python -m cifar_nets.data.synthetic: a synthetic archive of random images in the\n"
            "# official CIFAR-10 format. The report says that its numbers mean nothing. Use it after\n"
            "# a preset, after one --configfile (a second --configfile flag stops the run), e.g.\n"
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


def main(argv=None) -> int:
    p = OneLineParser(
        prog="python -m cifar_nets.data.synthetic",
        description="Write a small synthetic CIFAR-10 archive (random images, official format) and "
                    "a config file for it, to see the workflow run offline. Its numbers mean nothing.")
    p.add_argument("out_dir", metavar="OUT_DIR",
                   help=f"folder for {ARCHIVE_NAME} and {CONFIG_NAME} (created if missing)")
    p.add_argument("--per-class-train", type=int_in(1, MAX_PER_CLASS), default=DEFAULT_PER_CLASS_TRAIN, metavar="N",
                   help=f"training images per class (default {DEFAULT_PER_CLASS_TRAIN}: the "
                        f"{10 * DEFAULT_PER_CLASS_TRAIN} config/smoke.yaml uses)")
    p.add_argument("--per-class-test", type=int_in(1, MAX_PER_CLASS), default=DEFAULT_PER_CLASS_TEST, metavar="M",
                   help=f"test images per class (default {DEFAULT_PER_CLASS_TEST})")
    args = p.parse_args(argv)
    try:
        archive, cfg = write_synthetic(args.out_dir, args.per_class_train, args.per_class_test)
    except (ValueError, OSError) as e:
        msg = f"{e.filename}: {e.strerror}" if isinstance(e, OSError) and e.filename else str(e)
        print(f"python -m cifar_nets.data.synthetic: error: {msg}", file=sys.stderr)
        return 2
    print(f"wrote {archive} ({10 * args.per_class_train} training / {10 * args.per_class_test} test "
          f"images) and {cfg}; run it with:\n"
          f"  snakemake --cores 2 --configfile config/smoke.yaml {os.path.relpath(cfg)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
