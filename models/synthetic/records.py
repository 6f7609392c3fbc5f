"""The values the synthesizer hands out: signal blocks and their ground truth.

Convention for numerics: a float field is NaN when the monitor has no valid value for it
(probe or lead off, measurement not yet made or failed, device fault); any finite value is
valid. 0.0 is a valid measurement meaning "none detected" (HR 0 in asystole or VF).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, fields
from fractions import Fraction

import numpy as np


@dataclass(frozen=True, slots=True)
class Beat:
    """A QRS complex: R-peak time (exactly ecg_index / ecg_rate), label 'N' (normal,
    conducted) or 'V' (ventricular), and the RR interval before it (NaN for the first)."""

    t_s: float
    ecg_index: int
    label: str
    rr_s: float


@dataclass(frozen=True, slots=True)
class Episode:
    """A ground-truth interval: a rhythm, or a condition such as apnea. `end_s` is None when
    it lasts forever (the scenario's final state)."""

    kind: str
    start_s: float
    end_s: float | None


@dataclass(frozen=True, slots=True)
class NumericsSample:
    """What the monitor displays at whole second `t_s`; NaN means not valid."""

    t_s: float
    hr: float  # /min, from QRS complexes in the last 8 s
    spo2: float  # %
    pulse_rate: float  # /min, from pleth pulses in the last 8 s
    nibp_sys: float  # mmHg, held from the last completed measurement
    nibp_dia: float
    nibp_mean: float
    resp_rate: float  # /min, from impedance breaths
    temp_c: float

    def is_valid(self, name: str) -> bool:
        return not math.isnan(getattr(self, name))

    def values(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "t_s"}


@dataclass(frozen=True, slots=True)
class StatusSample:
    """Device status at whole second `t_s`."""

    t_s: float
    leads_off: tuple[bool, bool, bool]  # leads I, II, III
    probe_off: bool
    nibp_in_progress: bool
    battery_pct: int
    device_fault: bool


@dataclass(frozen=True, slots=True, eq=False)
class SignalBlock:
    """Every sample with t0 <= i / rate < t1 per signal, the numerics and status of each whole
    second in [t0, t1), and the ground truth (beats, episodes, breath onsets) whose time falls
    in [t0, t1). Arrays are float32: ecg (3, n) mV leads I, II, III; pleth (n,) a.u.;
    resp (n,) ohm."""

    t0: Fraction
    t1: Fraction
    ecg_first_index: int
    ecg: np.ndarray
    pleth_first_index: int
    pleth: np.ndarray
    resp_first_index: int
    resp: np.ndarray
    numerics: tuple[NumericsSample, ...]
    status: tuple[StatusSample, ...]
    beats: tuple[Beat, ...]
    episodes: tuple[Episode, ...]
    breaths: tuple[float, ...]

    @property
    def duration_s(self) -> Fraction:
        return self.t1 - self.t0


def concatenate_blocks(blocks: list[SignalBlock]) -> SignalBlock:
    """Join contiguous blocks ([a, b) then [b, c)) into one block over [a, c)."""
    if not blocks:
        raise ValueError("no blocks to concatenate")
    for a, b in itertools.pairwise(blocks):
        if a.t1 != b.t0:
            raise ValueError(f"blocks are not contiguous: {a.t1} != {b.t0}")
    first = blocks[0]
    return SignalBlock(
        t0=first.t0,
        t1=blocks[-1].t1,
        ecg_first_index=first.ecg_first_index,
        ecg=np.concatenate([b.ecg for b in blocks], axis=1),
        pleth_first_index=first.pleth_first_index,
        pleth=np.concatenate([b.pleth for b in blocks]),
        resp_first_index=first.resp_first_index,
        resp=np.concatenate([b.resp for b in blocks]),
        numerics=tuple(n for b in blocks for n in b.numerics),
        status=tuple(s for b in blocks for s in b.status),
        beats=tuple(x for b in blocks for x in b.beats),
        episodes=tuple(e for b in blocks for e in b.episodes),
        breaths=tuple(x for b in blocks for x in b.breaths),
    )
