"""Findings: connected regions of the segmenter's mask, tracked until stable, and the rule that
turns a stable one into a low-priority advisory `Condition`.

Per processed frame, each connected region (8-connected) of the mask is measured: area (cm²
when the source gives the physical spacing and the region lies where it holds, else pixels,
and the unit is always stated), centroid, bounding box and the mean grey level under it (an
anechoic region should be dark: a bright "region" is a model error worth seeing).

**No flicker.** A region becomes a *finding* only when it has been matched in `stable_frames`
consecutive processed frames (by mask IoU, or by centroid distance for small, fast-moving
regions); a blob present in one frame is never a finding. A finding ends only after it has
been missing `lost_frames` consecutive processed frames, so one frame where the model misses
it does not end and restart it. Frames count as *processed* frames: with latest frame wins,
N processed frames span at least N source frames.

**The rule** (`AnechoicRule`): an anechoic region at least `min_area_cm2` (sources with
spacing; `min_area_px` without) whose centroid lies in the region of interest. A finding that
meets it on `stable_frames` consecutive frames starts a `us_anechoic_region` condition (LOW,
advisory: this model has never seen a real scan; MODEL_CARD.md); it ends when the finding is
lost or has not met the rule for `lost_frames` consecutive frames. Times are the stream's own
seconds (the caller's `t_s`: frame index x the source's frame interval), so the same file
gives the same conditions however fast it is processed.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vigil.errors import ConfigError
from vigil.runtime.analysis.condition import Condition, condition, ended
from vigil.runtime.imaging.frame import Spacing
from vigil.runtime.imaging.preprocess import Box

CONDITION_KIND = "us_anechoic_region"
_EIGHT = np.ones((3, 3), dtype=bool)


@dataclass(frozen=True, slots=True)
class Region:
    """One connected region of one frame's mask. `mask` is the region inside `bbox`."""

    area_px: int
    area_cm2: float | None  # None: the source gives no spacing that holds here
    centroid: tuple[float, float]  # (x, y) pixels
    bbox: Box  # x0, y0, x1, y1 (exclusive)
    mean_intensity: float  # mean grey level (0-255) of the frame under the region
    mask: np.ndarray = field(compare=False, repr=False)

    @property
    def area(self) -> tuple[float, str]:
        """(value, unit): cm² when known, else pixels."""
        if self.area_cm2 is not None:
            return self.area_cm2, "cm2"
        return float(self.area_px), "px"

    def to_json(self) -> dict[str, Any]:
        value, unit = self.area
        return {
            "area": round(value, 4),
            "area_unit": unit,
            "area_px": self.area_px,
            "centroid_px": [round(self.centroid[0], 2), round(self.centroid[1], 2)],
            "bbox_px": list(self.bbox),
            "mean_intensity": round(self.mean_intensity, 2),
        }


def find_regions(
    mask: np.ndarray, image: np.ndarray, spacing: Spacing | None = None, min_area_px: int = 1
) -> list[Region]:
    """The connected regions of `mask` with at least `min_area_px` pixels, largest first.

    This runs on every processed frame, so it labels the mask's bounding box only, drops
    speckles by their pixel count before any per-region work, and measures each region from
    its row and column pixel counts."""
    from scipy import ndimage

    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return []
    cols = np.flatnonzero(mask[rows[0] : rows[-1] + 1].any(axis=0))
    oy, ox = int(rows[0]), int(cols[0])
    box = mask[oy : rows[-1] + 1, ox : cols[-1] + 1]
    labels, count = ndimage.label(box, structure=_EIGHT)
    if count == 1:  # one region (the usual frame): it is the mask; no histogram, no compare
        lit = np.count_nonzero(box)
        areas = np.array([box.size - lit, lit])
    else:
        areas = np.bincount(labels.ravel(), minlength=count + 1)
    out = []
    for label in np.flatnonzero(areas >= min_area_px):
        if label == 0:
            continue  # the background
        area = int(areas[label])
        member = box.astype(bool) if count == 1 else labels == label  # a copy, as `==` gives
        per_row = np.count_nonzero(member, axis=1)
        per_col = np.count_nonzero(member, axis=0)
        (ys,), (xs,) = np.nonzero(per_row), np.nonzero(per_col)
        y0, y1, x0, x1 = int(ys[0]), int(ys[-1]) + 1, int(xs[0]), int(xs[-1]) + 1
        inside = member[y0:y1, x0:x1]
        bbox = (x0 + ox, y0 + oy, x1 + ox, y1 + oy)
        under = image[bbox[1] : bbox[3], bbox[0] : bbox[2]]
        out.append(
            Region(
                area_px=area,
                area_cm2=_area_cm2(area, bbox, spacing),
                centroid=(
                    float(per_col[x0:x1] @ np.arange(x0, x1)) / area + ox,
                    float(per_row[y0:y1] @ np.arange(y0, y1)) / area + oy,
                ),
                bbox=bbox,
                mean_intensity=float(np.sum(under, where=inside, dtype=np.int64)) / area,
                mask=inside,
            )
        )
    out.sort(key=lambda r: -r.area_px)
    return out


def _area_cm2(area_px: int, bbox: Box, spacing: Spacing | None) -> float | None:
    if spacing is None:
        return None
    if spacing.region is not None:
        x0, y0, x1, y1 = spacing.region  # inclusive, as DICOM states it; bbox is exclusive
        if not (bbox[0] >= x0 and bbox[1] >= y0 and bbox[2] <= x1 + 1 and bbox[3] <= y1 + 1):
            return None  # partly outside where the spacing holds: pixels, said
    return area_px * spacing.dx_cm * spacing.dy_cm


def iou(a: Region, b: Region) -> float:
    """Intersection over union of two regions' masks (same frame geometry)."""
    x0, y0 = max(a.bbox[0], b.bbox[0]), max(a.bbox[1], b.bbox[1])
    x1, y1 = min(a.bbox[2], b.bbox[2]), min(a.bbox[3], b.bbox[3])
    if x1 <= x0 or y1 <= y0:
        return 0.0
    ma = a.mask[y0 - a.bbox[1] : y1 - a.bbox[1], x0 - a.bbox[0] : x1 - a.bbox[0]]
    mb = b.mask[y0 - b.bbox[1] : y1 - b.bbox[1], x0 - b.bbox[0] : x1 - b.bbox[0]]
    inter = int((ma & mb).sum())
    return inter / (a.area_px + b.area_px - inter)


@dataclass(frozen=True, slots=True)
class Persistence:
    """How a region becomes a finding and stops being one (processed frames)."""

    stable_frames: int = 5
    lost_frames: int = 3
    match: str = "iou"  # "iou" or "centroid"
    min_iou: float = 0.3
    max_centroid_px: float = 20.0
    min_region_px: int = 16  # smaller connected regions are ignored (speckle-sized)

    def __post_init__(self) -> None:
        if self.stable_frames < 1 or self.lost_frames < 1:
            raise ConfigError(
                f"findings: stable_frames ({self.stable_frames}) and lost_frames "
                f"({self.lost_frames}) must be at least 1"
            )
        if self.match not in ("iou", "centroid"):
            raise ConfigError(f"findings: match must be 'iou' or 'centroid', not {self.match!r}")


@dataclass(frozen=True, slots=True)
class AnechoicRule:
    """When a finding becomes an advisory condition (see the module docstring)."""

    min_area_cm2: float = 2.0
    min_area_px: int = 400  # used when the source gives no spacing
    roi: Box | None = None  # x0, y0, x1, y1 pixels: the centroid must lie inside; None: anywhere

    def holds(self, region: Region) -> bool:
        if self.roi is not None:
            x, y = region.centroid
            x0, y0, x1, y1 = self.roi
            if not (x0 <= x < x1 and y0 <= y < y1):
                return False
        if region.area_cm2 is not None:
            return region.area_cm2 >= self.min_area_cm2
        return region.area_px >= self.min_area_px

    def describe(self, unit: str) -> dict[str, Any]:
        limit = self.min_area_cm2 if unit == "cm2" else self.min_area_px
        return {"min_area": limit, "unit": unit, "roi_px": list(self.roi) if self.roi else None}


@dataclass(frozen=True, slots=True)
class Finding:
    """A stable region: its track number (per source), the region now, how long it has held."""

    track: int
    region: Region
    frames_stable: int  # consecutive processed frames matched
    first_frame: int  # source index of the frame where its track began
    missing: int  # consecutive processed frames it has been missing (< lost_frames)
    rule_met: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "finding": self.track,
            **self.region.to_json(),
            "frames_stable": self.frames_stable,
            "first_frame": self.first_frame,
            "missing": self.missing,
            "rule_met": self.rule_met,
        }


@dataclass(frozen=True, slots=True)
class FrameFindings:
    """What one processed frame yielded: every region, the findings, and conditions decided."""

    regions: tuple[Region, ...]
    findings: tuple[Finding, ...]
    conditions: tuple[Condition, ...]


@dataclass(slots=True)
class _Track:
    id: int
    region: Region
    first_frame: int
    hits: int = 1
    misses: int = 0
    confirmed: bool = False
    rule_hits: int = 0
    rule_misses: int = 0
    active: Condition | None = None


class FindingTracker:
    """Findings and their conditions for one source (not thread-safe: one inference loop)."""

    def __init__(
        self,
        source: str,
        *,
        bed: str = "imaging",
        persistence: Persistence | None = None,
        rule: AnechoicRule | None = None,
    ) -> None:
        self.source = source
        self.bed = bed
        self.persistence = persistence or Persistence()
        self.rule = rule or AnechoicRule()
        self._tracks: list[_Track] = []
        self._next_id = 1
        self.findings_seen = 0  # tracks that became findings
        self.conditions_started = 0

    def update(
        self,
        frame_index: int,
        t_s: float,
        mask: np.ndarray,
        image: np.ndarray,
        spacing: Spacing | None = None,
    ) -> FrameFindings:
        """Feed one processed frame's mask; returns its regions, the findings now, and the
        conditions started or ended by it."""
        p = self.persistence
        regions = find_regions(mask, image, spacing, p.min_region_px)
        matched = self._match(regions)
        conditions: list[Condition] = []
        kept: list[_Track] = []
        for track in self._tracks:
            region = matched.get(track.id)
            if region is None:
                if not track.confirmed:
                    continue  # not N consecutive frames: never was a finding
                track.misses += 1
                if track.misses >= p.lost_frames:
                    if track.active is not None:
                        conditions.append(self._end(track, frame_index, t_s, "region gone"))
                    continue
                kept.append(track)
                continue
            track.region, track.misses = region, 0
            track.hits += 1
            kept.append(track)
        used = {id(r) for r in matched.values()}
        for region in regions:
            if id(region) not in used:
                kept.append(_Track(self._next_id, region, frame_index))
                self._next_id += 1
        self._tracks = kept
        for track in kept:
            if track.misses:
                continue
            if not track.confirmed and track.hits >= p.stable_frames:
                track.confirmed = True
                self.findings_seen += 1
            if self.rule.holds(track.region):
                track.rule_hits, track.rule_misses = track.rule_hits + 1, 0
            else:
                track.rule_hits, track.rule_misses = 0, track.rule_misses + 1
            if track.active is None and track.confirmed and track.rule_hits >= p.stable_frames:
                conditions.append(self._start(track, frame_index, t_s))
            elif track.active is not None and track.rule_misses >= p.lost_frames:
                conditions.append(self._end(track, frame_index, t_s, "below the rule"))
        findings = tuple(
            Finding(
                t.id,
                t.region,
                t.hits,
                t.first_frame,
                t.misses,
                t.rule_hits > 0 and not t.misses,
            )
            for t in kept
            if t.confirmed
        )
        return FrameFindings(tuple(regions), findings, tuple(conditions))

    def finish(self, frame_index: int, t_s: float) -> list[Condition]:
        """End every active condition: the stream ended."""
        out = [self._end(t, frame_index, t_s, "stream ended") for t in self._tracks if t.active]
        self._tracks = []
        return out

    @property
    def active_conditions(self) -> list[Condition]:
        return [t.active for t in self._tracks if t.active is not None]

    # -- internals ----------------------------------------------------------------------------
    def _match(self, regions: list[Region]) -> dict[int, Region]:
        """Greedy one-to-one matching of tracks to regions, best pairs first."""
        p = self.persistence
        pairs: list[tuple[float, int, int]] = []
        for ti, track in enumerate(self._tracks):
            for ri, region in enumerate(regions):
                if p.match == "iou":
                    score = iou(track.region, region)
                    if score >= p.min_iou:
                        pairs.append((-score, ti, ri))
                else:
                    (ax, ay), (bx, by) = track.region.centroid, region.centroid
                    d = math.hypot(ax - bx, ay - by)
                    if d <= p.max_centroid_px:
                        pairs.append((d, ti, ri))
        pairs.sort()
        out: dict[int, Region] = {}
        taken: set[int] = set()
        for _, ti, ri in pairs:
            tid = self._tracks[ti].id
            if tid in out or ri in taken:
                continue
            out[tid] = regions[ri]
            taken.add(ri)
        return out

    def _start(self, track: _Track, frame_index: int, t_s: float) -> Condition:
        region = track.region
        value, unit = region.area
        evidence = {
            "source": self.source,
            "finding": track.id,
            **region.to_json(),
            "frames_stable": track.rule_hits,
            "first_frame": track.first_frame,
            "frame": frame_index,
            "spacing": "from the source" if unit == "cm2" else "none: areas in pixels",
            "rule": self.rule.describe(unit),
        }
        track.active = condition(
            CONDITION_KIND,
            self.bed,
            t_s,
            key=f"{self.source}/finding {track.id}",
            value=round(value, 4),
            evidence=evidence,
            decided_at_s=t_s,
            decided_ns=time.monotonic_ns(),
        )
        self.conditions_started += 1
        return track.active

    def _end(self, track: _Track, frame_index: int, t_s: float, why: str) -> Condition:
        assert track.active is not None
        value, unit = track.region.area
        out = ended(
            track.active,
            t_s,
            evidence={
                "ended_by": why,
                "end_frame": frame_index,
                "last_area": round(value, 4),
                "last_area_unit": unit,
            },
            decided_at_s=t_s,
            decided_ns=time.monotonic_ns(),
        )
        track.active = None
        return out
