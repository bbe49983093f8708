"""The one place that reads Snakemake's workflow object beyond its documented API.

The rules need these facts and levers Snakemake has no public accessor for: whether jobs go to
a cluster (nodes instead of cores), whether the executor runs jobs on this host, what
`--resources` gave a resource, a way to merge unconnected jobs of a group (`--group-components`,
set while the DAG is built), a way to lower the core count the scheduler plans with (`--cores`
above the usable cores) or to set it (no `--cores`), and which profile files gave default
command-line arguments (a profile's `configfile:` or `config:` that the command line silently
replaces: `config_source_error`). `workflow.cores` is documented (rules may use it for threads);
the rest is Snakemake 9's internals. tests/test_snakemake_api.py runs a real Snakemake on a tiny Snakefile
and fails loudly when a release changes any of them.
"""
from __future__ import annotations

import inspect
from pathlib import Path

import yaml
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


def runs_as_job(workflow) -> bool:
    """True inside a job that a cluster executor submitted (the Snakemake that a SLURM job runs
    for its one rule, `--mode remote`): its Snakefile is read on the compute node."""
    return bool(workflow.remote_exec)


def given_resource(workflow, name: str):
    """The value `--resources NAME=...` gave (None when not given)."""
    resource = workflow.global_resources.get(name)
    return getattr(resource, "value", resource)


def cap_cores(workflow, cores: int) -> None:
    """Plan and schedule with `cores` instead of what --cores said."""
    workflow.global_resources["_cores"] = cores


def set_group_components(workflow, group: str, count: int) -> None:
    """As `--group-components GROUP=COUNT`: Snakemake merges `count` unconnected jobs of `group`
    into one group job (one cluster job). Kept unless the command line gave one for `group`."""
    settings = workflow.group_settings
    if group not in settings.group_components:
        settings.group_components = {**settings.group_components, group: count}


def default_cores(workflow, cores: int) -> None:
    """Run with `cores` where --cores was not given: Snakemake would otherwise stop a local run
    with "cores have to be specified" (it checks after reading the Snakefile). Not through the
    workflow profile's `cores:`: that would also cap every cluster job's threads at the submit
    host's cores (Snakemake constrains threads by --cores even for remote jobs), and a
    `--profile` cannot undo a workflow profile's key."""
    workflow.resource_settings.cores = cores
    workflow.global_resources["_cores"] = cores


# --------------------------------------------------------------------------- how config arrives

CONFIGFILE_FLAGS = ("--configfile", "--configfiles")
CONFIG_FLAGS = ("--config", "-C")


def flag_count(argv, names) -> int:
    """How often one of the options `names` is on the command line `argv` (argv[0] is the
    program): `--name`, `--name=...`, and for a short `-X` also `-Xvalue`. Stops at `--`."""
    count = 0
    for arg in argv[1:]:
        if arg == "--":
            break
        name = arg.split("=", 1)[0]
        short = [n for n in names if len(n) == 2 and arg.startswith(n) and not arg.startswith("--")]
        count += name in names or bool(short)
    return count


def profile_files() -> list[Path]:
    """The profile files (`--profile`, SNAKEMAKE_PROFILE, the workflow profile) this Snakemake
    read its default arguments from, later ones overriding earlier ones; [] when Snakemake was
    not started from its command line (the API, a job's own Snakemake)."""
    frame = inspect.currentframe()
    while frame is not None:
        if (frame.f_code.co_name == "args_to_api"
                and frame.f_globals.get("__name__") == "snakemake.cli"):
            parser = frame.f_locals.get("parser")
            return [Path(p) for p in getattr(parser, "_default_config_files", None) or []]
        frame = frame.f_back
    return []


def _profile_keys(path) -> dict:
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError):   # Snakemake read it already (with yte): not our concern
        return {}
    return data if isinstance(data, dict) else {}


def config_source_error(argv, profiles=()) -> str | None:
    """Why the config Snakemake reads is not what the command line and profiles say, or None.

    Snakemake (argparse) keeps only the last `--configfile` and the last `--config` flag, and a
    `configfile:` or `config:` in a profile is replaced, not merged, by the same flag on the
    command line or by a later profile. Each of these would drop config without a word, so each
    is one line saying what to do instead."""
    if flag_count(argv, CONFIGFILE_FLAGS) > 1:
        return ("--configfile given more than once; Snakemake reads only the files after the last "
                "one. List every file after one flag: --configfile a.yaml b.yaml")
    if flag_count(argv, CONFIG_FLAGS) > 1:
        return ("--config given more than once; Snakemake keeps only the values after the last "
                "one. Give every KEY=VALUE after one flag: --config a=1 b=2")
    for keys, flag, word in ((CONFIGFILE_FLAGS, "--configfile", "files"),
                             (CONFIG_FLAGS[:1], "--config", "values")):
        setting = [p for p in profiles if any(k.lstrip("-") in _profile_keys(p) for k in keys)]
        if setting and flag_count(argv, keys):
            return (f"the profile {setting[-1]} sets {flag.lstrip('-')}:, and {flag} on the "
                    f"command line replaces it (Snakemake does not merge them). Give all the "
                    f"{word} in one place: after one {flag} on the command line, or in the profile")
        if len(setting) > 1:
            return (f"the profiles {setting[0]} and {setting[-1]} both set {flag.lstrip('-')}:, "
                    f"and Snakemake keeps only the last one's. Give all the {word} in one profile "
                    f"or after one {flag} on the command line")
    return None
