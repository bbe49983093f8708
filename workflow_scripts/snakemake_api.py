"""The one place that reads Snakemake's workflow object beyond its documented API.

The rules need four facts Snakemake has no public accessor for: whether jobs go to a cluster
(nodes instead of cores), whether the executor runs jobs on this host, what `--resources` gave
a resource, and a way to lower the core count the scheduler plans with (`--cores` above the
usable cores). `workflow.cores` is documented (rules may use it for threads); the rest is
Snakemake 9's internals. tests/test_snakemake_api.py runs a real Snakemake on a tiny Snakefile
and fails loudly when a release changes any of them.
"""
from __future__ import annotations

from snakemake.exceptions import WorkflowError


def provided_cores(workflow) -> int | None:
    """--cores as Snakemake parsed it; None when none was given (a dry run) or on a cluster."""
    try:
        cores = workflow.cores
    except WorkflowError:  # "requires a total number of cores": none was given
        return None
    return cores if isinstance(cores, int) else None


def uses_nodes(workflow) -> bool:
    """True when Snakemake submits jobs to a cluster or cloud (--jobs N with a remote executor)."""
    return workflow.global_resources["_nodes"].value is not None


def runs_locally(workflow) -> bool:
    """True unless a cluster executor runs the jobs. Known only once the executor is set (in
    resource and thread callables, not while the Snakefile is read)."""
    plugin = workflow.executor_plugin
    return plugin is None or plugin.common_settings.local_exec


def given_resource(workflow, name: str):
    """The value `--resources NAME=...` gave (None when not given)."""
    resource = workflow.global_resources.get(name)
    return getattr(resource, "value", resource)


def cap_cores(workflow, cores: int) -> None:
    """Plan and schedule with `cores` instead of what --cores said."""
    workflow.global_resources["_cores"] = cores
