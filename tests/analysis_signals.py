"""Helpers for analysis tests: synthetic ECG with a stated SNR, chunked feeding, beat scoring.

Signals come from the shared synthesizer (`vigil.models.synthetic`); noise levels follow its
SNR definition (models/synthetic/noise.py): SNR dB = 20·log10(R amplitude in lead II / level),
where R in lead II is the patient's R vector amplitude projected on lead II (60°).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np

from vigil.models.synthetic import (
    Event,
    PatientParams,
    PatientSimulator,
    PhysioState,
    Scenario,
    SignalBlock,
)
from vigil.runtime.analysis.ecg_front_end import EcgFrontEnd
from vigil.runtime.analysis.events import EcgWindow, RPeak

MATCH_TOLERANCE_S = 0.15  # ANSI/AAMI EC57 beat-by-beat matching window
QUIET = {"baseline_mv": 0.0, "emg_mv": 0.0, "mains_mv": 0.0}  # no noise at all
NOISE_KINDS = ("emg", "motion", "baseline", "mains")


def scenario(name: str = "test", events: Sequence[Event] = (), **state: object) -> Scenario:
    """A scenario from PhysioState keywords (rhythm, rate, noise levels...) and events."""
    return Scenario(name, "", PhysioState(**state), tuple(events))  # type: ignore[arg-type]


def patient(seed: int, **changes: float) -> PatientParams:
    """The patient the simulator draws for `seed`, with some fields changed."""
    drawn = PatientSimulator(scenario(), seed).patient
    return replace(drawn, **changes)


def r_amplitude_lead_ii(p: PatientParams) -> float:
    """R amplitude in lead II (mV): the R vector projected on the lead II axis (60°)."""
    return p.r_amp_mv * math.cos(math.radians(p.qrs_axis_deg - 60.0))


def noise_for_snr(kind: str, snr_db: float, p: PatientParams) -> dict[str, float]:
    """PhysioState noise keywords giving `snr_db` of noise `kind`, the other kinds silent.
    Electrode motion comes as bursts, 6 per minute, each 0.5-2 s long and on every electrode
    at once (the synthesizer draws one envelope), so about 12 % of the time no lead is clean;
    `level` is the burst's peak RMS."""
    level = r_amplitude_lead_ii(p) / 10 ** (snr_db / 20)
    state = dict(QUIET)
    if kind == "emg":
        state["emg_mv"] = level
    elif kind == "baseline":
        state["baseline_mv"] = level
    elif kind == "mains":
        state["mains_mv"] = level
    elif kind == "motion":
        state.update(motion_mv=level, motion_per_min=6.0)
    else:
        raise ValueError(f"unknown noise kind {kind!r}; known: {NOISE_KINDS}")
    return state


def render(
    scen: Scenario | str,
    seed: int,
    seconds: float,
    *,
    p: PatientParams | None = None,
    fs: int = 500,
) -> SignalBlock:
    """[0, seconds) of a scenario (or a built-in one by name) for the patient of `seed`, or
    `p`; ECG at `fs` Hz."""
    sim = PatientSimulator(scen, seed, ecg_rate=fs, patient=p)
    return sim.render(Fraction(0), Fraction(seconds))


def feed_chunks(
    front: EcgFrontEnd, ecg: np.ndarray, sizes: Iterable[int], first: int = 0
) -> tuple[list[RPeak], list[EcgWindow]]:
    """Feed `ecg` (n_leads, n) from index `first` in chunks of the given sizes (the last one
    takes the rest); returns the peaks and windows in order."""
    peaks: list[RPeak] = []
    windows: list[EcgWindow] = []
    n = ecg.shape[1]
    i = first
    for size in sizes:
        if i >= first + n:
            break
        out = front.feed(i, ecg[:, i - first : i - first + size])
        peaks += out.peaks
        windows += out.windows
        i += min(size, first + n - i)
    if i < first + n:
        out = front.feed(i, ecg[:, i - first :])
        peaks += out.peaks
        windows += out.windows
    return peaks, windows


def random_sizes(seed: int, low: int = 1, high: int = 1500) -> Iterable[int]:
    """Endless chunk sizes drawn uniformly from [low, high]."""
    rng = np.random.default_rng(seed)
    while True:
        yield int(rng.integers(low, high + 1))


@dataclass(frozen=True)
class Score:
    """Beat-by-beat counts: matched beats, missed reference beats, extra detections."""

    tp: int
    fn: int
    fp: int

    @property
    def se(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def ppv(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    def __str__(self) -> str:
        return f"Se {self.se:.2%} +P {self.ppv:.2%} (TP {self.tp} FN {self.fn} FP {self.fp})"


def score_beats(
    truth: Sequence[int],
    detected: Sequence[int],
    fs: float,
    *,
    start: int = 0,
    stop: int | None = None,
    tolerance_s: float = MATCH_TOLERANCE_S,
) -> Score:
    """Beat-by-beat matching as in ANSI/AAMI EC57: each reference beat matches at most one
    detection within `tolerance_s` (nearest pairs first). Matching uses every beat, counting
    only reference beats (TP, FN) and detections (FP) in [start, stop)."""
    tol = tolerance_s * fs
    hi = math.inf if stop is None else stop
    ref = sorted(truth)
    det = sorted(detected)
    pairs = sorted(
        (abs(r - det[b]), a, b)
        for a, r in enumerate(ref)
        for b in range(
            int(np.searchsorted(det, r - tol)), int(np.searchsorted(det, r + tol, "right"))
        )
    )
    used_r: set[int] = set()
    used_d: set[int] = set()
    for _, a, b in pairs:
        if a not in used_r and b not in used_d:
            used_r.add(a)
            used_d.add(b)
    inside_r = [a for a, r in enumerate(ref) if start <= r < hi]
    inside_d = [b for b, d in enumerate(det) if start <= d < hi]
    tp = sum(a in used_r for a in inside_r)
    return Score(tp=tp, fn=len(inside_r) - tp, fp=sum(b not in used_d for b in inside_d))
