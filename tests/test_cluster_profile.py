"""profiles/slurm asks SLURM for a GPU per training job only when training runs on one.

No cluster needed: a dry run under the profile shows each training job's `gpu` resource, and a
real run with stand-in SLURM commands on PATH (a `sbatch` that records its arguments and refuses
the job) shows the exact sbatch call the SLURM executor plugin builds from it. These run in CI
(where the plugin is installed); elsewhere they are skipped without the plugin, as in
tests/test_slurm.py (CIFAR_ABLATION_REQUIRE_SLURM=1 makes that a failure).
"""
import os
import re
import shlex

import pytest
import yaml

from cifar_nets.machine.runtime import FLOOR_MIN, train_minutes
from workflow_helpers import ROOT, snakemake, tiny_config

PROFILE = ROOT / "profiles" / "slurm"
RUN = dict(block_types=["conv"], n_blocks=[2], seeds=[0], recipes=["notebook"])
TRAIN_TARGET = "results/runs/notebook/conv/n2/seed0/train.json"
# The SLURM client commands the plugin may call; every one is a stand-in here.
SLURM_COMMANDS = ("sbatch", "squeue", "sinfo", "sacct", "sacctmgr", "sshare", "scontrol",
                  "scancel", "srun")


@pytest.fixture(autouse=True)
def _slurm_plugin():
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        problem = "snakemake-executor-plugin-slurm is not installed (pip install -e '.[slurm]')"
        if os.environ.get("CIFAR_ABLATION_REQUIRE_SLURM"):
            pytest.fail(problem)
        pytest.skip(problem)


def _rule_blocks(out, rule):
    """The blocks Snakemake prints for each job of `rule` (up to the next blank line)."""
    return re.findall(rf"^rule {rule}:\n(.*?)(?:\n\n|\Z)", out, re.M | re.S)


def train_resources(out):
    """{resource: value} of every training job a dry run lists."""
    jobs = []
    for block in _rule_blocks(out, "train"):
        line = re.search(r"^\s+resources: (.*)$", block, re.M).group(1)
        jobs.append(dict(kv.split("=", 1) for kv in line.split(", ")))
    return jobs


def dry_run(tmp_path, device):
    cfg = tiny_config(tmp_path, **RUN)
    proc = snakemake(tmp_path, "-n", "--profile", str(PROFILE), "--configfile", str(cfg),
                     "--config", f"engine={{device: {device}}}")
    jobs = train_resources(proc.out)
    assert len(jobs) == 1, proc.out[-3000:]
    return jobs[0]


def test_dry_run_cpu_training_jobs_ask_for_no_gpu(tmp_path):
    job = dry_run(tmp_path, "cpu")
    assert job.get("gpu", "0") == "0", job
    assert job["mem_mb"] == "8000", job                 # the profile's own still apply
    assert job["runtime"] == str(FLOOR_MIN), job        # 2 epochs of 108 images: the floor


def test_dry_run_cuda_training_jobs_ask_for_one_gpu(tmp_path):
    assert dry_run(tmp_path, "cuda")["gpu"] == "1"


def test_dry_run_shows_each_training_jobs_runtime_from_its_recipe_depth_and_device(tmp_path):
    """A thousand epochs of 5,000 images (nothing trains in a dry run), so that the estimate
    is above the floor: each job's runtime is the library's estimate for its own recipe epochs
    and depth, and a GPU job asks for less than a CPU one."""
    images = 4500                                         # 5,000 training images x 0.9
    cfg = tiny_config(tmp_path, per_class_train=500, epochs=1000, block_types=["conv"], n_blocks=[0, 12], seeds=[0],
                      recipes=["notebook", "modern"])
    data = yaml.safe_load(cfg.read_text())
    data["recipes"]["modern"]["epochs"] = 2000
    cfg.write_text(yaml.safe_dump(data))
    got = {}
    for device in ("cpu", "cuda"):
        proc = snakemake(tmp_path, "-n", "--profile", str(PROFILE), "--configfile", str(cfg),
                         "--config", f"engine={{device: {device}}}")
        for block in _rule_blocks(proc.out, "train"):
            wc = dict(kv.split("=", 1) for kv in
                      re.search(r"^\s+wildcards: (.*)$", block, re.M).group(1).split(", "))
            res = dict(kv.split("=", 1) for kv in
                       re.search(r"^\s+resources: (.*)$", block, re.M).group(1).split(", "))
            got[device, wc["recipe"], int(wc["n_blocks"])] = int(res["runtime"])
    assert len(got) == 8, got
    for (device, recipe, n), minutes in got.items():
        epochs = 2000 if recipe == "modern" else 1000
        assert minutes == train_minutes(epochs, n, device == "cuda", images), (device, recipe, n)
        assert minutes > FLOOR_MIN
    for device in ("cpu", "cuda"):
        assert got[device, "notebook", 12] > got[device, "notebook", 0]       # deeper: longer
        assert got[device, "modern", 0] > got[device, "notebook", 0]          # more epochs: longer
    assert got["cuda", "notebook", 12] < got["cpu", "notebook", 12]           # GPU: shorter


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A work folder with the tiny data and split already made (locally), so that the training
    job is the first one the SLURM executor submits."""
    work = tmp_path_factory.mktemp("profile")
    cfg = tiny_config(work, **RUN)
    snakemake(work, "--cores", "1", "--configfile", str(cfg), "--until", "split")
    return work, cfg


def sbatch_call(work, cfg, device, tmp_path, *extra, targets=(TRAIN_TARGET,)):
    """Run the training job under the profile with stand-in SLURM commands; the arguments the
    plugin gave sbatch (the stand-in refuses the job, so Snakemake stops at once)."""
    bin_dir, log = tmp_path / "bin", tmp_path / "slurm-calls.log"
    bin_dir.mkdir()
    stub = bin_dir / "slurm-stand-in"
    stub.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$(basename "$0") $*" >> {shlex.quote(str(log))}\n'
        'if [ "$(basename "$0")" = sbatch ]; then echo "sbatch: stand-in refuses" >&2; exit 1; fi\n'
        "exit 0\n")
    stub.chmod(0o755)
    for name in SLURM_COMMANDS:
        (bin_dir / name).symlink_to(stub.name)
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    proc = snakemake(work, "--profile", str(PROFILE), "--configfile", str(cfg),
                     "--config", f"engine={{device: {device}}}",
                     *extra, "--slurm-init-seconds-before-status-checks", "1", *targets,
                     ok=False, env=env, timeout=300)
    calls = [line.split(" --wrap=")[0] for line in log.read_text().splitlines()
             if line.startswith("sbatch ")]
    # (the plugin shows sbatch's message for a single job; for a group job only that it failed)
    assert "stand-in refuses" in proc.out or len(targets) > 1, proc.out[-3000:]
    # the profile's retries: the refused job is submitted 1 + 2 times, each time the same way
    assert len(calls) == 3, calls
    assert len({c.split(" --job-name ")[0] + c.split(" --output ")[1] for c in calls}) == 1, calls
    assert "rule_train" in calls[0], calls
    return calls[0].split()


@pytest.mark.workflow
def test_sbatch_of_a_cpu_training_job_has_no_gpu_request(prepared, tmp_path):
    args = sbatch_call(*prepared, "cpu", tmp_path)
    assert not [a for a in args if a.startswith(("--gpus", "--gres", "--gpus-per"))], args
    assert "--cpus-per-task=4" in args, args              # the profile's set-threads for train
    assert "--requeue" in args, args                      # a preempted job goes back to the queue
    assert args[args.index("-t") + 1] == str(FLOOR_MIN), args   # the estimate: 2 tiny epochs


@pytest.mark.workflow
def test_the_runtime_estimate_is_overridden_per_rule_on_the_command_line(prepared, tmp_path):
    args = sbatch_call(*prepared, "cpu", tmp_path, "--set-resources", "train:runtime=600",
                       "train:mem_mb=8000")
    assert args[args.index("-t") + 1] == "600", args


@pytest.mark.workflow
def test_sbatch_of_an_auto_training_job_on_a_cluster_asks_for_one_gpu(prepared, tmp_path):
    args = sbatch_call(*prepared, "auto", tmp_path)
    assert "--gpus=1" in args, args


@pytest.mark.workflow
def test_more_cpus_for_cpu_training_as_docs_cluster_md_shows(prepared, tmp_path):
    """docs/cluster.md: a command-line --set-threads replaces the profile's whole list, so it names
    all four rules; training then gets 16 CPUs and still no GPU."""
    args = sbatch_call(*prepared, "cpu", tmp_path,
                       "--set-threads", "train=16", "evaluate=2", "prepare_cifar10=1", "split=1")
    assert "--cpus-per-task=16" in args, args
    assert not [a for a in args if a.startswith(("--gpus", "--gres", "--gpus-per"))], args


@pytest.mark.workflow
def test_a_pack_of_three_runs_is_one_sbatch_with_one_gpu_and_their_cpus(tmp_path):
    """engine.runs_per_job: 3 (docs/cluster.md): three training runs are one SLURM job that asks
    for one GPU (--gres=gpu:1, not --gpus=3), three runs' CPUs and memory, and three times a
    run's time limit (three runs share the GPU)."""
    cfg = tiny_config(tmp_path, block_types=["conv"], n_blocks=[2], seeds=[0, 1, 2],
                      recipes=["notebook"])
    snakemake(tmp_path, "--cores", "1", "--configfile", str(cfg), "--until", "split")
    targets = [f"results/runs/notebook/conv/n2/seed{s}/train.json" for s in range(3)]
    (tmp_path / "calls").mkdir()
    args = sbatch_call(tmp_path, cfg, "auto, runs_per_job: 3", tmp_path / "calls", targets=targets)
    assert "--gres=gpu:1" in args and not [a for a in args if a.startswith("--gpus")], args
    assert "--cpus-per-task=12" in args, args               # 3 x the profile's 4 threads
    assert args[args.index("--mem") + 1] == "24000", args   # 3 x the profile's 8000 MB
    assert args[args.index("-t") + 1] == str(3 * FLOOR_MIN), args
    assert "rule_train-pack_train" in " ".join(args), args
