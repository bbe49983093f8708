#!/usr/bin/env python3
"""Write a CIFAR-100-FORMAT stand-in archive from the stand-in (JPEG) CIFAR-10 images: NOT CIFAR-100.

No CIFAR-100 data can be fetched on these machines (no internet). To run the study on a
100-class dataset in CIFAR-100's official "python version" format all the same, this builds
100 fine classes as the 10 CIFAR-10 classes x 10 fixed, learnable image transforms (TRANSFORMS:
rotations, channel swaps, inversion, grey). Source image i of a CIFAR-10 class gets transform
i % 10, so no image appears in two fine classes; the fine label is 10 * class + transform, the
name "<class>_<transform>". None of the transforms is a horizontal flip, or made one by it, so
the modern recipe's random flip never turns one fine class into another.

The archive is written by the package's writer (cifar_nets.data.archive_writer, the CIFAR-100
layout of cifar_nets/data/sets/cifar100.py: cifar-100-python/train, test, meta) and read by the
study like the official one (`data.dataset: cifar100`). Its readme.html says what it is.

    python scripts/make_cifar100_standin.py OUT_DIR [--jpeg ../shared/data/cifar10-jpeg.tar.gz]
        [--per-class N] [--test-per-class M] [--use-train-images K] [--use-test-images L]

writes OUT_DIR/cifar-100-standin.tar.gz and OUT_DIR/cifar100-standin.yaml, the `data` config
that points the study at it (data.dataset cifar100, the archive as an absolute path, its md5 and
image counts, the label that says what it is; --use-*-images: data.use_train_images /
use_test_images, default all):

    snakemake --cores 2 --configfile OUT_DIR/cifar100-standin.yaml

--per-class N: the first N training JPEGs of each CIFAR-10 class (N/10 per fine class; default
all 5,000), --test-per-class M likewise (default all 1,000). Deterministic bytes.
"""
from __future__ import annotations

import io
import sys
import tarfile
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cifar_nets.cli import OneLineParser, int_in  # noqa: E402
from cifar_nets.data.archive_writer import write_dataset_archive  # noqa: E402
from cifar_nets.data.dataset import Dataset, get_dataset  # noqa: E402
from cifar_nets.io import write_text  # noqa: E402

DEFAULT_JPEG = ROOT.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"


def _grey(x):
    g = np.rint(x.astype(np.float64) @ np.array([0.299, 0.587, 0.114])).astype(np.uint8)
    return np.repeat(g[..., None], 3, axis=-1)


# name -> transform of one (H, W, 3) uint8 image
TRANSFORMS = {
    "plain": lambda x: x,
    "rot90": lambda x: np.rot90(x, 1),
    "rot180": lambda x: np.rot90(x, 2),
    "rot270": lambda x: np.rot90(x, 3),
    "bgr": lambda x: x[..., ::-1],
    "gbr": lambda x: x[..., [1, 2, 0]],
    "inverted": lambda x: 255 - x,
    "grey": _grey,
    "inverted_rot180": lambda x: 255 - np.rot90(x, 2),
    "bgr_rot90": lambda x: np.rot90(x, 1)[..., ::-1],
}


def standin_dataset(cifar10: Dataset, cifar100: Dataset) -> Dataset:
    """CIFAR-100's layout with the stand-in's 100 class names, 10 * class + transform."""
    import dataclasses  # noqa: PLC0415
    names = tuple(f"{c}_{t}" for c in cifar10.class_names for t in TRANSFORMS)
    return dataclasses.replace(cifar100, class_names=names)


def read_jpegs(path, classes, per_class: int | None, test_per_class: int | None):
    """{split: (images (N, 32, 32, 3) uint8, CIFAR-10 labels, index within class)} in class order."""
    from PIL import Image  # noqa: PLC0415
    found = {"train": {c: [] for c in classes}, "test": {c: [] for c in classes}}
    with tarfile.open(path) as tar:
        for m in tar:
            if m.isfile() and m.name.endswith(".jpg"):
                split, cls, fname = m.name.split("/")[-3:]
                found[split][cls].append((fname, tar.extractfile(m).read()))
    out = {}
    for split, limit in (("train", per_class), ("test", test_per_class)):
        xs, ys, ranks = [], [], []
        for ci, cls in enumerate(classes):
            files = sorted(found[split][cls])[:limit] if limit else sorted(found[split][cls])
            for rank, (_, data) in enumerate(files):
                xs.append(np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.uint8))
                ys.append(ci)
                ranks.append(rank)
        out[split] = (np.stack(xs), np.array(ys), np.array(ranks))
    return out


def to_fine(x, y10, rank):
    """Each image transformed by TRANSFORMS[rank % 10], label 10 * y10 + rank % 10, in an order
    that mixes the classes (seeded), as the official batches do."""
    funcs = list(TRANSFORMS.values())
    t = rank % len(funcs)
    xf = np.stack([np.ascontiguousarray(funcs[k](img)) for img, k in zip(x, t)])
    yf = 10 * y10 + t
    order = np.random.default_rng(0).permutation(len(yf))
    return xf[order], yf[order].astype(np.int64)


ARCHIVE_NAME = "cifar-100-standin.tar.gz"
CONFIG_NAME = "cifar100-standin.yaml"
LABEL = "CIFAR-100-format stand-in built from stand-in (JPEG) CIFAR-10 x 10 transforms: NOT CIFAR-100"


def _all_or_count(text: str):
    """--use-*-images: `all` or a whole number of images, at least 1."""
    return "all" if text == "all" else int_in(1, what="`all` or at least 1")(text)


def main(argv=None) -> int:
    ap = OneLineParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--jpeg", default=str(DEFAULT_JPEG), help="the CIFAR-10 JPEG archive")
    # at least 10 per CIFAR-10 class: one for each of its 10 fine classes
    ap.add_argument("--per-class", type=int_in(10, 5000), default=None, help="training JPEGs per CIFAR-10 class")
    ap.add_argument("--test-per-class", type=int_in(10, 1000), default=None, help="test JPEGs per CIFAR-10 class")
    ap.add_argument("--use-train-images", type=_all_or_count, default="all",
                    help="data.use_train_images of the config")
    ap.add_argument("--use-test-images", type=_all_or_count, default="all",
                    help="data.use_test_images of the config")
    a = ap.parse_args(argv)
    if not Path(a.jpeg).is_file():
        ap.error(f"--jpeg {a.jpeg}: no such file (the CIFAR-10 JPEG archive, ../shared/data/cifar10-jpeg.tar.gz)")
    cifar10, ds = get_dataset("cifar10"), standin_dataset(get_dataset("cifar10"), get_dataset("cifar100"))
    data = read_jpegs(a.jpeg, cifar10.class_names, a.per_class, a.test_per_class)
    x_train, y_train = to_fine(*data["train"])
    x_test, y_test = to_fine(*data["test"])
    archive = (a.out_dir / ARCHIVE_NAME).resolve()
    archive.parent.mkdir(parents=True, exist_ok=True)
    md5 = write_dataset_archive(archive, x_train, y_train, x_test, y_test, ds, synthetic=False,
                                note=f"{LABEL} (scripts/make_cifar100_standin.py)")
    use = {"use_train_images": a.use_train_images, "use_test_images": a.use_test_images}
    cfg = {"data": {"dataset": "cifar100", "source": str(archive), "md5": md5, "label": LABEL,
                    "train_images": len(y_train), "test_images": len(y_test), **use}}
    write_text(a.out_dir / CONFIG_NAME, "# " + LABEL + "\n" + yaml.safe_dump(cfg, sort_keys=False))
    print(f"wrote {archive}: {len(y_train)} training / {len(y_test)} test images in 100 classes, md5 {md5}")
    print(f"wrote {a.out_dir / CONFIG_NAME}: snakemake --cores 2 --configfile {a.out_dir / CONFIG_NAME}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
