"""Synthetic B-mode ultrasound phantoms with ground-truth masks of their anechoic regions.

Why a physical-ish model rather than painted shapes: the segmenter must learn "no echoes
here", not "this grey level", so the phantom reproduces what makes that hard on a real
scanner. Model, per frame:

- **Sector geometry.** A curvilinear probe: the apex sits above the image top, the fan spans
  ±`half_angle_deg` from `near_radius` to the image bottom. Everything outside the fan is 0.
- **Echogenicity map** sampled on the beam grid (depth × angle): a smooth log-normal tissue
  texture, a few hyperechoic structures (bright ellipses, fascia-like bands), hypoechoic
  lesions (darker but still echoic: distractors, not targets), and anechoic regions (cysts
  as ellipses, vessels as circles or longitudinal tubes, fluid collections as lobed blobs)
  whose echogenicity is near zero. Only anechoic regions are in the mask.
- **Speckle.** Circular complex Gaussian scatterers scaled by sqrt(echogenicity), blurred by
  a Gaussian point-spread function along depth (axial) and angle (lateral, so the beam
  widens with depth). A linear filter of complex Gaussians stays complex Gaussian, so the
  envelope of a homogeneous region is Rayleigh distributed (mean/std = 1.913); the scan
  conversion interpolates the complex field, not the envelope, for the same reason.
- **Depth attenuation with partial time-gain compensation**: amplitude gain
  exp(-α·(r - e·L) + c·α·r), where L is the path length already travelled through fluid
  (cumulative along each beam: posterior acoustic enhancement behind every anechoic region,
  for free) and c < 1 leaves the far field darker.
- **Noise floor and log compression**: additive thermal noise, then
  20·log10(envelope) over a dynamic range into [0, 1].

`phantom(rng)` draws one frame; `PhantomRanges` holds every parameter range, with
`TRAIN_RANGES` and `EVAL_RANGES` deliberately different so held-out metrics are measured on
data the model never saw. `PhantomStream` is a deterministic cine for the imaging pipeline:
the same scene with shapes drifting and vessels pulsing, speckle partly decorrelating frame to
frame, `frame(k)` random-access and bit-identical for the same (seed, k).

Lengths in `PhantomRanges` are fractions of the image size, so a 128-pixel phantom is a
down-scaled 256-pixel one.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field, fields, replace

import numpy as np
from scipy import ndimage

DEFAULT_SIZE = 256
RAYLEIGH_MEAN_OVER_STD = math.sqrt(math.pi / (4.0 - math.pi))  # 1.913
ANECHOIC_KINDS = ("cyst", "vessel", "vessel_long", "fluid")
_GAP = 0.02  # minimum spacing between anechoic regions, fraction of size


@dataclass(frozen=True, slots=True)
class PhantomRanges:
    """Uniform (low, high) ranges of every `PhantomParams` field (counts are inclusive)."""

    half_angle_deg: tuple[float, float] = (28.0, 38.0)  # fan half-width
    apex_above: tuple[float, float] = (0.05, 0.15)  # apex above the image top, x size
    near_radius: tuple[float, float] = (0.12, 0.2)  # probe face radius from apex, x size
    attenuation_np: tuple[float, float] = (1.5, 3.0)  # two-way amplitude loss over the image
    tgc: tuple[float, float] = (0.5, 0.9)  # fraction of the attenuation compensated
    enhancement: tuple[float, float] = (0.6, 1.0)  # fraction of attenuation fluid spares
    psf_axial: tuple[float, float] = (0.8, 1.3)  # Gaussian sigma, pixels at size 256
    psf_lateral: tuple[float, float] = (1.3, 2.2)  # Gaussian sigma, beam-grid samples
    texture: tuple[float, float] = (0.1, 0.35)  # SD of log echogenicity (tissue texture)
    dynamic_range_db: tuple[float, float] = (45.0, 60.0)
    gain_db: tuple[float, float] = (-4.0, 4.0)
    noise_db: tuple[float, float] = (-60.0, -45.0)  # noise floor vs tissue
    n_anechoic: tuple[int, int] = (0, 3)
    anechoic_radius: tuple[float, float] = (0.035, 0.11)  # mean radius, x size
    anechoic_echo_db: tuple[float, float] = (-60.0, -40.0)  # residual echoes inside
    n_hyper: tuple[int, int] = (1, 3)
    hyper_db: tuple[float, float] = (5.0, 12.0)
    n_hypo: tuple[int, int] = (0, 2)
    hypo_db: tuple[float, float] = (-12.0, -6.0)

    def __post_init__(self) -> None:
        for f in fields(self):
            lo, hi = getattr(self, f.name)
            if not lo <= hi:
                raise ValueError(f"PhantomRanges.{f.name}: low {lo} > high {hi}")


# Training and evaluation overlap but differ: evaluation has stronger attenuation, coarser
# speckle, a wider dynamic range, smaller and larger regions, and always a target.
TRAIN_RANGES = PhantomRanges()
EVAL_RANGES = PhantomRanges(
    half_angle_deg=(30.0, 40.0),
    attenuation_np=(2.0, 3.5),
    tgc=(0.45, 0.85),
    psf_axial=(0.9, 1.5),
    psf_lateral=(1.5, 2.5),
    texture=(0.15, 0.4),
    dynamic_range_db=(50.0, 65.0),
    noise_db=(-56.0, -42.0),
    n_anechoic=(1, 3),
    anechoic_radius=(0.035, 0.12),
    anechoic_echo_db=(-55.0, -38.0),
    hypo_db=(-13.0, -7.0),
)


@dataclass(frozen=True, slots=True)
class PhantomParams:
    """One frame's acquisition and scene constants; see `PhantomRanges` for meanings."""

    half_angle_deg: float
    apex_above: float
    near_radius: float
    attenuation_np: float
    tgc: float
    enhancement: float
    psf_axial: float
    psf_lateral: float
    texture: float
    dynamic_range_db: float
    gain_db: float
    noise_db: float
    n_anechoic: int
    anechoic_radius: float
    anechoic_echo_db: float
    n_hyper: int
    hyper_db: float
    n_hypo: int
    hypo_db: float


def draw_params(rng: np.random.Generator, ranges: PhantomRanges = TRAIN_RANGES) -> PhantomParams:
    """Every field uniformly from its range, in field order (integers inclusive)."""
    values: dict[str, float | int] = {}
    for f in fields(ranges):
        lo, hi = getattr(ranges, f.name)
        if isinstance(lo, int) and isinstance(hi, int):
            values[f.name] = int(rng.integers(lo, hi + 1))
        else:
            values[f.name] = float(rng.uniform(lo, hi))
    return PhantomParams(**values)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Shape:
    """A region of constant echogenicity: an ellipse, optionally lobed (`lobes`: amplitude,
    phase per harmonic 2, 3, ...) or stretched into a capsule of half-length `half_length`
    along `angle` (a longitudinal vessel)."""

    kind: str
    cy: float
    cx: float
    a: float  # semi-axis along `angle` (capsule: radius)
    b: float  # semi-axis across `angle`
    angle: float  # radians
    echo_db: float  # echogenicity vs tissue
    lobes: tuple[tuple[float, float], ...] = ()
    half_length: float = 0.0

    @property
    def extent(self) -> float:
        """A radius around the centre that contains the whole shape."""
        lobe = 1.0 + sum(abs(amp) for amp, _ in self.lobes)
        return max(self.a, self.b) * lobe + self.half_length + 1.0

    def inside(self, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Boolean array: which points (y, x) lie in the shape. Only points within the
        bounding square are evaluated: the trigonometry is the phantom's main cost."""
        out = np.zeros(np.shape(y), dtype=bool)
        e = self.extent
        near = (np.abs(y - self.cy) <= e) & (np.abs(x - self.cx) <= e)
        if not near.any():
            return out
        dy, dx = y[near] - self.cy, x[near] - self.cx
        c, s = math.cos(self.angle), math.sin(self.angle)
        u = dx * c + dy * s
        v = -dx * s + dy * c
        if self.half_length > 0.0:
            u = np.maximum(np.abs(u) - self.half_length, 0.0)
        q = np.hypot(u / self.a, v / self.b)
        if not self.lobes:
            out[near] = q <= 1.0
            return out
        theta = np.arctan2(v / self.b, u / self.a)
        limit = np.ones_like(q)
        for k, (amp, phase) in enumerate(self.lobes, start=2):
            limit += amp * np.cos(k * theta + phase)
        out[near] = q <= limit
        return out

    @property
    def anechoic(self) -> bool:
        return self.kind in ANECHOIC_KINDS


@dataclass(frozen=True, slots=True)
class Scene:
    """Everything about a frame except its speckle realisation."""

    size: int
    params: PhantomParams
    shapes: tuple[Shape, ...]  # painted in order; anechoic ones last
    texture_seed: int


@dataclass(frozen=True, slots=True)
class AnechoicRegion:
    """One target region: its kind, centre (row, col) in pixels, and mask area in pixels
    (inside the sector)."""

    kind: str
    centre: tuple[float, float]
    area_px: int


@dataclass(frozen=True, slots=True)
class PhantomFrame:
    """`image` float32 (size, size) in [0, 1], 0 outside the sector; `mask` uint8 {0, 1} of
    anechoic regions; `envelope` the linear echo amplitude before log compression (for
    speckle statistics); `regions` one entry per anechoic region, in scene order."""

    image: np.ndarray
    mask: np.ndarray
    envelope: np.ndarray
    sector: np.ndarray  # bool, the scanned fan
    regions: tuple[AnechoicRegion, ...]
    params: PhantomParams


@dataclass(frozen=True, slots=True)
class _Geometry:
    apex_y: float
    apex_x: float
    r0: float
    r1: float
    half_angle: float


def _geometry(size: int, p: PhantomParams) -> _Geometry:
    apex_y = -p.apex_above * size
    return _Geometry(
        apex_y=apex_y,
        apex_x=(size - 1) / 2.0,
        r0=p.near_radius * size,
        r1=(size - 1) - apex_y,
        half_angle=math.radians(p.half_angle_deg),
    )


def _polar(g: _Geometry, y: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(radius, angle from straight down) of pixel coordinates."""
    return np.hypot(y - g.apex_y, x - g.apex_x), np.arctan2(x - g.apex_x, y - g.apex_y)


def _sector(g: _Geometry, size: int) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    r, phi = _polar(g, yy, xx)
    return (r >= g.r0) & (r <= g.r1) & (np.abs(phi) <= g.half_angle)


def _point_in_fan(
    rng: np.random.Generator, g: _Geometry, size: int, margin: float
) -> tuple[float, float]:
    """A point at least `margin` pixels inside the fan and the image."""
    for _ in range(100):
        r = rng.uniform(g.r0 + margin, g.r1 - margin)
        span = g.half_angle - margin / max(r, 1.0)
        phi = rng.uniform(-span, span) if span > 0 else 0.0
        y, x = g.apex_y + r * math.cos(phi), g.apex_x + r * math.sin(phi)
        if margin <= y <= size - 1 - margin and margin <= x <= size - 1 - margin:
            return y, x
    return g.apex_y + (g.r0 + g.r1) / 2.0, g.apex_x


def _anechoic_shape(rng: np.random.Generator, p: PhantomParams, g: _Geometry, size: int) -> Shape:
    kind = ANECHOIC_KINDS[int(rng.integers(len(ANECHOIC_KINDS)))]
    radius = rng.uniform(*_around(p.anechoic_radius, 0.3)) * size
    angle = float(rng.uniform(0.0, math.pi))
    if kind == "vessel":
        a = b = radius * 0.8
        lobes: tuple[tuple[float, float], ...] = ()
        half_length = 0.0
    elif kind == "vessel_long":
        a = b = radius * 0.55
        angle = float(rng.uniform(-0.35, 0.35))  # roughly across the beams
        lobes, half_length = (), radius * rng.uniform(1.2, 2.5)
    elif kind == "cyst":
        ratio = rng.uniform(0.55, 1.0)
        a, b = radius / math.sqrt(ratio), radius * math.sqrt(ratio)
        lobes, half_length = (), 0.0
    else:  # fluid: lobed, irregular
        ratio = rng.uniform(0.5, 1.0)
        a, b = radius / math.sqrt(ratio), radius * math.sqrt(ratio)
        lobes = tuple(
            (float(rng.uniform(0.04, 0.16)), float(rng.uniform(0, 2 * math.pi))) for _ in range(3)
        )
        half_length = 0.0
    extent = max(a, b) * (1.5 if lobes else 1.0) + half_length
    cy, cx = _point_in_fan(rng, g, size, margin=min(extent * 0.6, size * 0.2))
    return Shape(kind, cy, cx, a, b, angle, p.anechoic_echo_db, lobes, half_length)


def _around(value: float, spread: float) -> tuple[float, float]:
    """(low, high) within ±`spread` (relative) of `value`: per-region size variety."""
    return (value * (1.0 - spread), value * (1.0 + spread))


def draw_scene(
    rng: np.random.Generator, size: int = DEFAULT_SIZE, params: PhantomParams | None = None
) -> Scene:
    """Place the structures of one phantom. Anechoic regions never touch each other (a gap
    of 2 % of the size), so the mask's connected components are the regions."""
    p = params if params is not None else draw_params(rng)
    g = _geometry(size, p)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    shapes: list[Shape] = []
    for _ in range(p.n_hypo):
        cy, cx = _point_in_fan(rng, g, size, margin=0.05 * size)
        r = rng.uniform(0.05, 0.12) * size
        shapes.append(
            Shape("hypo", cy, cx, r * rng.uniform(1.0, 1.5), r, rng.uniform(0, math.pi), p.hypo_db)
        )
    for _ in range(p.n_hyper):
        cy, cx = _point_in_fan(rng, g, size, margin=0.03 * size)
        if rng.random() < 0.5:  # fascia-like bright band across the beams
            thick = rng.uniform(0.008, 0.02) * size
            shapes.append(
                Shape(
                    "hyper_band", cy, cx, thick, thick, rng.uniform(-0.3, 0.3), p.hyper_db,
                    half_length=rng.uniform(0.1, 0.3) * size,
                )
            )  # fmt: skip
        else:
            r = rng.uniform(0.03, 0.08) * size
            shapes.append(
                Shape("hyper", cy, cx, r * rng.uniform(1.0, 1.8), r, rng.uniform(0, math.pi),
                      p.hyper_db)
            )  # fmt: skip
    occupied = np.zeros((size, size), dtype=bool)
    gap = max(1, round(_GAP * size))
    for _ in range(p.n_anechoic):
        for _attempt in range(20):
            s = _anechoic_shape(rng, p, g, size)
            m = s.inside(yy, xx)
            if m.any() and not (m & occupied).any():
                occupied |= ndimage.binary_dilation(m, iterations=gap)
                shapes.append(s)
                break
    return Scene(size, p, tuple(shapes), texture_seed=int(rng.integers(2**31)))


def _beam_grid(g: _Geometry, size: int) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Depth and angle samples of the beam grid: about one pixel apart at the far edge."""
    n_r = size
    n_phi = max(8, math.ceil(2 * g.half_angle * g.r1 / 1.1))
    radii = np.linspace(g.r0, g.r1, n_r)
    angles = np.linspace(-g.half_angle, g.half_angle, n_phi)
    return radii, angles, float(radii[1] - radii[0]), float(angles[1] - angles[0])


def render(
    scene: Scene, speckle: np.ndarray | None = None, rng: np.random.Generator | None = None
) -> PhantomFrame:
    """Image a scene. `speckle` (from `speckle_field`) may be supplied so a cine can
    correlate frames; otherwise it is drawn from `rng`."""
    size, p = scene.size, scene.params
    g = _geometry(size, p)
    radii, angles, dr, dphi = _beam_grid(g, size)
    rr, pp = np.meshgrid(radii, angles, indexing="ij")
    by, bx = g.apex_y + rr * np.cos(pp), g.apex_x + rr * np.sin(pp)

    # Echogenicity (power) on the beam grid, in dB: texture, then shapes in order.
    trng = np.random.default_rng(scene.texture_seed)
    # Smooth, so drawn coarse (4x) and interpolated up: a quarter of the filtering cost.
    coarse = trng.standard_normal((rr.shape[0] // 4 + 2, rr.shape[1] // 4 + 2))
    coarse = ndimage.gaussian_filter(coarse, sigma=size / 96.0)
    zoom = (rr.shape[0] / coarse.shape[0], rr.shape[1] / coarse.shape[1])
    tex = ndimage.zoom(coarse, zoom, order=1, grid_mode=True, mode="nearest")
    tex *= p.texture / max(float(tex.std()), 1e-9)
    echo_db = tex * (20.0 / math.log(10.0))
    fluid = np.zeros(rr.shape, dtype=bool)
    for s in scene.shapes:
        inside = s.inside(by, bx)
        echo_db[inside] = s.echo_db
        if s.anechoic:
            fluid |= inside
    amplitude = 10.0 ** (echo_db / 20.0)

    # Speckle: scatterers x amplitude, blurred by the PSF (axial along depth, lateral along angle).
    if speckle is None:
        rng = rng if rng is not None else np.random.default_rng()
        speckle = speckle_field(rng, scene)
    sig = (p.psf_axial * size / DEFAULT_SIZE / dr, p.psf_lateral)
    field_ = speckle[0] * amplitude
    rf = ndimage.gaussian_filter(field_.real, sig) + 1j * ndimage.gaussian_filter(field_.imag, sig)
    # Blurring unit-variance white noise by a Gaussian divides its variance by 4π·σa·σl.
    rf *= math.sqrt(4.0 * math.pi * sig[0] * sig[1])

    # Attenuation with partial TGC; fluid spares attenuation below it (enhancement).
    alpha = p.attenuation_np / size
    depth = rr - g.r0
    fluid_path = np.cumsum(fluid, axis=0) * dr
    rf *= np.exp(-alpha * (depth - p.enhancement * fluid_path) + p.tgc * alpha * depth)
    # Thermal noise, lightly band-limited like the receive chain, independent of depth.
    nsig = (0.8, 0.8)
    noise = ndimage.gaussian_filter(speckle[1].real, nsig) + 1j * ndimage.gaussian_filter(
        speckle[1].imag, nsig
    )
    rf += noise * (math.sqrt(4.0 * math.pi * nsig[0] * nsig[1]) * 10.0 ** (p.noise_db / 20.0))

    # Scan conversion: interpolate the complex field at each pixel's (radius, angle).
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    r, phi = _polar(g, yy, xx)
    sector = (r >= g.r0) & (r <= g.r1) & (np.abs(phi) <= g.half_angle)
    coords = np.stack([(r - g.r0) / dr, (phi + g.half_angle) / dphi])
    re = ndimage.map_coordinates(rf.real, coords, order=1, mode="nearest")
    im = ndimage.map_coordinates(rf.imag, coords, order=1, mode="nearest")
    envelope = np.where(sector, np.hypot(re, im), 0.0)

    level = 20.0 * np.log10(np.maximum(envelope, 1e-12)) + p.gain_db - 15.0
    image = np.clip(1.0 + level / p.dynamic_range_db, 0.0, 1.0) * sector

    mask = np.zeros((size, size), dtype=bool)
    regions = []
    for s in scene.shapes:
        if not s.anechoic:
            continue
        m = s.inside(yy, xx) & sector
        mask |= m
        regions.append(AnechoicRegion(s.kind, (s.cy, s.cx), int(m.sum())))
    return PhantomFrame(
        image=image.astype(np.float32),
        mask=mask.astype(np.uint8),
        envelope=envelope.astype(np.float32),
        sector=sector,
        regions=tuple(regions),
        params=p,
    )


def speckle_field(rng: np.random.Generator, scene: Scene) -> np.ndarray:
    """Unit-variance circular complex Gaussian fields on the scene's beam grid, shape
    (2, depth, angle): [0] the scatterers, [1] the receiver's thermal noise."""
    g = _geometry(scene.size, scene.params)
    radii, angles, _, _ = _beam_grid(g, scene.size)
    shape = (2, len(radii), len(angles))
    z = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    return z / math.sqrt(2.0)


def phantom(
    rng: np.random.Generator,
    size: int = DEFAULT_SIZE,
    params: PhantomParams | None = None,
    ranges: PhantomRanges = TRAIN_RANGES,
) -> PhantomFrame:
    """One phantom frame with its mask; `params` defaults to a draw from `ranges`."""
    p = params if params is not None else draw_params(rng, ranges)
    scene = draw_scene(rng, size, p)
    return render(scene, rng=rng)


def phantom_batch(
    seed: int, n: int, size: int = DEFAULT_SIZE, ranges: PhantomRanges = TRAIN_RANGES
) -> tuple[np.ndarray, np.ndarray]:
    """`n` frames as (images float32 (n, size, size), masks uint8 (n, size, size)); frame i
    depends only on (seed, i), so any prefix of a batch is reproducible alone."""
    images = np.empty((n, size, size), dtype=np.float32)
    masks = np.empty((n, size, size), dtype=np.uint8)
    for i in range(n):
        f = phantom(_rng(seed, i), size, ranges=ranges)
        images[i], masks[i] = f.image, f.mask
    return images, masks


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=key)))


@dataclass(frozen=True, slots=True)
class _Motion:
    dy: float
    dx: float
    freq_hz: float
    phase: float
    pulse: float  # relative size swing (vessels pulse with the heart)
    pulse_hz: float
    pulse_phase: float


@dataclass
class PhantomStream:
    """A deterministic phantom cine: one scene whose anechoic regions drift slowly (breathing,
    probe sway) and whose vessels pulse, with speckle partly decorrelating between frames.

    `frame(k)` depends only on (seed, size, ranges, k): random access, bit-identical on
    repeat, so a test can regenerate the ground truth of any frame a pipeline saw.
    """

    seed: int
    size: int = DEFAULT_SIZE
    fps: float = 20.0
    ranges: PhantomRanges = EVAL_RANGES
    speckle_memory: float = 0.85  # correlation of each frame's speckle with the base field
    _scene: Scene = field(init=False, repr=False)
    _motion: tuple[_Motion | None, ...] = field(init=False, repr=False)
    _base: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        rng = _rng(self.seed, 0)
        p = draw_params(rng, self.ranges)
        p = replace(p, n_anechoic=max(p.n_anechoic, 1))
        self._scene = draw_scene(rng, self.size, p)
        amp = 0.012 * self.size
        motion = []
        for s in self._scene.shapes:
            if not s.anechoic:
                motion.append(None)
                continue
            motion.append(
                _Motion(
                    dy=float(rng.uniform(-amp, amp)),
                    dx=float(rng.uniform(-amp, amp)),
                    freq_hz=float(rng.uniform(0.1, 0.3)),
                    phase=float(rng.uniform(0, 2 * math.pi)),
                    pulse=float(rng.uniform(0.04, 0.1)) if s.kind.startswith("vessel") else 0.0,
                    pulse_hz=float(rng.uniform(1.0, 1.6)),
                    pulse_phase=float(rng.uniform(0, 2 * math.pi)),
                )
            )
        self._motion = tuple(motion)
        self._base = speckle_field(rng, self._scene)

    @property
    def params(self) -> PhantomParams:
        return self._scene.params

    def time(self, k: int) -> float:
        """Seconds since frame 0."""
        return k / self.fps

    def scene(self, k: int) -> Scene:
        """The scene at frame `k`: shapes displaced and pulsed."""
        t = self.time(k)
        shapes = []
        for s, m in zip(self._scene.shapes, self._motion, strict=True):
            if m is None:
                shapes.append(s)
                continue
            w = math.sin(2 * math.pi * m.freq_hz * t + m.phase)
            scale = 1.0 + m.pulse * math.sin(2 * math.pi * m.pulse_hz * t + m.pulse_phase)
            shapes.append(
                replace(s, cy=s.cy + m.dy * w, cx=s.cx + m.dx * w, a=s.a * scale, b=s.b * scale)
            )
        return replace(self._scene, shapes=tuple(shapes))

    def frame(self, k: int) -> PhantomFrame:
        if k < 0:
            raise ValueError(f"PhantomStream.frame: index {k} is negative")
        c = self.speckle_memory
        fresh = speckle_field(_rng(self.seed, 1, k), self._scene)
        speckle = c * self._base + math.sqrt(1.0 - c * c) * fresh
        return render(self.scene(k), speckle=speckle)

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[PhantomFrame]:
        """Frames start, start+1, ... (forever when `stop` is None)."""
        k = start
        while stop is None or k < stop:
            yield self.frame(k)
            k += 1
