"""An `engine.device` the host cannot see is refused early, in one line naming the key (issue 24,
item 4): at DAG build for a local run, inside the training job on a cluster (tests/test_slurm.py),
and by `python -m cifar_nets` (exit 2). The probes are faked: no GPU is needed either way."""
from __future__ import annotations

import pytest

from cifar_nets.machine import hardware
from cifar_nets.__main__ import main
from workflow_helpers import snakemake, tiny_config


def test_cuda_without_a_cuda_device_is_one_line_naming_the_key():
    err = hardware.device_error("cuda", gpu_count=lambda: 0, mps=lambda: True)
    assert err.startswith("engine.device: cuda but this host has no CUDA device") and "\n" not in err
    assert "this node" in hardware.device_error("cuda", where="this node", gpu_count=lambda: 0)


def test_mps_without_apple_gpu_is_one_line_naming_the_key():
    err = hardware.device_error("mps", gpu_count=lambda: 2, mps=lambda: False)
    assert err.startswith("engine.device: mps but this host has no Apple GPU") and "\n" not in err


def test_a_device_the_host_has_and_auto_or_cpu_pass():
    def never():
        raise AssertionError("auto and cpu need no probe")

    assert hardware.device_error("cuda", gpu_count=lambda: 1, mps=never) is None
    assert hardware.device_error("mps", gpu_count=never, mps=lambda: True) is None
    for device in ("auto", "cpu"):
        assert hardware.device_error(device, gpu_count=never, mps=never) is None


def test_the_default_probes_are_the_hosts(monkeypatch):
    monkeypatch.setattr(hardware, "local_gpu_count", lambda: 0)
    monkeypatch.setattr(hardware, "mps_available", lambda: False)
    assert hardware.device_error("cuda") and hardware.device_error("mps")
    monkeypatch.setattr(hardware, "local_gpu_count", lambda: 1)
    monkeypatch.setattr(hardware, "mps_available", lambda: True)
    assert hardware.device_error("cuda") is None and hardware.device_error("mps") is None


@pytest.mark.parametrize("device", ["cuda", "mps"])
def test_the_command_line_refuses_a_missing_device_in_one_line_exit_2(device, tmp_path, capsys,
                                                                     monkeypatch):
    monkeypatch.setattr(hardware, "local_gpu_count", lambda: 0)
    monkeypatch.setattr(hardware, "mps_available", lambda: False)
    with pytest.raises(SystemExit) as exc:
        main(["--device", device, "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert exc.value.code == 2
    assert err.count("\n") == 1 and f"engine.device: {device} but this host has no" in err, err
    assert not (tmp_path / "out").exists()


MPS_LINE = ("config error: engine.device: mps but this host has no Apple GPU (PyTorch reports no "
            "MPS); use engine.device: auto or cpu")
CUDA_START = "config error: engine.device: cuda but this host has no CUDA device"


@pytest.mark.workflow
@pytest.mark.parametrize("device,present,expected", [
    ("mps", hardware.mps_available, MPS_LINE),           # off macOS there is never an Apple GPU
    ("cuda", hardware.local_gpu_count, CUDA_START),
], ids=["mps", "cuda"])
def test_a_local_dag_build_refuses_a_device_the_host_lacks_in_one_line(tmp_path, device, present,
                                                                       expected):
    """The DAG build stops before any job, naming the key, in one line."""
    if present():
        pytest.skip(f"this host has a {device} device")
    cfg = tiny_config(tmp_path, block_types=["conv"], n_blocks=[1], seeds=[0], recipes=["notebook"])
    proc = snakemake(tmp_path, "-n", "--cores", "1", "--configfile", str(cfg),
                     "--config", f"engine={{device: {device}}}", ok=False)
    lines = [ln for ln in proc.out.splitlines() if "engine.device" in ln]
    assert len(lines) == 1 and lines[0].startswith(expected), proc.out[-3000:]
    if device == "mps":
        assert lines == [MPS_LINE]
    assert "Traceback" not in proc.out and "rule train" not in proc.out
