"""(l) A large source: peak memory and patch throughput of the 3D training loader with every preprocessed
volume held in RAM (the DataModule before issue 24) vs read from the cache when drawn (now).

The cache is filled with synthetic preprocessed cases (an image and a lesion label per case, the cache's own
format) of a given grid; each mode runs in a fresh process that builds the training Dataset as the
DataModule does and draws batches with the default sweep's patch transforms. Run alone:
``python -m benchmarks.bench_large_source [N_CASES] [X Y Z]``.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

MODES = ("in_ram", "on_demand")
CHILD = r"""
import json, resource, sys, time, torch
from monai.data import DataLoader, Dataset, list_data_collate
from torch.utils.data import RandomSampler
from transferbench.data.cache import LoadCached
from transferbench.data.transforms import train_patch_transforms
mode, folder, batches = sys.argv[1], sys.argv[2], int(sys.argv[3])
paths = sorted(str(p) for p in __import__("pathlib").Path(folder).glob("*.pt"))
torch.manual_seed(0)
transform = train_patch_transforms((64, 64, 32), 2, 0.5)
if mode == "in_ram":
    items = [torch.load(p, weights_only=True) for p in paths]
else:
    items = [{"cached": p, "label_shift": 0} for p in paths]
    transform.transforms = (LoadCached(), *transform.transforms)
loader = DataLoader(Dataset(items, transform=transform), batch_size=2, collate_fn=list_data_collate,
                    sampler=RandomSampler(range(len(items)), replacement=True, num_samples=2 * batches))
it = iter(loader)
next(it)
start = time.perf_counter()
n = 0
for batch in it:
    n += batch["image"].shape[0]
elapsed = time.perf_counter() - start
print(json.dumps({"peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
                  "patches_per_s": n / elapsed}))
"""


def _fill(folder: Path, n_cases: int, shape: tuple[int, int, int]) -> float:
    """``n_cases`` cache files of ``shape``; returns the size of one in GB."""
    g = torch.Generator().manual_seed(0)
    image = torch.rand((1, *shape), generator=g)
    label = torch.zeros((1, *shape), dtype=torch.uint8)
    x, y, z = (s // 2 for s in shape)
    label[:, x - 10 : x + 10, y - 10 : y + 10, z - 5 : z + 5] = 1
    buf = io.BytesIO()
    torch.save({"image": image, "label": label, "case_id": "c", "source": "s", "spacing": torch.ones(3),
                "original_spacing": torch.ones(3)}, buf)  # fmt: skip
    data = buf.getvalue()
    for i in range(n_cases):
        (folder / f"case{i:04d}.pt").write_bytes(data)
    return len(data) / 1024**3


def run(n_cases: int = 200, shape: tuple[int, int, int] = (192, 192, 160), batches: int = 120) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        per_case_gb = _fill(Path(tmp), n_cases, shape)
        out = {"n_cases": n_cases, "shape": shape, "case_gb": per_case_gb}
        for mode in MODES:
            start = time.perf_counter()
            proc = subprocess.run([sys.executable, "-c", CHILD, mode, tmp, str(batches)], check=True,
                                  capture_output=True, text=True)  # fmt: skip
            out[mode] = {
                **json.loads(proc.stdout.strip().splitlines()[-1]),
                "wall_s": time.perf_counter() - start,
            }
    return out


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    shape = tuple(int(v) for v in sys.argv[2:5]) if len(sys.argv) > 4 else (192, 192, 160)
    r = run(n, shape)
    a, b = r["in_ram"], r["on_demand"]
    print(
        f"(l) large source          {r['n_cases']} cases of {r['shape']} ({r['case_gb'] * 1024:.0f} MB each in the "
        f"cache): volumes in RAM peak {a['peak_rss_gb']:.2f} GB, {a['patches_per_s']:.1f} patches/s | read on "
        f"demand peak {b['peak_rss_gb']:.2f} GB, {b['patches_per_s']:.1f} patches/s | memory ratio "
        f"{a['peak_rss_gb'] / b['peak_rss_gb']:.1f}x, throughput ratio {b['patches_per_s'] / a['patches_per_s']:.2f}",
        flush=True,
    )


if __name__ == "__main__":
    main()
