"""The software a sweep's runs were trained with, recorded beside its results (``environment.json``).

Byte-identical results need the same machine *and* environment; the repository pins the environment in
``constraints.txt`` (``make install`` applies it) and every sweep that trains at least one run appends the
environment it ran in (if new) to ``RESULTS/environment.json``: Python, platform, the versions of the
packages that compute the numbers, and the hash of the constraints file when the checkout has one.
"""

from __future__ import annotations

import hashlib
import json
import platform
from importlib import metadata
from pathlib import Path

from transferbench.files import atomic_write_text

FILE = "environment.json"
PACKAGES = ("transferbench", "torch", "monai", "pytorch-lightning", "numpy", "scipy", "pandas", "statsmodels",
            "scikit-posthocs", "nibabel", "matplotlib", "jsonargparse", "wandb")  # fmt: skip
CONSTRAINTS = Path(__file__).resolve().parents[2] / "constraints.txt"


def environment() -> dict:
    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    env = {
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "packages": {name: version(name) for name in PACKAGES},
    }
    if CONSTRAINTS.is_file():
        env["constraints_sha256"] = hashlib.sha256(CONSTRAINTS.read_bytes()).hexdigest()
    return env


def record_environment(results_dir: str | Path) -> dict:
    """Append this environment to ``environment.json`` unless it is already listed; returns it."""
    path = Path(results_dir) / FILE
    seen = json.loads(path.read_text()) if path.is_file() else []
    env = environment()
    if env not in seen:
        atomic_write_text(path, json.dumps([*seen, env], indent=1) + "\n")
    return env
