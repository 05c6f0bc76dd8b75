"""(i) The ground-truth ceiling of each synthetic geometry (``transferbench ceiling``): the DSC the reference
mask itself keeps through the resampling, the slice resize and the head stride, on fold 0's 16 test cases."""

from __future__ import annotations

from benchmarks.common import ensure_data
from transferbench.config import read_yaml
from transferbench.configs import find_config
from transferbench.evaluation.ceiling import config_ceiling


def _ceiling(name: str, data: dict | None = None) -> tuple[float, float]:
    cfg = read_yaml(find_config(name))
    cfg["data"] = {**cfg["data"], "root": str(ensure_data()), **(data or {})}
    d = config_ceiling(cfg)["dsc_ceiling"]
    return float(d.mean()), float(d.min())


def run() -> dict[str, tuple[float, float]]:
    return {
        "nCoVSegNet CPU (192x160, stride 4)": _ceiling("synthetic_ncovsegnet"),
        "nCoVSegNet former 64x64 at 4x4x6 mm": _ceiling(
            "synthetic_ncovsegnet", {"patch_size": [64, 64], "target_spacing": [4.0, 4.0, 6.0]}
        ),
        "UNet3D 4x4x6 mm (fit config)": _ceiling("synthetic_unet3d"),
        "UNet3D 6x6x9 mm (default sweep)": _ceiling("synthetic_unet3d", {"target_spacing": [6.0, 6.0, 9.0]}),
    }
