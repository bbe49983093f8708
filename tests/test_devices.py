"""Filling the machine: device slots, CPU thread policy, GPU-default fallbacks, provenance.

Everything here runs on a CPU: slots are claimed with `engine.device: cpu` and explicit GPU
ids, CUDA counts come from fakes, and a compile failure is forced.
"""
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from cifar_nets.machine import hardware
from cifar_nets.machine.slots import claim_device, claim_slot
from cifar_nets.engine.batches import augment_batch, draw_augmentation
from cifar_nets.machine.hardware import cuda_has_native_bf16
from cifar_nets.engine.train import train_run
from workflow_helpers import ROOT, engine, inject_fault, spec, tiny_training_set
from workflow_helpers import recipe as Recipe

HOLDER = """
import sys, time
sys.path.insert(0, {root!r})
from cifar_nets.machine.slots import claim_slot
slot = claim_slot({pool!r}, {per_gpu}, {lock_dir!r}, environ={{}}, log=lambda m: None,
                  poll_seconds=0.05)
t0 = time.time()
print("claimed", slot.name, flush=True)
time.sleep({hold})
print("interval", slot.name, t0, time.time(), flush=True)
"""


def start_holder(tmp_path, pool=("0",), per_gpu=1, hold=0.5):
    code = HOLDER.format(root=str(ROOT), pool=list(pool), per_gpu=per_gpu,
                         lock_dir=str(tmp_path / "locks"), hold=hold)
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)


def test_concurrent_claims_never_share_a_slot(tmp_path):
    """Eight processes, four slots (2 GPUs x 2): at no moment do two hold the same slot."""
    procs = [start_holder(tmp_path, pool=("0", "1"), per_gpu=2, hold=0.6) for _ in range(8)]
    intervals = []
    for p in procs:
        out, _ = p.communicate(timeout=60)
        assert p.returncode == 0
        _, name, t0, t1 = [ln for ln in out.splitlines() if ln.startswith("interval")][0].split()
        intervals.append((name, float(t0), float(t1)))
    assert {n for n, _, _ in intervals} == {"gpu0.0", "gpu1.0", "gpu0.1", "gpu1.1"}
    for i, (a, a0, a1) in enumerate(intervals):
        for b, b0, b1 in intervals[i + 1:]:
            if a == b:
                assert a1 <= b0 or b1 <= a0, f"{a} held twice at once"
    # 8 jobs on 4 slots: some had to wait, so the whole took at least two holds
    assert max(t1 for *_, t1 in intervals) - min(t0 for _, t0, _ in intervals) >= 1.1


def test_slots_spread_over_gpus_before_sharing_one(tmp_path):
    held = [claim_slot(["0", "1"], 2, tmp_path, environ={}, log=lambda m: None) for _ in range(3)]
    assert [s.name for s in held] == ["gpu0.0", "gpu1.0", "gpu0.1"]
    for s in held:
        s.release()


def test_a_sigkilled_holder_frees_its_slot(tmp_path):
    holder = start_holder(tmp_path, hold=600)
    assert holder.stdout.readline().split() == ["claimed", "gpu0.0"]
    with pytest.raises(TimeoutError):
        claim_slot(["0"], 1, tmp_path / "locks", environ={}, log=lambda m: None,
                   poll_seconds=0.05, timeout=0.3)
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    slot = claim_slot(["0"], 1, tmp_path / "locks", environ={}, log=lambda m: None, timeout=5)
    assert slot.name == "gpu0.0"
    slot.release()


def test_a_job_waits_with_a_log_line_while_all_slots_are_taken(tmp_path):
    holder = start_holder(tmp_path, hold=1.5)
    assert holder.stdout.readline().startswith("claimed")
    lines = []
    t0 = time.monotonic()
    slot = claim_slot(["0"], 1, tmp_path / "locks", environ={}, log=lines.append,
                      poll_seconds=0.05, timeout=30)
    waited = time.monotonic() - t0
    holder.wait(timeout=10)
    assert waited >= 0.5          # it waited for the holder, it did not double-book
    assert len(lines) == 1 and "all 1 device slots" in lines[0] and "waiting" in lines[0]
    assert "after waiting" in slot.message
    slot.release()


def test_cpu_jobs_with_gpu_ids_claim_and_record_slots_without_touching_cuda(tmp_path):
    env = {}
    slot = claim_device("cpu", [0, 1], 1, tmp_path, environ=env, log=lambda m: None)
    assert slot.name == "gpu0.0" and slot.cuda_visible_devices is None
    assert "CUDA_VISIBLE_DEVICES" not in env
    assert claim_device("cpu", "auto", 1, tmp_path, environ=env).name is None
    slot.release()


def test_a_gpu_job_sets_cuda_visible_devices_to_its_slot(tmp_path):
    env_a, env_b = {}, {}
    a = claim_device("cuda", "auto", 1, tmp_path, environ=env_a, count_gpus=lambda: 2)
    b = claim_device("auto", "auto", 1, tmp_path, environ=env_b, count_gpus=lambda: 2)
    assert (env_a["CUDA_VISIBLE_DEVICES"], env_b["CUDA_VISIBLE_DEVICES"]) == ("0", "1")
    assert (a.source, b.cuda_visible_devices) == ("slot", "1")
    a.release(), b.release()
    # no GPU found: no slot, nothing set (the job trains on the CPU)
    env = {}
    none = claim_device("auto", "auto", 1, tmp_path, environ=env, count_gpus=lambda: 0)
    assert none.name is None and env == {}


def test_an_inherited_cuda_visible_devices_is_the_pool_outside_a_scheduler(tmp_path):
    env = {"CUDA_VISIBLE_DEVICES": "2,3"}
    slot = claim_device("cuda", "auto", 1, tmp_path, environ=env, count_gpus=lambda: 99)
    assert slot.name == "gpu2.0" and env["CUDA_VISIBLE_DEVICES"] == "2"
    slot.release()


def test_a_scheduler_given_cuda_visible_devices_is_kept(tmp_path):
    env = {"SLURM_JOB_ID": "4242", "CUDA_VISIBLE_DEVICES": "3"}
    slot = claim_device("auto", [0, 1], 1, tmp_path, environ=env,
                        count_gpus=lambda: pytest.fail("must not probe under a scheduler"))
    assert env["CUDA_VISIBLE_DEVICES"] == "3"
    assert (slot.source, slot.cuda_visible_devices) == ("scheduler", "3")
    assert "set by SLURM job 4242" in slot.message and "kept" in slot.message
    # slots under a scheduler are per scheduler job: another SLURM job on the node is not blocked
    other = claim_device("auto", "auto", 1, tmp_path,
                         environ={"SLURM_JOB_ID": "4243", "CUDA_VISIBLE_DEVICES": "3"})
    assert other.name == "gpu3.0"
    slot.release(), other.release()


def test_usable_cpus_without_sched_getaffinity(monkeypatch):
    """macOS and Windows have no os.sched_getaffinity: fall back to os.cpu_count()."""
    monkeypatch.delattr(os, "sched_getaffinity", raising=True)
    monkeypatch.setattr(os, "cpu_count", lambda: 10)
    assert hardware.usable_cpus() == 10
    assert hardware.capped_threads(4) == 4 and hardware.capped_threads(64) == 10


@pytest.mark.parametrize("alpha", [0.2, hardware.THREAD_SCALING_ALPHA, 0.95])  # the measured range
def test_threads_fill_the_cores_and_the_last_round_gets_the_spare_ones(alpha):
    plan = hardware.cpu_thread_plan
    assert plan(2, 3, alpha) == [1, 1, 2]                 # the default study on 2 cores
    assert plan(16, 210, alpha) == [1] * 208 + [8, 8]     # many runs: a core each
    assert plan(16, 32, alpha) == [1] * 32                # full rounds: nothing spare
    assert min(plan(16, 3, alpha)) >= 5                   # few runs: the cores spread over them
    assert plan(16, 1, alpha) == [16] and plan(2, 1, alpha) == [2]
    assert plan(4, 4, 1.0) == [1, 1, 1, 1]                # perfect scaling: ties go to fewer threads


def test_training_on_gpu_decision():
    no_gpu = lambda: None  # noqa: E731
    assert not hardware.training_on_gpu("cpu", True, no_gpu)
    assert not hardware.training_on_gpu("auto", True, no_gpu)          # CPU-only workstation
    assert hardware.training_on_gpu("auto", True, lambda: "cuda")
    # a SLURM login node has no GPU, the compute nodes do: never ask the login node
    assert hardware.training_on_gpu("auto", False, lambda: pytest.fail("asked the login node"))
    assert hardware.training_on_gpu("mps", True, no_gpu)


def test_bf16_auto_only_on_native_bf16_gpus():
    dev = torch.device("cuda")
    assert not cuda_has_native_bf16(dev, (7, 0))   # V100: emulated
    assert not cuda_has_native_bf16(dev, (7, 5))   # T4: emulated
    assert cuda_has_native_bf16(dev, (8, 0)) and cuda_has_native_bf16(dev, (9, 0))


def test_epoch_augmentation_draws_equal_per_step_draws():
    """Drawing an epoch's numbers at once gives the numbers per-step drawing gave."""
    x = torch.randint(0, 256, (70, 3, 8, 8), dtype=torch.uint8)
    per_step, gen = [], torch.Generator().manual_seed(5)
    for start in range(0, 70, 32):
        per_step.append(augment_batch(x[start:start + 32], gen, 4))
    after_per_step = gen.get_state()
    gen = torch.Generator().manual_seed(5)
    draws = draw_augmentation(70, 32, gen, 4, torch.device("cpu"))
    assert torch.equal(gen.get_state(), after_per_step)
    for i, start in enumerate(range(0, 70, 32)):
        sl = slice(start, start + 32)
        out = augment_batch(x[sl], None, 4, tuple(d[sl] for d in draws))
        assert torch.equal(out, per_step[i])


@pytest.fixture(scope="module")
def tiny():
    return tiny_training_set(seed=4)


def test_a_failing_compile_falls_back_to_eager(tiny, monkeypatch):
    """compile: true where compiling fails: one log line, the run trains, and it trains exactly
    what an eager run trains (the failed first step leaves no trace)."""
    opts = dict(device="cpu", channels_last=False, bf16=False, train_eval_subset=0)
    recipe = Recipe(epochs=2, batch_size=25, lr=3e-3, augment=True)

    def go(compile, logs):
        return train_run(*tiny, spec("res", seed=3, recipe=recipe),
                         engine(compile=compile, **opts), log=logs.append, progress=False)

    eager = go(False, [])
    inject_fault(monkeypatch, "compile_fail")
    logs = []
    fell_back = go(True, logs)
    assert fell_back.summary["compile"].startswith("false (fallback: RuntimeError: forced")
    assert sum("torch.compile failed" in m for m in logs) == 1
    assert [h["train_loss"] for h in fell_back.history] == [h["train_loss"] for h in eager.history]
    assert eager.summary["compile"] is False


def test_compile_is_in_the_checkpoint_fingerprint(tiny, tmp_path, monkeypatch):
    opts = dict(device="cpu", channels_last=False, bf16=False, train_eval_subset=0)
    ckpt = tmp_path / "c.pt"
    run = spec("conv", seed=1, recipe=Recipe(epochs=2, batch_size=50))
    train_run(*tiny, run, engine(compile=False, **opts), max_epochs=1, checkpoint=ckpt,
              log=lambda m: None, progress=False)
    logs = []
    inject_fault(monkeypatch, "compile_fail")   # no compiler needed
    train_run(*tiny, run, engine(compile=True, **opts), checkpoint=ckpt, log=logs.append,
              progress=False)
    assert any("belongs to different settings" in m for m in logs)


def test_provenance_in_a_run_summary(tiny):
    res = train_run(*tiny, spec("conv", recipe=Recipe(epochs=1, batch_size=50)),
                    engine(device="cpu", train_eval_subset=0), log=lambda m: None,
                    progress=False)
    s = res.summary
    for key in ("host", "device_name", "torch", "cuda", "cudnn", "threads", "bf16",
                "channels_last", "compile", "tf32", "cudnn_benchmark", "platform"):
        assert key in s, key
    assert s["device_name"] == hardware.device_name(torch.device("cpu")) and s["torch"] == torch.__version__
    assert s["tf32"] is False and s["cudnn_benchmark"] is False


def test_gpu_resource_advice_names_the_slot_count():
    assert hardware.gpu_resource_advice(4, "auto", 2, 2) is None            # 2 GPUs x 2 = 4
    assert "use --resources gpu=4" in hardware.gpu_resource_advice(1, "auto", 4, 1)
    assert "slots stay idle" in hardware.gpu_resource_advice(1, [0, 1], 1, 0)
    assert "wait for one" in hardware.gpu_resource_advice(8, [0], 2, 0)
    assert "no --resources gpu" in hardware.gpu_resource_advice(None, [0], 1, 0)
    assert hardware.gpu_resource_advice(1, "auto", 1, 0) is None            # no GPU: nothing to say


def test_device_choice_without_cuda_or_mps(monkeypatch):
    """What a Mac without MPS, or any CPU-only host, resolves (the MPS path itself never ran)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(hardware, "mps_available", lambda: False)
    assert hardware.resolve_device("auto").type == "cpu"
    with pytest.raises(RuntimeError, match="engine.device: mps was asked for"):
        hardware.resolve_device("mps")
    monkeypatch.setattr(hardware, "mps_available", lambda: True)
    assert hardware.resolve_device("auto").type == "mps"          # auto picks Apple's GPU
    assert hardware.resolve_options(engine(device="mps"), torch.device("mps"))["bf16"] is False
