"""`python -m cifar_nets` checks its data before training (issue 25, items 3 and 10): the cache
must hold the training images the config's data keys ask for, the split must be one of that
cache, and a full disk is one line. Each refusal is one line; bad input exits 2.
"""
from __future__ import annotations

import errno
import os

import numpy as np
import pytest

import cifar_factory as cf
from cifar_nets import io as fileio
from cifar_nets.__main__ import main
from cifar_nets.data.arrays import CifarArrays, DataError, write_cache, write_split
from cifar_nets.engine.run import OutputPaths, train_and_write
from workflow_helpers import engine, spec
from workflow_helpers import recipe as Recipe

NAMES = tuple(f"c{i}" for i in range(10))


def cache(path, per_class: int):
    x_hwc, y, _, _ = cf.expected_arrays(per_class_train=per_class, per_class_test=1, seed=1)
    x = np.ascontiguousarray(x_hwc.transpose(0, 3, 1, 2))
    y = np.asarray(y, dtype=np.int64)
    write_cache(CifarArrays(x, y, x[:10], y[:10], NAMES), path)
    return path


def split(path, n):
    perm = np.random.default_rng(0).permutation(n)
    write_split(path, perm[: n * 9 // 10], perm[n * 9 // 10:], 0, 0.9)
    return path


def cli(tmp_path, capsys, *args) -> tuple[int, str]:
    capsys.readouterr()
    try:
        code = main([*args, "--set", "recipes.notebook.batch_size=50", "--block-type", "res",
                     "--n-blocks", "1", "--epochs", "1",
                     "--batch-size", "50", "--threads", "1", "--out", str(tmp_path / "out")])
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


def test_a_cache_built_for_other_data_keys_is_refused_in_one_line(tmp_path, capsys):
    data, s = cache(tmp_path / "d.npz", 24), split(tmp_path / "s.npz", 240)
    code, err = cli(tmp_path, capsys, "--data", str(data), "--split", str(s),
                    "--set", "data.use_train_images=100")
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert f"{data} holds 240 training images, but data.use_train_images asks for 100" in err, err
    assert "build one for these (snakemake --cores 1" in err, err
    assert not (tmp_path / "out").exists()


def test_all_means_every_image_of_data_train_images(tmp_path, capsys):
    data, s = cache(tmp_path / "d.npz", 24), split(tmp_path / "s.npz", 240)
    code, err = cli(tmp_path, capsys, "--data", str(data), "--split", str(s))
    assert code == 2 and "data.use_train_images is all of data.train_images 50000" in err, err


def test_a_split_of_a_larger_cache_is_one_line_and_exit_2(tmp_path, capsys):
    data, s = cache(tmp_path / "d.npz", 10), split(tmp_path / "s.npz", 240)
    code, err = cli(tmp_path, capsys, "--data", str(data), "--split", str(s),
                    "--set", "data.use_train_images=100")
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert f"{s}: a split of 240 training images (indices up to 239), but {data} holds 100" in err


def test_the_library_refuses_a_split_of_another_cache_too(tmp_path):
    data, s = cache(tmp_path / "d.npz", 10), split(tmp_path / "s.npz", 120)
    with pytest.raises(DataError, match=r"a split of 120 training images .* holds 100"):
        train_and_write(spec("res", recipe=Recipe(epochs=1, batch_size=50)),
                        OutputPaths(weights=tmp_path / "m.pt", history=tmp_path / "h.csv",
                                    summary=tmp_path / "t.json", checkpoint=tmp_path / "c.pt"),
                        data=data, split=s, options=engine(device="cpu"), log=lambda m: None)


def test_a_full_disk_is_one_line(tmp_path, capsys, monkeypatch):
    data, s = cache(tmp_path / "d.npz", 10), split(tmp_path / "s.npz", 100)

    def full(path, payload):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(fileio, "write_file", full)
    code, err = cli(tmp_path, capsys, "--data", str(data), "--split", str(s),
                    "--set", "data.use_train_images=100", "--set", "engine.bf16=false")
    last = err.strip().splitlines()[-1]
    assert code == 1 and "Traceback" not in err, err
    assert last.startswith(f"python -m cifar_nets: error: {tmp_path / 'out'}/checkpoint.pt: no "
                           "space left on device writing it (needing "), last
