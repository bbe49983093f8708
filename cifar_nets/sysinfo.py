"""What machine and software a run used, for the report's "Environment" section.

:func:`environment_info` never raises: a missing package is reported as ``"not installed"``,
and a probe that fails for any other reason as ``"unknown"``. Snakemake's version is read from
package metadata; Snakemake itself is never imported.
"""

from __future__ import annotations

import importlib.metadata as _md
import os
import platform
import socket
import sys

NOT_INSTALLED = "not installed"
UNKNOWN = "unknown"

# distribution names whose versions are reported (key in the result -> distribution)
_PACKAGES = {
    "torchvision": "torchvision",
    "numpy": "numpy",
    "pandas": "pandas",
    "matplotlib": "matplotlib",
    "seaborn": "seaborn",
    "snakemake": "snakemake",
}


def package_version(dist: str) -> str:
    """Installed version of distribution ``dist`` (from metadata, nothing is imported)."""
    try:
        return _md.version(dist)
    except _md.PackageNotFoundError:
        return NOT_INSTALLED
    except Exception:  # noqa: BLE001
        return UNKNOWN


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo when present, else what :mod:`platform` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key.strip().lower() in ("model name", "hardware", "cpu model", "processor name"):
                    if value.strip():
                        return value.strip()
    except OSError:
        pass
    try:
        return platform.processor() or platform.machine() or UNKNOWN
    except Exception:  # noqa: BLE001
        return UNKNOWN


def _usable_cpus() -> int:
    from .hardware import usable_cpus  # noqa: PLC0415
    return usable_cpus()


def _torch_info() -> dict:
    info = {"torch": NOT_INSTALLED, "torch_threads": NOT_INSTALLED,
            "cuda_available": False, "cuda_version": NOT_INSTALLED, "cuda_devices": []}
    try:
        import torch  # noqa: PLC0415 - optional, heavy
    except ImportError:
        return info
    except Exception:  # noqa: BLE001 - a broken install must not break the report
        info["torch"] = UNKNOWN
        return info
    info["torch"] = str(getattr(torch, "__version__", UNKNOWN))
    try:
        info["torch_threads"] = int(torch.get_num_threads())
    except Exception:  # noqa: BLE001
        info["torch_threads"] = UNKNOWN
    try:
        info["cuda_version"] = str(torch.version.cuda) if torch.version.cuda else "none"
    except Exception:  # noqa: BLE001
        info["cuda_version"] = UNKNOWN
    try:
        available = bool(torch.cuda.is_available())
        info["cuda_available"] = available
        if available:
            info["cuda_devices"] = [torch.cuda.get_device_name(i)
                                    for i in range(torch.cuda.device_count())]
    except Exception:  # noqa: BLE001
        pass
    return info


def environment_info() -> dict:
    """Flat dict describing interpreter, hardware and package versions.

    Keys: python, python_executable, platform, hostname, cpu_model, cpu_count,
    cpu_count_usable, torch, torch_threads, cuda_available, cuda_version, cuda_devices (list of
    names), torchvision, numpy, pandas, matplotlib, seaborn, snakemake.
    """
    info: dict = {}

    def probe(key, fn):
        try:
            info[key] = fn()
        except Exception:  # noqa: BLE001
            info[key] = UNKNOWN

    probe("python", lambda: sys.version.split()[0])
    probe("python_executable", lambda: sys.executable or UNKNOWN)
    probe("platform", platform.platform)
    probe("hostname", socket.gethostname)
    probe("cpu_model", cpu_model)
    probe("cpu_count", lambda: os.cpu_count() or UNKNOWN)
    probe("cpu_count_usable", _usable_cpus)
    try:
        info.update(_torch_info())
    except Exception:  # noqa: BLE001
        info.update({"torch": UNKNOWN, "torch_threads": UNKNOWN, "cuda_available": False,
                     "cuda_version": UNKNOWN, "cuda_devices": []})
    for key, dist in _PACKAGES.items():
        info[key] = package_version(dist)
    return info
