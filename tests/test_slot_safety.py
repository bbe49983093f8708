"""Slot files cannot be turned against the user (issue 17, item 5).

A slot lock file is opened without following symlinks and is written only once it is locked and
known to be an empty file or one of this project's lock files; every component of a lock path is
sanitised; a slot whose file cannot be used is skipped with a log line; CUDA_VISIBLE_DEVICES is
read as CUDA reads it; `engine.gpus` ids the host does not have are an error naming the key.
Everything runs on a CPU: GPU counts come from fakes.
"""
import errno
import os
import socket
from pathlib import Path

import pytest

from cifar_nets.machine import hardware, slots
from cifar_nets.machine.slots import (
    SlotError,
    claim_device,
    claim_slot,
    gpu_ids_error,
    lock_folder,
    parse_visible,
    safe_component,
)

QUIET = dict(log=lambda m: None, poll_seconds=0.02)


def host_folder(base, environ=None):
    folder = lock_folder(base, {} if environ is None else environ)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def files_under(path):
    return sorted(str(p) for p in Path(path).rglob("*"))


def outside(root, base):
    """What exists under `root` but neither inside `base` nor on the way to it."""
    way = {str(p) for p in [Path(base), *Path(base).parents]}
    return [p for p in files_under(root) if p not in way and not p.startswith(str(base) + os.sep)]


# ------------------------------------------------------------------------ symlinks, foreign files

def test_a_symlink_in_the_slot_folder_never_writes_through_to_its_target(tmp_path):
    victim = tmp_path / "thesis.tex"
    victim.write_text("years of work\n")
    folder = host_folder(tmp_path / "locks")
    (folder / "gpu0.0.lock").symlink_to(victim)
    lines = []
    slot = claim_slot(["0", "1"], 1, tmp_path / "locks", environ={}, log=lines.append)
    assert victim.read_text() == "years of work\n"
    assert slot.name == "gpu1.0"
    assert any("gpu0.0.lock" in m and "symlink" in m for m in lines), lines
    slot.release()
    assert victim.read_text() == "years of work\n"


def test_a_dangling_symlink_creates_nothing(tmp_path):
    target = tmp_path / "elsewhere" / "created-by-the-job"
    target.parent.mkdir()
    folder = host_folder(tmp_path / "locks")
    (folder / "gpu0.0.lock").symlink_to(target)
    slot = claim_slot(["0", "1"], 1, tmp_path / "locks", environ={}, **QUIET)
    assert slot.name == "gpu1.0" and not target.exists()
    slot.release()


def test_a_hard_link_or_foreign_file_in_the_slot_folder_is_left_untouched(tmp_path):
    victim = tmp_path / "data.csv"
    victim.write_text("a,b\n1,2\n")
    folder = host_folder(tmp_path / "locks")
    os.link(victim, folder / "gpu0.0.lock")
    (folder / "gpu1.0.lock").write_text("not a lock file of this project\n")
    lines = []
    slot = claim_slot(["0", "1", "2"], 1, tmp_path / "locks", environ={}, log=lines.append)
    assert slot.name == "gpu2.0"
    assert victim.read_text() == "a,b\n1,2\n"
    assert (folder / "gpu1.0.lock").read_text() == "not a lock file of this project\n"
    assert sum("cannot be used" in m for m in lines) == 2, lines
    slot.release()


def test_own_and_older_lock_files_are_reused(tmp_path):
    folder = host_folder(tmp_path / "locks")
    # the format before issue 17: one line, no marker
    (folder / "gpu0.0.lock").write_text("pid 123 on somehost since 10:11:12\n")
    slot = claim_slot(["0"], 1, tmp_path / "locks", environ={}, **QUIET)
    assert slot.name == "gpu0.0"
    text = (folder / "gpu0.0.lock").read_text()
    assert text.startswith(slots.LOCK_MARKER) and f"pid {os.getpid()}" in text
    slot.release()
    again = claim_slot(["0"], 1, tmp_path / "locks", environ={}, **QUIET)   # its own format
    assert again.name == "gpu0.0"
    again.release()


# --------------------------------------------------------------------------- unusable slots

def test_a_directory_in_place_of_slot_0_is_skipped_with_a_log_line(tmp_path):
    folder = host_folder(tmp_path / "locks")
    (folder / "gpu0.0.lock").mkdir()
    lines = []
    slot = claim_slot(["0", "1"], 1, tmp_path / "locks", environ={}, log=lines.append)
    assert slot.name == "gpu1.0"
    assert len(lines) == 1 and "gpu0.0.lock" in lines[0] and "next slot" in lines[0], lines
    slot.release()


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="root opens a mode-000 file anyway")
def test_an_unreadable_lock_file_is_skipped(tmp_path):
    folder = host_folder(tmp_path / "locks")
    (folder / "gpu0.0.lock").write_text("")
    (folder / "gpu0.0.lock").chmod(0)
    lines = []
    slot = claim_slot(["0", "1"], 1, tmp_path / "locks", environ={}, log=lines.append)
    assert slot.name == "gpu1.0" and "gpu0.0.lock" in lines[0]
    slot.release()


def test_a_lock_file_that_refuses_to_open_is_skipped(tmp_path, monkeypatch):
    """Another user's lock file (EACCES), as the OS reports it also to a test running as root."""
    real_open = os.open

    def refusing_open(path, *args, **kw):
        if str(path).endswith("gpu0.0.lock"):
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_open(path, *args, **kw)

    monkeypatch.setattr(os, "open", refusing_open)
    lines = []
    slot = claim_slot(["0", "1"], 1, tmp_path / "locks", environ={}, log=lines.append)
    assert slot.name == "gpu1.0"
    assert len(lines) == 1 and "gpu0.0.lock" in lines[0] and "Permission denied" in lines[0]
    slot.release()


def test_when_no_slot_can_be_used_the_error_names_the_folder(tmp_path):
    folder = host_folder(tmp_path / "locks")
    (folder / "gpu0.0.lock").mkdir()
    (folder / "gpu0.1.lock").symlink_to(tmp_path / "nowhere")
    with pytest.raises(SlotError) as err:
        claim_slot(["0"], 2, tmp_path / "locks", environ={}, timeout=5, **QUIET)
    message = str(err.value)
    assert "\n" not in message
    assert str(folder) in message and "none of the 2 device slots" in message


def test_unusable_and_busy_slots_wait_for_the_busy_one(tmp_path):
    folder = host_folder(tmp_path / "locks")
    (folder / "gpu0.0.lock").mkdir()
    held = claim_slot(["1"], 1, tmp_path / "locks", environ={}, **QUIET)
    with pytest.raises(TimeoutError):          # it waits, it does not give up
        claim_slot(["0", "1"], 1, tmp_path / "locks", environ={}, timeout=0.2, **QUIET)
    held.release()
    slot = claim_slot(["0", "1"], 1, tmp_path / "locks", environ={}, timeout=5, **QUIET)
    assert slot.name == "gpu1.0"
    slot.release()


def test_a_symlinked_host_folder_is_a_clear_error(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    base = tmp_path / "locks"
    base.mkdir()
    lock_folder(base, {}).symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(SlotError, match="slot folder"):
        claim_slot(["0"], 1, base, environ={}, timeout=1, **QUIET)
    assert list(elsewhere.iterdir()) == []


# --------------------------------------------------------------------------- path components

@pytest.mark.parametrize("var", ["SLURM_JOB_ID", "PBS_JOBID", "LSB_JOBID"])
def test_a_job_id_with_dot_dot_keeps_the_lock_inside_the_slot_folder(tmp_path, var):
    base = tmp_path / "results" / ".device-slots"
    env = {var: "1/../../../x"}
    folder = lock_folder(base, env)
    assert folder.parent == base and ".." not in folder.name and "/" not in folder.name
    slot = claim_slot(["0"], 1, base, environ=env, **QUIET)
    assert outside(tmp_path, base) == []
    slot.release()


def test_a_host_name_with_dot_dot_keeps_the_lock_inside_the_slot_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(socket, "gethostname", lambda: "../../../../evil")
    base = tmp_path / "locks"
    slot = claim_slot(["0"], 1, base, environ={}, **QUIET)
    assert outside(tmp_path, base) == []
    assert lock_folder(base, {}).parent == base
    slot.release()


def test_a_gpu_id_with_slashes_stays_one_file_name(tmp_path):
    env = {"SLURM_JOB_ID": "7", "CUDA_VISIBLE_DEVICES": "MIG-GPU-5d0e/1/0"}
    slot = claim_device("cuda", "auto", 1, tmp_path, environ=env, **QUIET)
    assert slot.source == "scheduler" and env["CUDA_VISIBLE_DEVICES"] == "MIG-GPU-5d0e/1/0"
    locks = [p for p in files_under(tmp_path) if p.endswith(".lock")]
    assert len(locks) == 1 and Path(locks[0]).parent == lock_folder(tmp_path, env)
    slot.release()


@pytest.mark.parametrize("text", ["..", ".", "", "a/b", "a\\b", "x" * 300, "-rf", "a\nb", "é",
                                  "..hidden", "a..b"])
def test_safe_component(text):
    safe = safe_component(text)
    assert safe and len(safe) <= 64 and safe not in (".", "..") and ".." not in safe
    assert all(c.isascii() and (c.isalnum() or c in "._-") for c in safe)
    assert not safe.startswith((".", "-"))


def test_safe_component_keeps_ordinary_names_and_keeps_different_names_apart():
    assert safe_component("node01.cluster.local") == "node01.cluster.local"
    assert safe_component("SLURM-job-4242") == "SLURM-job-4242"
    assert safe_component("a/b") != safe_component("a_b")
    assert safe_component("x" * 300) != safe_component("x" * 299)


# --------------------------------------------------------------------------- CUDA_VISIBLE_DEVICES

@pytest.mark.parametrize("value, ids", [
    (None, None),
    ("", []),
    ("   ", []),
    ("0", ["0"]),
    ("0,-1,1", ["0"]),              # CUDA stops at the first invalid id
    ("-1", []),
    ("1, 2", ["1", "2"]),
    (" 3 ,4 ", ["3", "4"]),
    ("0,,1", ["0"]),
    ("1gpu2,2ampere", ["1", "2"]),  # strtoul-like: the leading digits count
    ("+1", ["1"]),
    ("+", []),
    ("-", []),
    ("abc,0", []),
    ("0,0", []),                    # a repeated id: CUDA sees no device at all
    ("0,1,0", []),
    ("007", ["7"]),
    ("GPU-8f2a,GPU-11bc", ["GPU-8f2a", "GPU-11bc"]),
    ("GPU-8f2a,1", ["GPU-8f2a"]),
    ("MIG-GPU-8f2a/1/0", ["MIG-GPU-8f2a/1/0"]),
    ("MIG-aa,MIG-aa", []),
])
def test_cuda_visible_devices_is_parsed_as_cuda_parses_it(value, ids):
    assert parse_visible(value) == ids


@pytest.mark.parametrize("value", ["0,-1,1", "", " 1, 2", "1gpu2,2ampere", "0,0", "abc", "3,,4",
                                   "GPU-a,GPU-b", "GPU-a,0", "MIG-x,MIG-x", "-1,0", "2,1,x"])
def test_parse_visible_agrees_with_torch(value, monkeypatch):
    torch_cuda = pytest.importorskip("torch.cuda")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", value)
    assert parse_visible(value) == [str(x) for x in torch_cuda._parse_visible_devices()]


def test_a_scheduler_pool_stops_at_the_first_invalid_id(tmp_path):
    env = {"SLURM_JOB_ID": "9", "CUDA_VISIBLE_DEVICES": "0,-1,1"}
    pool, _ = slots.gpu_pool("auto", env, lambda: pytest.fail("must not probe"))
    assert pool == ["0"]
    slot = claim_device("cuda", "auto", 2, tmp_path, environ=env, **QUIET)
    assert slot.source == "scheduler" and slot.name == "gpu0.0"
    slot.release()


def test_an_empty_cuda_visible_devices_means_no_gpu(tmp_path):
    env = {"CUDA_VISIBLE_DEVICES": ""}
    slot = claim_device("auto", "auto", 1, tmp_path, environ=env,
                        count_gpus=lambda: pytest.fail("must not probe"), **QUIET)
    assert slot.name is None and env == {"CUDA_VISIBLE_DEVICES": ""}


# ------------------------------------------------------------------------ engine.gpus vs the host

def test_gpus_beyond_the_visible_devices_are_an_error_naming_engine_gpus(tmp_path):
    with pytest.raises(SlotError) as err:
        claim_device("cuda", [7], 1, tmp_path, environ={}, count_gpus=lambda: 1, **QUIET)
    assert str(err.value).startswith(
        "engine.gpus: [7] but this host has 1 visible CUDA device(s) (ids 0..0)")
    assert list(Path(tmp_path).rglob("*.lock")) == []     # nothing claimed
    with pytest.raises(SlotError, match=r"engine\.gpus: \[0, 2\] .* 2 visible"):
        claim_device("auto", [0, 2], 1, tmp_path, environ={}, count_gpus=lambda: 2, **QUIET)
    ok = claim_device("cuda", [0, 1], 1, tmp_path, environ={}, count_gpus=lambda: 2, **QUIET)
    assert ok.name == "gpu0.0"
    ok.release()


def test_gpu_ids_error_is_pure_and_only_applies_where_the_ids_are_used():
    assert gpu_ids_error("cuda", [7], 1) == ("engine.gpus: [7] but this host has 1 visible CUDA "
                                             "device(s) (ids 0..0); list ids below 1 or use "
                                             "engine.gpus: auto")
    assert gpu_ids_error("cuda", [0], 1) is None
    assert gpu_ids_error("cuda", "auto", 0) is None
    assert "0 visible CUDA device(s)" in gpu_ids_error("cuda", [0], 0)
    assert gpu_ids_error("auto", [0], 0) is None      # auto without CUDA: the ids are not used
    assert gpu_ids_error("cpu", [5], 1) is None       # CPU jobs with ids: slot testing on a CPU
    assert gpu_ids_error("mps", [5], 1) is None
    # a scheduler's CUDA_VISIBLE_DEVICES wins over engine.gpus: nothing to check, nothing probed
    sched = {"SLURM_JOB_ID": "1", "CUDA_VISIBLE_DEVICES": "0"}
    assert gpu_ids_error("cuda", [7], lambda: pytest.fail("probed"), sched) is None
    # the count may be a callable, asked only when the check applies
    assert gpu_ids_error("cpu", [7], lambda: pytest.fail("probed")) is None
    assert gpu_ids_error("cuda", [3], lambda: 2).startswith("engine.gpus: [3]")
    # the host's facts come from cifar_nets.machine.hardware, the one place that asks
    assert slots.physical_gpu_count is hardware.physical_gpu_count


def test_the_count_for_explicit_ids_ignores_an_inherited_cuda_visible_devices(monkeypatch):
    """A job sets CUDA_VISIBLE_DEVICES to its id itself, so ids are checked against the host's
    devices, not the ones an inherited variable leaves visible."""
    seen = []

    def fake_run(cmd, **kw):
        seen.append(kw.get("env"))
        raise OSError("no python here")

    monkeypatch.setattr(hardware.subprocess, "run", fake_run)
    monkeypatch.setattr(hardware, "_has_nvidia_driver", lambda: True)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    assert hardware.physical_gpu_count() == 0
    assert seen and "CUDA_VISIBLE_DEVICES" not in seen[0]
