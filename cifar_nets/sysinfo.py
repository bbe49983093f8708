"""Deprecated: the report node's environment under its old key names.

The one environment record is :func:`cifar_nets.hardware.environment_record`. This module only
keeps :func:`environment_info` (the same facts as ``hostname``, ``cuda_version``,
``cpu_count_usable``, ``cuda_available``, ``torch_threads``) for workflow_scripts/report.py and
tests/test_plots_report.py until they read the record; then it goes. It never raises and never
imports Snakemake.
"""
from __future__ import annotations

import importlib.metadata as _md  # noqa: F401 - tests patch _md.version (the shared module)

from .hardware import NOT_INSTALLED, UNKNOWN, cpu_model, environment_record, package_version  # noqa: F401

# old key -> key of the record
_OLD_NAMES = {"hostname": "host", "cuda_version": "cuda", "cpu_count_usable": "cpus_usable"}
_RUN_ONLY = ("device", "device_name", "compute_capability")


def environment_info() -> dict:
    """environment_record() for no device, under the old key names, plus cuda_available and
    torch_threads."""
    record = environment_record()
    new_to_old = {v: k for k, v in _OLD_NAMES.items()}
    info = {new_to_old.get(k, k): v for k, v in record.items() if k not in _RUN_ONLY}
    info["cuda_available"] = bool(record["cuda_devices"])
    try:
        import torch  # noqa: PLC0415
        info["torch_threads"] = int(torch.get_num_threads())
    except ImportError:
        info["torch_threads"] = NOT_INSTALLED
    except Exception:  # noqa: BLE001
        info["torch_threads"] = UNKNOWN
    return info
