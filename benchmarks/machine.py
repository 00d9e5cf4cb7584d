"""What a result was measured on: machine, load, package versions and git commit."""

from __future__ import annotations

import datetime as dt
import os
import platform
import socket
import subprocess
from importlib import metadata
from typing import Any

from benchmarks.common import ROOT

PACKAGES = ("qser-lab", "torch", "numpy", "scipy", "scikit-learn", "librosa", "pennylane", "pennylane-lightning",
            "qiskit", "qiskit-aer", "qiskit-ibm-runtime", "qiskit-machine-learning", "streamlit", "mlflow", "ray",
            "playwright")


def describe() -> dict[str, Any]:
    """``date`` (UTC, ISO), ``machine``, ``packages`` (installed versions; None if absent) and ``git``."""
    return {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
            "packages": {name: _version(name) for name in PACKAGES}, "git": git()}


def machine() -> dict[str, Any]:
    import torch

    return {
        "host": socket.gethostname(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(_memory_bytes() / 2**30, 1),
        "torch_threads": torch.get_num_threads(),
        "load_average_1m": round(os.getloadavg()[0], 2),  # > cores means other work shared the machine
        # set by hand, they change what torch and BLAS do (on a loaded machine 1 thread can be 10x faster)
        "thread_env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS") if k in os.environ},
        "python": platform.python_version(),
        "platform": platform.platform(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def git() -> dict[str, Any]:
    def out(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()

    try:
        return {"commit": out("rev-parse", "HEAD") or None, "branch": out("rev-parse", "--abbrev-ref", "HEAD") or None,
                "dirty": bool(out("status", "--porcelain", "--untracked-files=no"))}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "branch": None, "dirty": None}


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0
