"""Procedural chest-CT phantoms in Hounsfield units: a per-case anatomy plus one lesion type per domain.

The anatomy is defined in continuous millimetre coordinates and sampled on each domain's own grid, so that
domains differ the way real scanners do (spacing, noise, blur, HU offset). Every case draws its own
:class:`Body` (body size and shape, lung size and shape, heart, vessel tree, the slab of slices scanned), so
no two cases share an anatomy and a source cannot teach the target's exact anatomy. Lesion generators mirror
the real sources' targets:

- ``covid``: peripheral, posterior- and basal-dominant ground-glass patches (-700..-300 HU) with irregular
  borders, some with consolidated cores (COVID-19-CT-Seg, MosMed);
- ``tumor``: one lobulated solid mass (MSD Task06 Lung);
- ``gtv``: a larger central mass by the mediastinum (StructSeg 2019 lung GTV);
- ``effusion``: a dependent fluid crescent in the pleural space at the bases, displacing the lung, with a rim
  of compressed (denser, unlabelled) lung beside it and the patient's primary lung tumour, unlabelled
  (NSCLC-Radiomics effusion masks: every patient has lung cancer);
- ``nodule``: several small solid and part-solid nodules (LIDC-IDRI).

Everything is vectorised numpy/scipy so a case takes a fraction of a second on one core.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

LESION_KINDS = ("covid", "tumor", "gtv", "effusion", "nodule")

# Field of view in RAS millimetres: x left-right, y posterior-anterior, z base (0) to apex.
FOV_MM = ((-176.0, 176.0), (-128.0, 128.0), (-8.0, 200.0))


@dataclass(frozen=True)
class Scanner:
    """Acquisition differences between domains (what makes transfer non-trivial)."""

    spacing: tuple[float, float, float]  # mm, RAS axes
    noise_hu: float
    blur_mm: float
    hu_offset: float
    contrast_hu: float  # blood-pool enhancement added to heart and aorta


@dataclass(frozen=True)
class Body:
    """One patient's anatomy: scale factors around the reference phantom and the scanned slab.

    Drawn per case (:meth:`sample`); the ranges give body cross-sections spread by about +-15 % per axis,
    lung volumes by about +-25 %, and 75-100 % of the reference z field of view at a random position.
    """

    body_x: float  # body half-width scale (1 = 160 mm)
    body_y: float  # body half-depth scale (1 = 112 mm)
    lung_x: float  # lung width scale, relative to the body
    lung_y: float
    lung_z: float  # lung height scale
    lung_asymmetry: float  # right lung / left lung width
    heart: float  # heart size scale
    dome_mm: float  # diaphragm dome height
    z_range: tuple[float, float]  # scanned slab, mm

    @classmethod
    def sample(cls, rng: np.random.Generator) -> Body:
        lo, hi = FOV_MM[2]
        length = rng.uniform(0.75, 1.0) * (hi - lo)
        start = lo + rng.uniform(0.0, (hi - lo) - length)
        return cls(
            body_x=rng.uniform(0.85, 1.15),
            body_y=rng.uniform(0.85, 1.15),
            lung_x=rng.uniform(0.9, 1.08),
            lung_y=rng.uniform(0.9, 1.08),
            lung_z=rng.uniform(0.82, 1.08),
            lung_asymmetry=rng.uniform(0.95, 1.15),
            heart=rng.uniform(0.85, 1.2),
            dome_mm=rng.uniform(22.0, 46.0),
            z_range=(float(start), float(start + length)),
        )


REFERENCE_BODY = Body(1.0, 1.0, 1.0, 1.0, 1.0, 62 / 58, 1.0, 34.0, FOV_MM[2])


@dataclass
class Phantom:
    """One generated case: HU volume, lesion mask and lung labels (1 left, 2 right), RAS index order.

    ``decoy`` (when asked for) is a second lesion mask drawn by the same lesion process on the same anatomy
    but never painted into the image: a mask that does not belong to its image (the negative control).
    """

    image: np.ndarray  # float32 HU
    lesion: np.ndarray  # uint8 0/1
    lungs: np.ndarray  # uint8 0 background, 1 left lung, 2 right lung
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    body: Body = REFERENCE_BODY
    decoy: np.ndarray | None = None


def _fov(body: Body) -> tuple[tuple[float, float], ...]:
    return (FOV_MM[0], FOV_MM[1], body.z_range)


def _grid(spacing: tuple[float, float, float], body: Body) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    axes = [np.arange(lo, hi, s, dtype=np.float32) + s / 2 for (lo, hi), s in zip(_fov(body), spacing)]
    return np.meshgrid(*axes, indexing="ij", sparse=True)


def _smooth_noise(
    rng: np.random.Generator, shape: tuple[int, ...], sigma_vox: tuple[float, ...]
) -> np.ndarray:
    """Unit-variance, spatially correlated noise: the raw material of irregular borders and textures."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma_vox, mode="wrap")
    return field / (field.std() + 1e-6)


def _segment_distance(x, y, z, p0: np.ndarray, p1: np.ndarray) -> np.ndarray:
    d = p1 - p0
    t = ((x - p0[0]) * d[0] + (y - p0[1]) * d[1] + (z - p0[2]) * d[2]) / float(d @ d)
    t = np.clip(t, 0.0, 1.0)
    return np.sqrt((x - p0[0] - t * d[0]) ** 2 + (y - p0[1] - t * d[1]) ** 2 + (z - p0[2] - t * d[2]) ** 2)


def _vessel_tree(
    rng: np.random.Generator, root: np.ndarray, side: float
) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """Branching pulmonary vessels from the hilum: (start, end, radius mm) segments."""
    segments = []
    stack = [(root, np.array([side, 0.0, 0.0]), 38.0, 5.0, 0)]
    while stack:
        p, direction, length, radius, depth = stack.pop()
        direction = direction / np.linalg.norm(direction)
        end = p + direction * length
        segments.append((p, end, radius))
        if depth < 5:
            for _ in range(2):
                turn = rng.normal(0.0, 0.55, 3)
                stack.append((end, direction + turn, length * 0.78, radius * 0.72, depth + 1))
    return segments


def _paint_segments(hu, region, axes, spacing, segments, value) -> None:
    """Draw cylinders into ``hu`` inside ``region``, touching only each segment's bounding box."""
    x, y, z = axes
    lo_fov = np.array([x.ravel()[0], y.ravel()[0], z.ravel()[0]]) - np.asarray(spacing) / 2
    sp = np.asarray(spacing)
    for p0, p1, radius in segments:
        lo = np.floor((np.minimum(p0, p1) - radius - lo_fov) / sp).astype(int).clip(0)
        hi = np.ceil((np.maximum(p0, p1) + radius - lo_fov) / sp).astype(int) + 1
        sl = tuple(slice(a, b) for a, b in zip(lo, hi))
        xs, ys, zs = x[sl[0], :, :], y[:, sl[1], :], z[:, :, sl[2]]
        if xs.size == 0 or ys.size == 0 or zs.size == 0:
            continue
        dist = _segment_distance(xs, ys, zs, p0, p1)
        weight = np.clip(radius - dist + 0.5, 0.0, 1.0) * region[sl]
        hu[sl] = hu[sl] * (1 - weight) + value * weight


def _ellipsoid(x, y, z, c, r) -> np.ndarray:
    return ((x - c[0]) / r[0]) ** 2 + ((y - c[1]) / r[1]) ** 2 + ((z - c[2]) / r[2]) ** 2


def _anatomy(rng: np.random.Generator, spacing: tuple[float, float, float], body: Body):
    x, y, z = _grid(spacing, body)
    shape = (x.shape[0], y.shape[1], z.shape[2])
    sx, sy = body.body_x, body.body_y

    def ring(rx: float, ry: float, dy: float = 0.0) -> np.ndarray:
        return ((x / (rx * sx)) ** 2 + ((y - dy) / (ry * sy)) ** 2) <= 1.0

    outer = np.broadcast_to(ring(160, 112), shape)
    inner = np.broadcast_to(ring(146, 99), shape)
    hu = np.full(shape, -1000.0, dtype=np.float32)
    hu[outer] = -100.0  # subcutaneous fat
    hu[inner] = 40.0  # muscle and mediastinal soft tissue

    # ribs: intermittent bony ring just inside the muscle wall
    ribs = (ring(140, 94) & ~ring(132, 87)) & (np.sin(2 * np.pi * z / 26.0 + rng.uniform(0, 6.28)) > 0.55)
    hu[ribs] = 650.0

    lungs = np.zeros(shape, dtype=np.uint8)
    hr = body.heart
    heart = _ellipsoid(x, y, z, (-22 * sx, 38 * sy, 55), (58 * sx * hr, 46 * sy * hr, 48 * hr)) <= 1.0
    for label, side in ((1, -1.0), (2, 1.0)):  # RAS: x < 0 is the patient's left
        width = 58 * (1.0 if side < 0 else body.lung_asymmetry)
        rz = 108.0 * body.lung_z
        c = (side * 74 * sx, 2 * sy, -8.0 + rz)
        r = (width * sx * body.lung_x, 86 * sy * body.lung_y, rz)
        lung = _ellipsoid(x, y, z, c, r) <= 1.0
        dome = 6 + body.dome_mm * np.exp(-((x - c[0]) ** 2 + (y - c[1] - 15) ** 2) / (2 * 38.0**2))
        lung &= z > dome
        lung &= ~heart
        lung &= inner
        lungs[lung] = label
    lung_any = lungs > 0
    texture = _smooth_noise(rng, shape, (1.5, 1.5, 1.0))
    hu[lung_any] = (-860.0 + 28.0 * texture - 0.18 * y)[lung_any]  # gravity: denser posteriorly

    hu[heart & inner] = 45.0
    aorta = np.broadcast_to(((x + 20 * sx) ** 2 + (y + 52 * sy) ** 2) <= 13.0**2, shape) & (z > 40)
    spine = np.broadcast_to((x**2 + (y + 82 * sy) ** 2) <= 19.0**2, shape)
    cortex = spine & ~np.broadcast_to((x**2 + (y + 82 * sy) ** 2) <= 15.0**2, shape)
    canal = np.broadcast_to((x**2 + (y + 106 * sy) ** 2) <= 7.0**2, shape)
    trachea = np.broadcast_to((x**2 + (y + 8) ** 2) <= 9.0**2, shape) & (z > 140 * body.lung_z)
    hu[aorta] = 42.0
    hu[spine] = 320.0
    hu[cortex] = 850.0
    hu[canal] = 25.0
    hu[trachea] = -995.0

    segments = []
    for side in (-1.0, 1.0):
        segments += _vessel_tree(rng, np.array([side * 28 * sx, 4.0, 105.0 * body.lung_z]), side)
    return (x, y, z), shape, hu, lungs, heart | aorta, segments


def _blob(axes, noise, center, radii, irregularity: float) -> tuple[np.ndarray, np.ndarray]:
    """Irregular lesion: an ellipsoid whose level set is perturbed by correlated noise."""
    x, y, z = axes
    q = _ellipsoid(x, y, z, center, radii)
    field = q + irregularity * noise
    return field < 1.0, field


def _pick_voxel(rng: np.random.Generator, weight: np.ndarray) -> np.ndarray:
    flat = weight.ravel().astype(np.float64)
    idx = rng.choice(flat.size, p=flat / flat.sum())
    return np.array(np.unravel_index(idx, weight.shape))


def _index_to_mm(idx: np.ndarray, axes) -> np.ndarray:
    return np.array([float(a.ravel()[i]) for a, i in zip(axes, idx)])


def _mass(rng, axes, fine, hu, lung, depth_mm, spacing) -> np.ndarray:
    """A lobulated solid lung mass (painted into ``hu``); returns its mask."""
    c = _index_to_mm(_pick_voxel(rng, lung * (depth_mm > 18)), axes)
    mass = np.zeros(hu.shape, dtype=bool)
    for _ in range(3):
        off = c + rng.normal(0, 7, 3)
        mask, _ = _blob(axes, fine, off, rng.uniform(9, 17, 3), irregularity=0.3)
        mass |= mask & (lung | (hu > -200))
    hu[mass] = (rng.uniform(15, 50) + 18.0 * fine)[mass]
    return mass


def _lesions(kind: str, rng, axes, shape, hu, lungs, spacing) -> np.ndarray:
    x, y, z = axes
    lung = lungs > 0
    lesion = np.zeros(shape, dtype=bool)
    noise = _smooth_noise(rng, shape, tuple(6.0 / s for s in spacing))
    fine = _smooth_noise(rng, shape, tuple(2.5 / s for s in spacing))
    depth_mm = ndimage.distance_transform_edt(lung, sampling=spacing)

    if kind == "covid":
        # peripheral (close to the pleura), posterior and basal
        weight = lung * np.exp(-depth_mm / 12.0) * np.exp(-(y + 90) / 70.0) * np.exp(-z / 110.0)
        for _ in range(int(rng.integers(2, 7))):
            c = _index_to_mm(_pick_voxel(rng, weight), axes)
            radii = rng.uniform(12, 32, 3) * np.array([1.0, 1.0, 1.3])
            mask, field = _blob(axes, noise + 0.6 * fine, c, radii, irregularity=0.45)
            mask &= lung
            ggo = rng.uniform(-680, -380) + 45.0 * fine
            hu[mask] = (0.15 * hu + 0.85 * ggo)[mask]
            if rng.random() < 0.4:
                core = mask & (field < 0.35)
                hu[core] = (rng.uniform(-120, 10) + 30.0 * fine)[core]
            lesion |= mask
    elif kind == "tumor":
        lesion |= _mass(rng, axes, fine, hu, lung, depth_mm, spacing)
    elif kind == "gtv":
        side = rng.choice([-1.0, 1.0])
        c = np.array([side * rng.uniform(32, 48), rng.uniform(-15, 20), rng.uniform(80, 135)])
        for _ in range(3):
            off = c + rng.normal(0, 9, 3)
            mask, _ = _blob(axes, noise, off, rng.uniform(18, 30, 3), irregularity=0.35)
            lesion |= mask & (hu > -950) & (hu < 200)  # lung or mediastinal soft tissue, not bone or air
        hu[lesion] = (rng.uniform(25, 55) + 15.0 * fine)[lesion]
    elif kind == "effusion":
        # Pleural fluid is not lung disease: a dependent crescent in the pleural space at the posterior bases
        # that displaces the lung (the lung labels exclude it). The lung it compresses is denser (passive
        # atelectasis) but is not the target, unlike COVID-19, where dense subpleural lung is the lesion.
        for label in (1, 2):
            if rng.random() < 0.25 and lesion.any():
                continue
            side_lung = lungs == label
            zs = np.nonzero(side_lung.any(axis=(0, 1)))[0]
            ys = np.nonzero(side_lung.any(axis=(0, 2)))[0]
            if zs.size == 0:
                continue
            z_base, y_post = float(z.ravel()[zs[0]]), float(y.ravel()[ys[0]])
            height = rng.uniform(25, 60)
            level = y_post + height * np.exp(-(z - z_base) / rng.uniform(35, 60)) + 4.0 * noise
            lesion |= side_lung & (y < level)
        lungs[lesion] = 0
        gap_mm = ndimage.distance_transform_edt(~lesion, sampling=spacing)
        rim = (lungs > 0) & (gap_mm < rng.uniform(5, 10))
        hu[rim] = (rng.uniform(-250, -50) + 40.0 * fine)[rim]
        hu[lesion] = (rng.uniform(2, 18) + 3.0 * fine)[lesion]
        # NSCLC-Radiomics patients all have lung cancer: the primary tumour is in the scan, unlabelled
        _mass(
            rng,
            axes,
            fine,
            hu,
            lungs > 0,
            ndimage.distance_transform_edt(lungs > 0, sampling=spacing),
            spacing,
        )
    elif kind == "nodule":
        for _ in range(int(rng.integers(2, 6))):
            c = _index_to_mm(_pick_voxel(rng, lung * (depth_mm > 8)), axes)
            r = rng.uniform(4, 9)
            q = _ellipsoid(x, y, z, c, (r, r, r * 0.9)) + 0.15 * fine
            solid = q < 1.0
            if rng.random() < 0.4:  # part-solid: ground-glass halo around a small core
                halo = (q < 2.6) & lung
                hu[halo] = (rng.uniform(-600, -420) + 30.0 * fine)[halo]
                lesion |= halo
                solid = q < 0.35
            hu[solid] = (rng.uniform(20, 60) + 10.0 * fine)[solid]
            lesion |= solid
    else:
        raise ValueError(f"unknown lesion kind {kind!r}; expected one of {LESION_KINDS}")
    return lesion


def make_phantom(
    kind: str, scanner: Scanner, seed: int | list[int], decoy_seed: int | list[int] | None = None
) -> Phantom:
    """Generate one case of domain ``kind`` as seen by ``scanner``; deterministic in ``seed``.

    ``decoy_seed`` adds :attr:`Phantom.decoy`: the same lesion process run again on this case's anatomy with
    another seed, on a scratch copy of the image, so the image is unchanged and the decoy's location is
    independent of the painted lesions' (beyond the lesion process's own location prior).
    """
    rng = np.random.default_rng(seed)
    body = Body.sample(rng)
    spacing = tuple(float(s) * rng.uniform(0.96, 1.04) for s in scanner.spacing[:2]) + (scanner.spacing[2],)
    axes, shape, hu, lungs, blood, segments = _anatomy(rng, spacing, body)
    decoy = None
    if decoy_seed is not None:
        decoy = _lesions(
            kind, np.random.default_rng(decoy_seed), axes, shape, hu.copy(), lungs.copy(), spacing
        )
    lesion = _lesions(kind, rng, axes, shape, hu, lungs, spacing)
    lung_region = (lungs > 0).astype(np.float32)
    _paint_segments(hu, lung_region, axes, spacing, segments, 35.0)
    hu[blood] += scanner.contrast_hu
    hu = ndimage.gaussian_filter(hu, tuple(scanner.blur_mm / s for s in spacing))
    hu += scanner.hu_offset + rng.normal(0.0, scanner.noise_hu, shape).astype(np.float32)
    origin = tuple(float(a.ravel()[0]) for a in axes)
    return Phantom(
        image=np.clip(hu, -1024, 3071).astype(np.float32),
        lesion=lesion.astype(np.uint8),
        lungs=lungs,
        spacing=spacing,
        origin=origin,
        body=body,
        decoy=None if decoy is None else decoy.astype(np.uint8),
    )
