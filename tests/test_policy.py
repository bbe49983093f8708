"""How the workflow plans jobs on a host (cifar_nets/machine/policy.py), on hosts that the tests
stand in: the probes are parameters, so no GPU, MPS or Snakemake is needed."""
import pytest

from cifar_nets.machine.hardware import GPU_JOB_THREADS
from cifar_nets.machine.policy import (CoreSetting, core_setting, gpu_jobs, gpu_resource_warning,
                                       host_config_error, job_minutes, plan_cores, threads_for,
                                       unfinished)
from cifar_nets.machine.runtime import FLOOR_MIN


def engine(**keys):
    return {"device": "auto", "gpus": "auto", "runs_per_gpu": 1, "threads": "auto", **keys}


def host(gpus=0, mps=False):
    """The probes of a host with `gpus` CUDA devices (and Apple's GPU when `mps`)."""
    return {"physical_gpus": lambda: gpus, "gpus": lambda: gpus, "mps": lambda: mps}


def error(eng, uses_nodes=False, in_job=False, environ=None, **probes):
    return host_config_error(eng, uses_nodes=uses_nodes, in_job=in_job, environ=environ or {},
                             **(probes or host()))


# --------------------------------------------------------------------------- while the Snakefile loads

def test_a_device_the_host_lacks_is_one_line():
    assert error(engine(device="cuda"), **host(gpus=0)).startswith("engine.device: cuda but this host")
    assert error(engine(device="mps"), **host(mps=False)).startswith("engine.device: mps but")
    assert error(engine(device="cuda"), **host(gpus=1)) is None
    assert error(engine(device="mps"), **host(mps=True)) is None
    assert error(engine(device="auto"), **host()) is None and error(engine(device="cpu"), **host()) is None


def test_gpu_ids_the_host_lacks_are_one_line():
    msg = error(engine(device="cuda", gpus=[0, 3]), **host(gpus=2))
    assert msg.startswith("engine.gpus: [0, 3] but this host has 2 visible CUDA device(s)")
    assert error(engine(device="cuda", gpus=[0, 1]), **host(gpus=2)) is None


def test_a_cluster_or_a_submitted_job_is_not_asked():
    def never():
        raise AssertionError("probed")
    probes = {"physical_gpus": never, "gpus": never, "mps": never}
    assert error(engine(device="cuda", gpus=[7]), uses_nodes=True, **probes) is None
    # inside a submitted job the node's ids are checked, its device by the job itself
    assert error(engine(device="cuda"), in_job=True, **{**probes, "physical_gpus": lambda: 1}) is None
    assert error(engine(device="cuda", gpus=[3]), in_job=True, **host(gpus=1)).startswith("engine.gpus")


def test_the_cores_are_set_only_where_needed():
    assert core_setting(None, 4, uses_nodes=False) == CoreSetting("default", 4)
    assert core_setting(2, 4, uses_nodes=False) == CoreSetting(None)
    assert core_setting(4, 4, uses_nodes=False) == CoreSetting(None)
    capped = core_setting(8, 2, uses_nodes=False)
    assert capped.action == "cap" and capped.cores == 2
    assert capped.warning == ("cifar-ablation: --cores 8 is more than the 2 usable cores of this "
                              "host; planning and running for 2 (use --cores 2)")
    assert core_setting(None, 4, uses_nodes=True) == core_setting(64, 4, uses_nodes=True) == CoreSetting(None)
    assert plan_cores(3, lambda: 16) == 3 and plan_cores(None, lambda: 16) == 16


# --------------------------------------------------------------------------- per job

def test_the_gpu_resource():
    assert gpu_jobs("cpu", True, lambda: "cuda") == 0
    assert gpu_jobs("auto", True, lambda: None) == 0
    assert gpu_jobs("auto", True, lambda: "cuda") == gpu_jobs("cuda", True, lambda: None) == 1
    assert gpu_jobs("auto", False, lambda: None) == 1        # a cluster: the nodes' GPUs


def test_the_gpu_resource_warning():
    warn = gpu_resource_warning(engine(gpus=[0, 1], runs_per_gpu=2), True, None, lambda: 8)
    assert warn.startswith("cifar-ablation: no --resources gpu given") and "gpu=4" in warn
    assert gpu_resource_warning(engine(), True, 2, lambda: 2) is None
    assert "gpu=2" in gpu_resource_warning(engine(), True, 3, lambda: 2)
    assert gpu_resource_warning(engine(), False, None, lambda: 2) is None       # a cluster
    assert gpu_resource_warning(engine(device="mps"), True, None, lambda: 2) is None
    assert gpu_resource_warning(engine(), True, None, lambda: 0) is None        # no CUDA


def test_unfinished_runs_are_those_without_their_file(tmp_path):
    runs = [{"seed": s} for s in range(3)]
    (tmp_path / "1.json").write_text("{}")
    assert unfinished(runs, str(tmp_path / "{seed}.json")) == [{"seed": 0}, {"seed": 2}]


def run(seed, block_type="res"):
    return {"recipe": "notebook", "block_type": block_type, "n_blocks": 6, "seed": seed}


def wildcards(seed, block_type="res"):
    return {k: str(v) for k, v in run(seed, block_type).items()}


def test_threads_of_a_job():
    def never():
        raise AssertionError("the disk was looked at")
    assert threads_for(3, False, 2, never, wildcards(0)) == 3
    assert threads_for("auto", True, 2, never, wildcards(0)) == GPU_JOB_THREADS
    # three jobs on two cores: one thread each for the first two, the third gets both cores
    pending = [run(0), run(1), run(2)]
    assert [threads_for("auto", False, 2, lambda: pending, wildcards(s)) for s in range(3)] == [1, 1, 2]
    # a job not pending (forced again): the first plan's threads
    assert threads_for("auto", False, 2, lambda: pending, wildcards(9)) == 1
    assert threads_for("auto", False, 4, lambda: [run(0)], wildcards(0)) == 4


@pytest.mark.parametrize("device,on_gpu,gpu_rate", [("cuda", True, True), ("auto", True, True),
                                                    ("mps", True, False), ("cpu", False, False)])
def test_the_runtime_of_a_job(device, on_gpu, gpu_rate):
    from cifar_nets.machine.runtime import train_minutes
    data = {"train_images": 50000, "use_train_images": "all"}
    minutes = job_minutes(30, "6", on_gpu, engine(device=device), data, 0.9)
    assert minutes == train_minutes(30, 6, gpu_rate, 45000) >= FLOOR_MIN
