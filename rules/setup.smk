# What has to happen while the Snakefile loads, before the rules are read. The package made
# importable; the config checked (how it arrived, then its values) and replaced by the validated
# one, the host checked against engine.device/gpus, and Snakemake's cores set where --cores is
# missing or more than the usable cores. Everything else is computed when a rule asks
# (rules/common.smk, rules/resources.smk, rules/seeds.smk).
import os
import sys

# 1. The project's folder on sys.path: the rules and the job scripts import cifar_nets from it.
sys.path.insert(0, workflow.basedir)
from cifar_nets.config import ConfigError, load_schema, validate_config  # noqa: E402
from cifar_nets.machine.hardware import usable_cpus  # noqa: E402
from cifar_nets.machine.policy import core_setting, host_config_error  # noqa: E402
from snakemake.logging import logger  # noqa: E402
from workflow_scripts.snakemake_api import (  # noqa: E402 - Snakemake beyond its documented API
    cap_cores,
    config_source_error,
    default_cores,
    profile_files,
    provided_cores,
    runs_as_job,
    uses_nodes,
)

# 2. A second --configfile or --config, or a profile's configfile:/config: with the same flag on
# the command line: Snakemake would drop config without a word (workflow_scripts/snakemake_api.py).
_config_source = config_source_error(sys.argv, profile_files())
if _config_source:
    raise WorkflowError(f"config error: {_config_source}")

# 3. The config validated, with the schema's defaults filled in: replaced in place, since
# `config` is what every rule reads and what each job script gets as snakemake.config.
try:
    _validated = validate_config(
        config, load_schema(os.path.join(workflow.basedir, "config", "schema.yaml"))
    )
except ConfigError as exc:
    raise WorkflowError(f"config error: {exc}") from None
config.clear()
config.update(_validated)

# 4. engine.device or engine.gpus that this host lacks, where it trains: one line before any
# job (cifar_nets/machine/policy.py). A check only; it sets nothing.
_host_error = host_config_error(
    config["engine"],
    uses_nodes=uses_nodes(workflow),
    in_job=runs_as_job(workflow),
    environ=os.environ,
)
if _host_error:
    raise WorkflowError(f"config error: {_host_error}")

# 5. The cores Snakemake plans and schedules with (cifar_nets/machine/policy.py core_setting): set
# now, since Snakemake checks them right after reading the Snakefile, before any rule asks.
_core_setting = core_setting(
    provided_cores(workflow), usable_cpus(), uses_nodes(workflow)
)
if _core_setting.action == "default":
    default_cores(workflow, _core_setting.cores)
elif _core_setting.action == "cap":
    cap_cores(workflow, _core_setting.cores)
    logger.warning(_core_setting.warning)
