"""The workflow on a live SLURM cluster, through profiles/slurm and snakemake-executor-plugin-slurm.

Runs only when SLURM_CONF points at a running cluster, e.g. the single-node test cluster:

    scripts/slurm_test_cluster.sh run -- python -m pytest -m slurm

Otherwise every test here is skipped with the reason (set CIFAR_ABLATION_REQUIRE_SLURM=1 to make
that a failure instead, as CI does).
"""
import json
import os
import re
import shutil
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from workflow_helpers import ROOT, snakemake, snakemake_cmd, tiny_config

pytestmark = pytest.mark.slurm

BLOCKS = ["conv", "res", "skip"]
RUN_FILES = ("model.pt", "history.csv", "train.json", "metrics.json", "per_class.csv",
             "confusion.csv", "confused_pairs.csv", "predictions.csv")
# Test settings on top of profiles/slurm: the test node has 2 CPUs, so one thread per job, and
# status checks start after 5 s instead of the plugin's 40 (jobs here take seconds, not hours).
SLURM_ARGS = ("--profile", str(ROOT / "profiles" / "slurm"), "--set-threads", "train=1", "evaluate=1",
              "--slurm-init-seconds-before-status-checks", "5")
# Numerics the engine guarantees to be bit-identical across a resume: CPU, fp32, no layout change.
EXACT_ENGINE = {"device": "cpu", "channels_last": False, "bf16": False, "compile": False}


def _cluster_problem(conf):
    if not conf:
        return "SLURM_CONF is not set (start a test cluster: scripts/slurm_test_cluster.sh run -- ...)"
    if not Path(conf).is_file():
        return f"SLURM_CONF={conf} is not a file"
    if shutil.which("sinfo") is None:
        return "sinfo not found (apt-get install slurm-wlm munge)"
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        return "snakemake-executor-plugin-slurm is not installed (pip install -e '.[slurm]')"
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%T"], env=dict(os.environ, SLURM_CONF=conf),
                             capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return f"sinfo timed out: no SLURM controller answers for SLURM_CONF={conf}"
    states = out.stdout.split()
    if out.returncode != 0 or not any(s.rstrip("*~#") in ("idle", "mixed", "allocated") for s in states):
        return f"no usable SLURM node for SLURM_CONF={conf}: {(out.stdout + out.stderr).strip()[:200]}"
    return None


@pytest.fixture(scope="module")
def cluster_env():
    """Environment for commands that talk to the cluster (skips the module without one)."""
    conf = os.environ.get("SLURM_CONF")
    problem = _cluster_problem(conf)
    if problem:
        if os.environ.get("CIFAR_ABLATION_REQUIRE_SLURM"):
            pytest.fail(f"a SLURM test cluster is required here: {problem}")
        pytest.skip(problem)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    wrappers = Path(conf).parent / "bin"   # scripts/slurm_test_cluster.sh's client wrappers
    if wrappers.is_dir():
        env["PATH"] = f"{wrappers}{os.pathsep}{env['PATH']}"
    return env


def slurm_jobs(env, workdir):
    """Every job the controller still knows (finished ones for MinJobAge) that ran in `workdir`."""
    out = subprocess.run(["scontrol", "-o", "show", "job"], env=env, capture_output=True,
                         text=True, timeout=30)
    jobs = []
    for line in out.stdout.splitlines():
        rec = dict(re.findall(r"(\w[\w/:]*)=(\S*)", line))
        if rec.get("WorkDir") == str(workdir):
            jobs.append(rec)
    return jobs


def jobs_of(jobs, rule):
    return [j for j in jobs if j.get("Comment", "").startswith(f"rule_{rule}")]


@pytest.fixture(scope="module")
def slurm_run(cluster_env, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("slurm")
    cfg = tiny_config(tmp)
    t0 = time.monotonic()
    proc = snakemake(tmp, "--configfile", str(cfg), *SLURM_ARGS, env=cluster_env, timeout=1200)
    wall = time.monotonic() - t0
    return tmp, proc, wall, slurm_jobs(cluster_env, tmp)


def test_every_training_and_evaluation_job_is_its_own_slurm_job(slurm_run):
    tmp, proc, _, jobs = slurm_run
    out = proc.stdout + proc.stderr
    for rule in ("train", "evaluate"):
        rule_jobs = jobs_of(jobs, rule)
        assert sorted(j["Comment"] for j in rule_jobs) == [
            f"rule_{rule}_wildcards_notebook_{b}_6_0" for b in BLOCKS], jobs
        for j in rule_jobs:
            assert j["JobState"] == "COMPLETED", j
            assert j["Partition"] == "main" and j["Account"] == "none", j
            assert j["NumCPUs"] == "1", j
        assert len(re.findall(rf"rule {rule}:", out)) == 3
    # engine.device auto on a cluster: the train rule's gpu=1 became a one-GPU request
    for j in jobs_of(jobs, "train"):
        assert j.get("TresPerJob") == "gres:gpu:1", j
        assert "mem=8000M" in j["TRES"], j              # the profile's memory for training
    for j in jobs_of(jobs, "evaluate"):
        assert "gpu" not in j.get("TresPerJob", ""), j
    assert len(re.findall(r"has been submitted with SLURM jobid \d+", out)) == len(jobs)
    assert "Falling back to 'sacct'" not in out       # status came from squeue (no accounting here)
    # nothing else went to SLURM: download, summary, figures and report ran on the submitting node
    assert {j["Comment"].split("_wildcards")[0] for j in jobs} == {
        "rule_prepare_cifar10", "rule_split", "rule_train", "rule_evaluate"}


def test_every_output_and_the_report_exist(slurm_run, cluster_env):
    tmp, *_ = slurm_run
    res = tmp / "results"
    for b in BLOCKS:
        for name in RUN_FILES:
            assert (res / "runs/notebook" / b / "n6/seed0" / name).stat().st_size > 0, (b, name)
        assert not (res / "checkpoints/notebook" / b / "n6/seed0.pt").exists()
        assert "epoch   2/2" in (tmp / "logs/train/notebook" / b / "n6/seed0.log").read_text()
    html = (res / "report.html").read_text()
    assert "Custom_ResNet" in html and html.count("data:image/png;base64,") >= 9
    runs = pd.read_csv(res / "summary/runs.csv")
    assert list(runs.model) == ["Custom_ConvNet", "Custom_ResNet", "Custom_SkipNet"]
    dry = snakemake(tmp, "--configfile", str(tmp / "test_config.yaml"), "-n", "--cores", "1",
                    env=cluster_env)
    assert "Nothing to be done" in dry.stdout + dry.stderr


def test_overhead_per_slurm_job(slurm_run, tmp_path, capsys):
    """Wall time of the SLURM run minus the same run on the local machine, per SLURM job."""
    _, _, slurm_wall, jobs = slurm_run
    cfg = tiny_config(tmp_path)
    t0 = time.monotonic()
    snakemake(tmp_path, "--configfile", str(cfg), "--cores", "2", "--resources", "gpu=1")
    local_wall = time.monotonic() - t0
    per_job = (slurm_wall - local_wall) / len(jobs)
    with capsys.disabled():
        print(f"\nSLURM overhead: SLURM run {slurm_wall:.1f} s, local run {local_wall:.1f} s, "
              f"{len(jobs)} SLURM jobs: {per_job:.1f} s per job")
    # A measurement, printed, not asserted (timings depend on the machine's load).
    assert len(jobs) == 8                        # prepare, split, 3 train, 3 evaluate


def _wait_for(predicate, timeout, what):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _running_train_job(env, work, comment):
    out = subprocess.run(["squeue", "-h", "-t", "running", "-o", "%i|%k|%Z"], env=env,
                         capture_output=True, text=True, timeout=30).stdout
    return [line.split("|")[0] for line in out.splitlines()
            if line.split("|")[1:] == [comment, str(work)]]


def test_training_cancelled_by_slurm_is_retried_resumes_and_ends_as_if_never_interrupted(
        cluster_env, tmp_path, capsys):
    """The profile's retries: SLURM cancels the training job after an epoch, the one workflow
    command submits it again by itself, and the new job resumes from the checkpoint."""
    epochs = 20
    run = "notebook/res/n6/seed0"
    target = f"results/runs/{run}/metrics.json"
    work, ref = tmp_path / "slurm", tmp_path / "local"
    for d in (work, ref):
        d.mkdir()
        tiny_config(d, per_class_train=50, per_class_test=5, epochs=epochs, engine=EXACT_ENGINE,
                    block_types=["res"], n_blocks=[6], seeds=[0], recipes=["notebook"])
    args = ("--configfile", "test_config.yaml", *SLURM_ARGS, target)
    log = work / f"logs/train/{run}.log"
    ckpt = work / f"results/checkpoints/{run}.pt"

    # 1. Start the run; once training has finished an epoch, SLURM cancels the job.
    t0 = time.monotonic()
    first = subprocess.Popen(snakemake_cmd(*args), cwd=work, env=cluster_env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        _wait_for(lambda: log.exists() and re.search(r"epoch\s+\d+/", log.read_text()), 300,
                  f"an epoch line in {log}")
        job_id = _wait_for(lambda: _running_train_job(
            cluster_env, work, "rule_train_wildcards_notebook_res_6_0"), 60,
            "the training job in squeue")[0]
        done = [int(k) for k in re.findall(r"epoch\s+(\d+)/", log.read_text())]
        subprocess.run(["scancel", job_id], env=cluster_env, check=True, timeout=30)
        # 2. No command typed again: the same Snakemake retries the job and finishes.
        out, _ = first.communicate(timeout=900)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    wall = time.monotonic() - t0
    assert first.returncode == 0, out[-3000:]
    assert "CANCELLED" in out, out[-3000:]
    assert 1 <= max(done) < epochs, f"not cancelled in the middle: epochs {done}"
    resumed = re.findall(r"resumed from (\S+) after epoch (\d+)", log.read_text())
    assert len(resumed) == 1, log.read_text()
    assert resumed[0][0] == f"results/checkpoints/{run}.pt"
    assert max(done) <= int(resumed[0][1]) < epochs   # at most the epoch in flight was lost
    assert not ckpt.exists()
    states = {j["JobId"]: j["JobState"] for j in jobs_of(slurm_jobs(cluster_env, work), "train")}
    assert states[job_id] == "CANCELLED", states
    assert sorted(states.values()) == ["CANCELLED", "COMPLETED"], (states, out[-2000:])
    for j in jobs_of(slurm_jobs(cluster_env, work), "train"):   # engine.device cpu: no GPU asked for
        assert "gpu" not in j.get("TresPerJob", ""), j
    with capsys.disabled():   # a measurement for docs/cluster.md, printed, not asserted
        print(f"\nretry after scancel: {len(slurm_jobs(cluster_env, work))} SLURM jobs, one command, "
              f"{wall:.1f} s wall time, resumed after epoch {resumed[0][1]} of {epochs}")

    # 3. An uninterrupted run with the same seed (locally) ends with identical results.
    snakemake(ref, "--configfile", "test_config.yaml", "--cores", "1", target)
    exact = ["epoch", "train_loss", "train_acc_running", "train_acc", "val_acc", "lr"]
    hist = {d: pd.read_csv(d / f"results/runs/{run}/history.csv", dtype=str)[exact] for d in (work, ref)}
    assert len(hist[work]) == epochs
    pd.testing.assert_frame_equal(hist[work], hist[ref])
    metrics = {d: json.loads((d / target).read_text()) for d in (work, ref)}
    assert metrics[work]["test_acc"] == metrics[ref]["test_acc"]
    assert ((work / f"results/runs/{run}/predictions.csv").read_bytes()
            == (ref / f"results/runs/{run}/predictions.csv").read_bytes())


def test_cuda_on_a_node_without_one_is_one_line_in_the_training_job(cluster_env, tmp_path):
    """The login node has no GPU, so the DAG build accepts engine.device: cuda; the training job
    on the (fake-GPU) node says in one line that the node has none, naming the key."""
    run = "notebook/conv/n1/seed0"
    tiny_config(tmp_path, engine={"device": "cuda"}, block_types=["conv"], n_blocks=[1],
                seeds=[0], recipes=["notebook"])
    # data and split made locally (as cpu: the local DAG build would refuse cuda), so the training
    # job is the only SLURM job
    snakemake(tmp_path, "--configfile", "test_config.yaml", "--cores", "1", "--until", "split",
              "--config", "engine={device: cpu}")
    proc = snakemake(tmp_path, "--configfile", "test_config.yaml", *SLURM_ARGS, "--retries", "0",
                     f"results/runs/{run}/train.json", env=cluster_env, ok=False, timeout=600)
    text = (tmp_path / f"logs/train/{run}.log").read_text()
    assert [ln.split("] ", 1)[1] for ln in text.splitlines()] == [
        "error: engine.device: cuda but this node has no CUDA device (PyTorch sees none); use "
        "engine.device: auto or cpu, or run where a GPU is"], text
    assert "rule train" in proc.out and "config error" not in proc.out   # built, then refused
    assert [j["JobState"] for j in jobs_of(slurm_jobs(cluster_env, tmp_path), "train")] == ["FAILED"]


# engine.runs_per_job (docs/cluster.md, "Several runs per job"): a 9-run study, 2 tiny epochs
PACKED_STUDY = dict(block_types=BLOCKS, n_blocks=[1], seeds=[0, 1, 2], recipes=["notebook"])
PACKED_RUNS = [f"notebook/{b}/n1/seed{s}" for b in BLOCKS for s in (0, 1, 2)]


def _log_span(path):
    """(first, last) time stamp of a run's log."""
    stamps = re.findall(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)\]", path.read_text(), re.M)
    return datetime.fromisoformat(stamps[0]), datetime.fromisoformat(stamps[-1])


def test_nine_runs_packed_three_per_job_are_three_slurm_jobs_with_the_same_results(
        cluster_env, tmp_path, capsys):
    """The shipped default (a SLURM job per run) against engine.runs_per_job: 3 on the same
    9-run study: 9 training jobs against 3, each pack with one GPU, its runs side by side, and
    every run's history equal to that of the same run trained locally. The data and split are
    made locally first, so training jobs are the only SLURM jobs; the wall times are printed."""
    base = tmp_path / "base"
    base.mkdir()
    tiny_config(base, **PACKED_STUDY)
    snakemake(base, "--configfile", "test_config.yaml", "--cores", "1", "--until", "split")
    targets = [f"results/runs/{run}/train.json" for run in PACKED_RUNS]
    # The test node has 2 CPUs and about 19 GB: 2 GB per run, and --cores 2 caps a pack's CPUs
    # (Snakemake then runs two of its runs side by side, then the third).
    small = ("--set-resources", "train:mem_mb=2000")
    settings = {"local": ("--cores", "2"),
                "jobs": (*SLURM_ARGS, *small),
                "packs": (*SLURM_ARGS, *small, "--cores", "2", "--config", "engine={runs_per_job: 3}")}
    wall, work = {}, {}
    for name, args in settings.items():
        work[name] = tmp_path / name
        shutil.copytree(base, work[name], symlinks=True)
        t0 = time.monotonic()
        snakemake(work[name], *targets, "--configfile", "test_config.yaml", *args, env=cluster_env,
                  timeout=900)
        wall[name] = time.monotonic() - t0

    one_per_run = jobs_of(slurm_jobs(cluster_env, work["jobs"]), "train")
    assert len(one_per_run) == 9 and all(j["TresPerJob"] == "gres:gpu:1" for j in one_per_run)
    packs = jobs_of(slurm_jobs(cluster_env, work["packs"]), "train-pack")
    assert len(packs) == 3, packs
    for j in packs:
        assert j["JobState"] == "COMPLETED" and j["NumCPUs"] == "2", j
        assert j.get("TresPerNode") == "gres:gpu:1" and "TresPerJob" not in j, j   # one GPU
    # each pack: three runs in one SLURM job, sharing its GPU, at least two of them side by side
    by_job = {}
    for run in PACKED_RUNS:
        log = work["packs"] / f"logs/train/{run}.log"
        job = re.search(r"set by SLURM job (\d+)", log.read_text()).group(1)
        by_job.setdefault(job, []).append(_log_span(log))
    assert sorted(by_job) == sorted(j["JobId"] for j in packs), by_job
    for spans in by_job.values():
        assert len(spans) == 3
        spans.sort()
        assert any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:])), spans
    exact = ["epoch", "train_loss", "train_acc_running", "train_acc", "val_acc", "lr"]
    for run in PACKED_RUNS:
        hist = {n: pd.read_csv(work[n] / f"results/runs/{run}/history.csv", dtype=str)[exact]
                for n in work}
        pd.testing.assert_frame_equal(hist["jobs"], hist["local"])
        pd.testing.assert_frame_equal(hist["packs"], hist["local"])
    with capsys.disabled():   # a measurement for docs/cluster.md, printed, not asserted
        for name, n_jobs in (("jobs", len(one_per_run)), ("packs", len(packs))):
            print(f"\n9 runs, {name}: {n_jobs} SLURM jobs, {wall[name]:.1f} s (local "
                  f"{wall['local']:.1f} s): {(wall[name] - wall['local']) / 9:.1f} s overhead per run")
