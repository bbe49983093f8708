"""The Snakemake internals the rules rely on (workflow_scripts/snakemake_api.py), read by a real
Snakemake: a release that changes any of them fails here, not silently in a study."""
import subprocess
import sys

import pytest

from workflow_helpers import ROOT

SNAKEFILE = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
from workflow_scripts.snakemake_api import (cap_cores, default_cores, given_resource,
                                            profile_files, provided_cores, runs_locally, uses_nodes)
print("PARSED", provided_cores(workflow), uses_nodes(workflow), given_resource(workflow, "gpu"),
      flush=True)
print("PROFILES", [p.parent.name for p in profile_files()], flush=True)
if provided_cores(workflow):
    cap_cores(workflow, 1)
else:
    default_cores(workflow, 2)


def local(wildcards):
    print("EXECUTOR-LOCAL", runs_locally(workflow), flush=True)
    return 0


rule all:
    resources:
        probe=local,
    threads: 3
    shell:
        "echo threads={{threads}}"
"""


def _run(tmp_path, *args):
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    r = subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout + r.stderr


@pytest.mark.workflow
@pytest.mark.fast
def test_cores_resources_and_the_executor_are_read_and_the_cap_is_obeyed(tmp_path):
    out = _run(tmp_path, "--cores", "3", "--resources", "gpu=2")
    assert "PARSED 3 False 2" in out, out
    assert "EXECUTOR-LOCAL True" in out, out
    assert "Provided cores: 1" in out and "threads=1" in out, out   # the cap reached the scheduler


@pytest.mark.workflow
@pytest.mark.fast
def test_a_dry_run_without_cores_gets_snakemakes_one_core_and_no_resources(tmp_path):
    out = _run(tmp_path, "-n")
    assert "PARSED 1 False None" in out, out


@pytest.mark.workflow
@pytest.mark.fast
def test_no_cores_runs_on_the_default_and_the_profiles_read_are_known(tmp_path):
    """default_cores stands in for a missing --cores (Snakemake would stop: "cores have to be
    specified"); profile_files names the profiles Snakemake read, the workflow profile last."""
    (tmp_path / "profiles/default").mkdir(parents=True)
    (tmp_path / "profiles/default/config.yaml").write_text("keep-going: true\n")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine/config.yaml").write_text("printshellcmds: true\n")
    out = _run(tmp_path, "--profile", "mine")
    assert "PARSED None False None" in out and "PROFILES ['mine', 'default']" in out, out
    assert "Provided cores: 2" in out and "threads=2" in out, out


GROUPED = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
from workflow_scripts.snakemake_api import set_group_components


def pack(wildcards):
    set_group_components(workflow, "pack", 2)   # while the DAG is built, as rules/common.smk
    return "pack"


rule all:
    input:
        expand("out{{i}}.txt", i=range(5)),


rule one:
    output:
        "out{{i}}.txt",
    group:
        pack
    shell:
        "touch {{output}}"
"""


@pytest.mark.workflow
def test_group_components_set_while_the_dag_is_built_merge_unconnected_jobs(tmp_path):
    """set_group_components: five unconnected jobs of a group become three group jobs (2, 2, 1),
    as `--group-components pack=2` would make them (a dry run shows the group jobs)."""
    (tmp_path / "Snakefile").write_text(GROUPED)
    r = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert out.count("Group job pack") == 3, out
