"""Self-supervised pretext tasks on unlabelled CT patches: Models Genesis and masked image modelling.

Both turn an image patch ``x`` (C, X, Y, Z) with intensities in [0, 1] into a (network input, target,
loss mask) triple; the network learns to restore the target from the input.

**Models Genesis** (Zhou et al. 2021; the authors' ``pytorch/utils.py`` and ``config.py``): the patch is
flipped (input and target alike, up to three times with probability 0.4 each), then the input gets local
pixel shuffling (p 0.5), a non-linear intensity transformation by a random Bezier curve (p 0.9; half of
them non-monotonic), and with p 0.9 in-painting (20%: up to 5 boxes of 1/6-1/3 of each side filled with
uniform noise) or out-painting (80%: everything noise except up to 5 boxes of 3/7-4/7 of each side). The
loss is the mean squared error over the whole patch (the mask is all ones). Deviation: the authors shuffle
10,000 blocks of up to 1/10 of each side in a 64 x 64 x 32 cube; we shuffle as many blocks per voxel
(10,000 x the patch's voxel count / 131,072), so a smaller patch is shuffled as densely.

**Masked image modelling** for a CNN (nnssl's ``BaseMAETrainer``, Wald et al. 2025): the patch is cut into
blocks (nnssl: 16 voxels at 160^3, a tenth of each side), a fraction (0.75) of them is set to 0, and the
loss is the mean squared error on the masked voxels only (``loss_mask`` 1 where masked). Deviation: a block
is the patch side / ``blocks_per_side`` (default 4 at our 32 x 32 x 16 patches, so a block is 8 x 8 x 4
voxels, not nnssl's 16^3, which would leave 2 x 2 x 1 blocks), because the sweep's patches are 5-10x
smaller than nnssl's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import comb

PRETEXTS: tuple[str, ...] = ("genesis", "mae")  # the self-supervised tasks (``model.pretext``)
GENESIS_CUBE = 64 * 64 * 32  # the authors' sub-volume, for the shuffling density
GENESIS_BLOCKS = 10_000


def bezier_curve(points: np.ndarray, n: int = 100_000) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of the Bezier curve through control ``points`` (k, 2), sampled at ``n`` parameter values."""
    k = len(points) - 1
    t = np.linspace(0.0, 1.0, n)
    basis = np.stack([comb(k, i) * t ** (k - i) * (1 - t) ** i for i in range(k + 1)])
    return points[:, 0] @ basis, points[:, 1] @ basis


def nonlinear_transformation(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Map intensities through a random cubic Bezier curve from (0, 0) to (1, 1); half the time with its y
    values left unsorted, which makes the mapping non-monotonic (the authors' "flip")."""
    points = np.array([[0.0, 0.0], rng.random(2), rng.random(2), [1.0, 1.0]])
    xs, ys = bezier_curve(points)
    if rng.random() < 0.5:
        xs = np.sort(xs)
    else:
        xs, ys = np.sort(xs), np.sort(ys)
    return np.interp(x, xs, ys).astype(x.dtype)


def local_pixel_shuffling(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Shuffle the voxels inside many small random blocks (each block's own voxels, read from the original)."""
    out = x.copy()
    _, *dims = x.shape
    n_blocks = max(1, round(GENESIS_BLOCKS * math.prod(dims) / GENESIS_CUBE))
    for _ in range(n_blocks):
        size = [int(rng.integers(1, max(1, d // 10) + 1)) for d in dims]
        start = [int(rng.integers(0, d - s + 1)) for d, s in zip(dims, size)]
        box = tuple(slice(a, a + s) for a, s in zip(start, size))
        window = x[(0, *box)].ravel().copy()
        rng.shuffle(window)
        out[(0, *box)] = window.reshape(size)
    return out


def _box(dims: list[int], lo: list[int], hi: list[int], rng: np.random.Generator, margin: int = 3):
    """A random box with sides in [lo, hi] that keeps ``margin`` voxels from each face where it can."""
    size = [int(rng.integers(a, max(a, b) + 1)) for a, b in zip(lo, hi)]
    start = []
    for d, s in zip(dims, size):
        first, last = min(margin, d - s), max(min(margin, d - s), d - s - margin)
        start.append(int(rng.integers(first, last + 1)))
    return tuple(slice(a, a + s) for a, s in zip(start, size))


def in_painting(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Up to 5 boxes of 1/6-1/3 of each side replaced by uniform noise (each further one with p 0.95)."""
    out = x.copy()
    _, *dims = x.shape
    for _ in range(5):
        if rng.random() >= 0.95:
            break
        box = _box(dims, [max(1, d // 6) for d in dims], [max(1, d // 3) for d in dims], rng)
        out[(slice(None), *box)] = rng.random(out[(slice(None), *box)].shape)
    return out


def out_painting(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Uniform noise everywhere except one box, and up to 4 more (p 0.95 each), of 3/7-4/7 of each side
    kept from the image."""
    out = rng.random(x.shape).astype(x.dtype)
    _, *dims = x.shape
    lo, hi = [d - 4 * d // 7 for d in dims], [d - 3 * d // 7 for d in dims]
    box = _box(dims, lo, hi, rng)
    out[(slice(None), *box)] = x[(slice(None), *box)]
    for _ in range(4):
        if rng.random() >= 0.95:
            break
        box = _box(dims, lo, hi, rng)
        out[(slice(None), *box)] = x[(slice(None), *box)]
    return out


@dataclass(frozen=True)
class GenesisRates:
    """The authors' probabilities (``config.py``)."""

    flip: float = 0.4
    local_shuffle: float = 0.5
    nonlinear: float = 0.9
    paint: float = 0.9
    inpaint: float = 0.2  # of the painted patches; the rest are out-painted


def genesis_pair(
    x: np.ndarray, rng: np.random.Generator, rates: GenesisRates = GenesisRates()
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(input, target, loss mask) of Models Genesis for one patch ``x`` (C, X, Y, Z) in [0, 1]."""
    target = x
    for _ in range(3):  # flips apply to the input and the target alike
        if rng.random() >= rates.flip:
            break
        target = np.flip(target, axis=1 + int(rng.integers(0, 3)))
    target = np.ascontiguousarray(target)
    inp = target
    if rng.random() < rates.local_shuffle:
        inp = local_pixel_shuffling(inp, rng)
    if rng.random() < rates.nonlinear:
        inp = nonlinear_transformation(inp, rng)
    if rng.random() < rates.paint:
        inp = in_painting(inp, rng) if rng.random() < rates.inpaint else out_painting(inp, rng)
    return inp, target, np.ones_like(target)


def block_mask(
    shape: tuple[int, ...], ratio: float, rng: np.random.Generator, blocks_per_side: int = 4
) -> np.ndarray:
    """A (1, X, Y, Z) mask, 1 visible and 0 masked, made of ``blocks_per_side`` blocks along each axis of
    which round(``ratio`` x count) are masked (nnssl's ``create_blocky_mask``, upsampled to the patch)."""
    grid = [blocks_per_side] * len(shape)
    n = math.prod(grid)
    flat = np.ones(n, dtype=np.float32)
    flat[rng.permutation(n)[: int(ratio * n)]] = 0.0
    small = flat.reshape(grid)
    for axis, d in enumerate(shape):
        reps = -(-d // blocks_per_side)
        small = np.repeat(small, reps, axis=axis)
    return small[tuple(slice(0, d) for d in shape)][None]


def mae_pair(
    x: np.ndarray, rng: np.random.Generator, ratio: float = 0.75, blocks_per_side: int = 4
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(input, target, loss mask) of masked image modelling: masked blocks set to 0 in the input, the loss
    on the masked voxels only (loss mask 1 there)."""
    visible = block_mask(x.shape[1:], ratio, rng, blocks_per_side).astype(x.dtype)
    return x * visible, x, 1.0 - visible
