"""The benchmark scripts run end to end on a tiny archive and print / write what they promise.
(They measure; nothing here checks a speed.)"""
import json
import re
import subprocess
import sys

import pytest

from cifar_factory import write_cifar_archive
from workflow_helpers import ROOT


def run(*args, timeout=300):
    proc = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.slow
def test_bench_engine_prints_a_row_per_pipeline_with_ratio_and_peak(tmp_path):
    archive = tmp_path / "a.tar.gz"
    write_cifar_archive(archive, per_class_train=30, per_class_test=2)
    out = run(ROOT / "benchmarks/bench_engine.py", "--archive", archive, "--steps", 2, "--warmup", 1,
              "--blocks", "res,skip", "--options", "fp32,bf16+channels_last+fused", "--workers", 0,
              "--threads", 1, "--peak-n", 256, "--repeats", 2)
    for dtype in ("fp32", "bf16"):
        peak = re.search(rf"measured {dtype} peak: (\d+) GFLOP/s \(matmul (\d+), 3x3 convolution (\d+)\)", out)
        assert peak and int(peak[1]) == max(int(peak[2]), int(peak[3])) > 0
    assert "median of 2 interleaved rounds" in out
    rows = re.findall(r"^(Custom_\w+)\s+(notebook \(DataLoader\)|engine [\w+]+)\s+(\d+)\s+\((\d+)-(\d+)\)\s+"
                      r"([\d.]+)\s+([\d.]+)\s+([\d.]+)%$", out, re.M)
    assert [(m, p) for m, p, *_ in rows] == [
        (m, p) for m in ("Custom_ResNet", "Custom_SkipNet")
        for p in ("notebook (DataLoader)", "engine fp32", "engine bf16+channels_last+fused")]
    for _, pipeline, ips, lo, hi, ratio, *_ in rows:
        assert 0 < int(lo) <= int(ips) <= int(hi)
        if pipeline.startswith("notebook"):
            assert float(ratio) == 1.0


def test_notebook_pipeline_trains_and_writes_its_result(tmp_path):
    archive = tmp_path / "a.tar.gz"
    write_cifar_archive(archive, per_class_train=30, per_class_test=5)
    out_json = tmp_path / "nb.json"
    out = run(ROOT / "benchmarks/notebook_pipeline.py", "--archive", archive, "--block-type", "conv",
              "--n-blocks", 1, "--epochs", 2, "--workers", 0, "--threads", 1, "--lr", 3e-3,
              "--out", out_json)
    result = json.loads(out_json.read_text())
    assert [h["epoch"] for h in result["history"]] == [1, 2]
    assert result["block_type"] == "conv" and result["n_blocks"] == 1
    assert result["best_val_acc"] == max(h["val_acc"] for h in result["history"])
    for key in ("test_acc_best_val", "test_acc_last"):   # 50 test images: multiples of 2%
        assert 0 <= result[key] <= 100 and result[key] % 2 == 0
    assert "test accuracy: best-validation weights" in out


def test_notebook_pipeline_validates_on_the_same_images_as_the_workflow(tmp_path, monkeypatch):
    """The notebook-style split (torch random_split over the dataset object) and the workflow's
    make_split, both from config.yaml's split settings, pick the same validation images."""
    import numpy as np
    import yaml

    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import notebook_style
    from cifar_nets.data.arrays import make_split

    archive = tmp_path / "a.tar.gz"
    write_cifar_archive(archive, per_class_train=20, per_class_test=1)
    split = yaml.safe_load((ROOT / "config.yaml").read_text())["split"]
    assert notebook_style.split_settings() == (split["train_fraction"], split["seed"])
    with notebook_style.extracted(archive) as root:
        train, val, _ = notebook_style.datasets(root)
    train_idx, val_idx = make_split(200, split["train_fraction"], split["seed"])
    assert np.array_equal(np.asarray(train.indices), train_idx)
    assert np.array_equal(np.asarray(val.indices), val_idx)
    assert len(val_idx) == 20


def test_profile_step_splits_the_whole_step_into_kinds(tmp_path):
    archive = tmp_path / "a.tar.gz"
    write_cifar_archive(archive, per_class_train=30, per_class_test=1)
    out = run(ROOT / "benchmarks/profile_step.py", "--archive", archive, "--steps", 2, "--warmup", 1,
              "--blocks", "res,skip", "--threads", 1, "--bf16", "false")
    assert "bf16 False, channels_last True" in out
    rows = re.findall(r"^(Custom_\w+)((?:\s+[\d.]+ \(\s*\d+%\)){8})\s+([\d.]+)\s+(\d+)/(\d+)\s*$", out, re.M)
    assert [r[0] for r in rows] == ["Custom_ResNet", "Custom_SkipNet"]
    for _, cells, total, gf_fwd, gf_bwd in rows:
        ms = [float(m) for m in re.findall(r"([\d.]+) \(", cells)]
        shares = [int(s) for s in re.findall(r"(\d+)%", cells)]
        assert abs(sum(ms) - float(total)) < 0.05 * float(total)   # the kinds cover the step
        assert 97 <= sum(shares) <= 103
        assert ms[0] > 0 and ms[1] > 0 and int(gf_fwd) > 0 and int(gf_bwd) > 0   # convs were seen


@pytest.mark.slow
def test_gpu_throughput_runs_on_the_cpu_and_prints_every_row():
    """The GPU self-check's benchmark (scripts/gpu_check.sh) on the CPU, tiny: it never ran on a
    GPU here, so this is what fails first if its code breaks."""
    out = run(ROOT / "benchmarks/gpu_throughput.py", "--device", "cpu", "--steps", "2", "--warmup",
              "1", "--images", "600", "--skip-compile", timeout=600)
    rows = re.findall(r"^\| (.+?) \| ([\d,]+)", out, re.M)
    names = [n for n, _ in rows]
    assert names[:4] == ["eager fp32", "bf16", "channels-last", "bf16 + channels-last"], out
    assert any(n.startswith("1 run alone") for n in names) and "4 runs sharing the device (sum)" in names
    assert all(int(v.replace(",", "")) > 0 for _, v in rows)
