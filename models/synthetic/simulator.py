"""PatientSimulator: a scenario played forward as ECG, pleth, respiration, numerics and truth.

How partition independence works. Internally everything is generated in fixed one-second
frames [k, k+1), strictly in order, each from the state the previous frame left (beat and
breath schedulers, filter states, random streams). `render(t0, t1)` only slices frames, so
rendering [a, b) then [b, c) gives bit-identical samples and events to rendering [a, c),
whatever a, b and c are. Frames are generated once and only the last two are kept, so
memory is bounded however long the simulation streams; asking for an earlier time than the
kept frames restarts from t = 0 (correct, but costs time proportional to t).

Random streams are independent per component (patient, beats, breaths, ECG noise, VF,
pleth noise, respiration noise, numerics), each derived from the seed with
`numpy.random.SeedSequence(seed, spawn_key=(stream,))`.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from vigil.errors import ConfigError
from vigil.models.synthetic.ecg import (
    SUPPORT_AFTER_S,
    SUPPORT_BEFORE_S,
    beat_waves,
    heart_vector,
    limb_leads,
    rotate,
)
from vigil.models.synthetic.fibrillation import FibrillationGenerator
from vigil.models.synthetic.noise import EcgNoise, FilteredNoise, lowpass
from vigil.models.synthetic.numerics import NumericsTracker
from vigil.models.synthetic.patient import (
    DEFAULT_RANGES,
    ParameterRanges,
    PatientParams,
    draw_patient,
)
from vigil.models.synthetic.pleth import (
    BASELINE,
    MIN_PULSE_STROKE,
    RESP_MODULATION,
    SUPPORT_AFTER_R_S,
    pulse_peak_time,
    pulse_wave,
)
from vigil.models.synthetic.records import Beat, Episode, NumericsSample, SignalBlock, StatusSample
from vigil.models.synthetic.respiration import BreathScheduler, breath_wave
from vigil.models.synthetic.rhythm import BeatScheduler, ScheduledBeat
from vigil.models.synthetic.scenario import Scenario, load_scenario
from vigil.models.synthetic.timebase import as_time, index_range, sample_times
from vigil.models.synthetic.timeline import Timeline

STREAMS = {
    "patient": 0,
    "beats": 1,
    "breaths": 2,
    "ecg_noise": 3,
    "vf": 4,
    "pleth_noise": 5,
    "resp_noise": 6,
    "numerics": 7,
}
BEAT_LOOKAHEAD_S = SUPPORT_BEFORE_S + 0.1  # beats are scheduled this far past a frame
BREATH_LOOKAHEAD_S = 3.0  # breaths further still: beat timing reads the breathing phase
BEAT_KEEP_S = max(SUPPORT_AFTER_S, SUPPORT_AFTER_R_S) + 0.1  # beats still drawn after R
CARDIOGENIC_OHM = 0.04  # impedance change per heartbeat (visible during apnea)
CARDIOGENIC_DELAY_S = 0.25
CARDIOGENIC_SIGMA_S = 0.08
MIN_RATE = Fraction(10)
CACHED_FRAMES = 2


def _rng(seed: int, stream: str) -> np.random.Generator:
    return np.random.Generator(
        np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(STREAMS[stream],)))
    )


@dataclass(frozen=True, slots=True)
class _Frame:
    k: int
    ecg_first: int
    ecg: np.ndarray
    pleth_first: int
    pleth: np.ndarray
    resp_first: int
    resp: np.ndarray
    numerics: NumericsSample
    status: StatusSample
    beats: tuple[Beat, ...]
    breaths: tuple[float, ...]
    episodes: tuple[Episode, ...]


def _check_rate(name: str, rate: Fraction | int) -> Fraction:
    if isinstance(rate, bool) or not isinstance(rate, (int, Fraction)):
        raise ConfigError(f"{name} must be an int or Fraction (Hz), got {rate!r}")
    rate = Fraction(rate)
    if rate < MIN_RATE:
        raise ConfigError(f"{name} must be at least {MIN_RATE} Hz, got {rate}")
    return rate


class PatientSimulator:
    """One simulated patient on a monitor, rendered forward block by block."""

    def __init__(
        self,
        scenario: Scenario | str | Path,
        seed: int,
        ecg_rate: Fraction | int = Fraction(500),
        pleth_rate: Fraction | int = Fraction(125),
        resp_rate: Fraction | int = Fraction(125, 2),
        *,
        ranges: ParameterRanges = DEFAULT_RANGES,
        patient: PatientParams | None = None,
    ) -> None:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
        if not isinstance(scenario, Scenario):
            scenario = load_scenario(scenario)
        self.scenario = scenario
        self.seed = int(seed)
        self.ecg_rate = _check_rate("ecg_rate", ecg_rate)
        self.pleth_rate = _check_rate("pleth_rate", pleth_rate)
        self.resp_rate = _check_rate("resp_rate", resp_rate)
        if self.ecg_rate < 100:
            raise ConfigError(
                f"ecg_rate must be at least 100 Hz to draw a QRS, got {self.ecg_rate}"
            )
        self.timeline = Timeline(scenario)
        self.patient = patient or draw_patient(_rng(self.seed, "patient"), ranges)
        self._reset()

    # -- state -----------------------------------------------------------------------------
    def _reset(self) -> None:
        seed, p = self.seed, self.patient
        self._breaths = BreathScheduler(self.timeline, p, _rng(seed, "breaths"))
        self._sched = BeatScheduler(
            self.timeline, p, _rng(seed, "beats"), self.ecg_rate, self._breaths.phase_at
        )
        self._vf = FibrillationGenerator(_rng(seed, "vf"), p, self.ecg_rate)
        self._ecg_noise = EcgNoise(_rng(seed, "ecg_noise"), self.ecg_rate)
        self._pleth_noise = FilteredNoise(
            _rng(seed, "pleth_noise"), lowpass(float(self.pleth_rate), 8.0), 1
        )
        self._resp_noise = FilteredNoise(
            _rng(seed, "resp_noise"), lowpass(float(self.resp_rate), 3.0), 1
        )
        self._numerics = NumericsTracker(self.scenario, self.timeline, _rng(seed, "numerics"))
        self._beats: deque[ScheduledBeat] = deque()
        self._next_k = 0
        self._cache: deque[_Frame] = deque(maxlen=CACHED_FRAMES)

    def footprint(self) -> dict[str, int]:
        """Sizes of everything the simulator retains; stays bounded while streaming."""
        return {
            "beats": len(self._beats),
            "breaths": len(self._breaths.recent),
            "rate_meter_events": self._numerics.footprint(),
            "motion_bursts": self._ecg_noise.footprint(),
            "cached_frames": len(self._cache),
        }

    # -- public ----------------------------------------------------------------------------
    def render(self, t0: Fraction | int | str, t1: Fraction | int | str) -> SignalBlock:
        """Every sample with t0 <= i / rate < t1 per signal, plus the numerics, status and
        ground truth of [t0, t1). Partition independent and deterministic by seed."""
        t0, t1 = as_time(t0), as_time(t1)
        if t0 < 0 or t1 < t0:
            raise ValueError(f"need 0 <= t0 <= t1, got [{t0}, {t1})")
        e0, e1 = index_range(t0, t1, self.ecg_rate)
        p0, p1 = index_range(t0, t1, self.pleth_rate)
        r0, r1 = index_range(t0, t1, self.resp_rate)
        ecg = np.empty((3, e1 - e0), dtype=np.float32)
        pleth = np.empty(p1 - p0, dtype=np.float32)
        resp = np.empty(r1 - r0, dtype=np.float32)
        numerics: list[NumericsSample] = []
        status: list[StatusSample] = []
        beats: list[Beat] = []
        breaths: list[float] = []
        episodes: list[Episode] = []
        k_stop = math.ceil(t1) if t1 > t0 else math.floor(t0)
        for k in range(math.floor(t0), k_stop):
            fr = self._frame(k)
            _copy(ecg, e0, e1, fr.ecg, fr.ecg_first)
            _copy(pleth, p0, p1, fr.pleth, fr.pleth_first)
            _copy(resp, r0, r1, fr.resp, fr.resp_first)
            if k >= t0:
                numerics.append(fr.numerics)
                status.append(fr.status)
            beats.extend(b for b in fr.beats if e0 <= b.ecg_index < e1)
            breaths.extend(x for x in fr.breaths if t0 <= Fraction(x) < t1)
            episodes.extend(e for e in fr.episodes if t0 <= Fraction(e.start_s) < t1)
        return SignalBlock(
            t0=t0,
            t1=t1,
            ecg_first_index=e0,
            ecg=ecg,
            pleth_first_index=p0,
            pleth=pleth,
            resp_first_index=r0,
            resp=resp,
            numerics=tuple(numerics),
            status=tuple(status),
            beats=tuple(beats),
            episodes=tuple(episodes),
            breaths=tuple(breaths),
        )

    # -- frames ----------------------------------------------------------------------------
    def _frame(self, k: int) -> _Frame:
        for fr in self._cache:
            if fr.k == k:
                return fr
        if k < self._next_k:
            self._reset()  # going back in time: replay from the start
        while self._next_k <= k:
            self._cache.append(self._generate(self._next_k))
            self._next_k += 1
        return self._cache[-1]

    def _generate(self, k: int) -> _Frame:
        tl, p = self.timeline, self.patient
        t_lo, t_hi = float(k), float(k + 1)
        for b in self._breaths.advance(t_hi + BREATH_LOOKAHEAD_S):
            self._numerics.breaths.add(b.onset)
        for b in self._sched.advance(t_hi + BEAT_LOOKAHEAD_S):
            self._beats.append(b)
            if b.label != "P":
                self._numerics.beats.add(b.t)
            if b.stroke >= MIN_PULSE_STROKE:
                self._numerics.pulses.add(pulse_peak_time(b, p))
        numerics, status = self._numerics.sample(t_lo)
        state = tl.state(t_lo)  # noise settings change on whole seconds
        breaths = self._breaths.recent

        # ECG
        e0, e1 = index_range(Fraction(k), Fraction(k + 1), self.ecg_rate)
        t = sample_times(e0, e1, self.ecg_rate)
        drawn = [
            b for b in self._beats if b.t - SUPPORT_BEFORE_S < t_hi and b.t + SUPPORT_AFTER_S > t_lo
        ]
        waves = np.concatenate([beat_waves(b, p) for b in drawn]) if drawn else np.empty((0, 4))
        hx, hy = heart_vector(t, waves)
        swing = math.radians(p.axis_swing_deg) * (breath_wave(t, breaths, normalise=True) - 0.5)
        hx, hy = rotate(hx, hy, swing)
        rhythm = tl.steps("rhythm")
        vf_mask = np.asarray([v == "vf" for v in rhythm.values])[rhythm.sample(t)]
        if vf_mask.any():
            vx, vy = self._vf.render(len(t))
            hx = hx + vx * vf_mask
            hy = hy + vy * vf_mask
        lead_i, lead_ii = limb_leads(hx, hy)
        noise = self._ecg_noise.render(
            e0,
            e1,
            t,
            t_lo,
            baseline_mv=state.baseline_mv,
            emg_mv=state.emg_mv,
            motion_mv=state.motion_mv,
            motion_per_min=state.motion_per_min,
            mains_mv=state.mains_mv,
            mains_hz=state.mains_hz,
        )
        i32 = (lead_i + noise[1] - noise[0]).astype(np.float32)
        ii32 = (lead_ii + noise[2] - noise[0]).astype(np.float32)
        ecg = np.stack([i32, ii32, ii32 - i32])  # Einthoven exactly, in float32
        for lead in range(3):
            ecg[lead, tl.bool_mask("leads_off", t, lead)] = 0.0

        # pleth
        q0, q1 = index_range(Fraction(k), Fraction(k + 1), self.pleth_rate)
        tq = sample_times(q0, q1, self.pleth_rate)
        pulsing = [b for b in self._beats if b.t < t_hi and b.t + SUPPORT_AFTER_R_S > t_lo]
        pleth = (
            BASELINE
            + pulse_wave(tq, pulsing, p)
            + RESP_MODULATION * breath_wave(tq, breaths, normalise=True)
            + state.pleth_noise * self._pleth_noise.render(len(tq))[0]
        ).astype(np.float32)
        pleth[tl.bool_mask("probe_off", tq)] = 0.0

        # respiration (impedance across RA-LA, the lead I electrodes)
        r0, r1 = index_range(Fraction(k), Fraction(k + 1), self.resp_rate)
        tr = sample_times(r0, r1, self.resp_rate)
        resp = breath_wave(tr, breaths) + state.resp_noise_ohm * self._resp_noise.render(len(tr))[0]
        for b in pulsing:
            if b.stroke > 0:
                d = (tr - b.t - CARDIOGENIC_DELAY_S) / CARDIOGENIC_SIGMA_S
                resp += CARDIOGENIC_OHM * min(b.stroke, 1.0) * np.exp(-0.5 * d * d)
        resp = resp.astype(np.float32)
        resp[tl.bool_mask("leads_off", tr, 0)] = 0.0

        frame = _Frame(
            k=k,
            ecg_first=e0,
            ecg=ecg,
            pleth_first=q0,
            pleth=pleth,
            resp_first=r0,
            resp=resp,
            numerics=numerics,
            status=status,
            beats=tuple(
                Beat(b.t, b.index, b.label, b.rr)
                for b in self._beats
                if b.label != "P" and e0 <= b.index < e1
            ),
            breaths=tuple(b.onset for b in breaths if t_lo <= b.onset < t_hi),
            episodes=tuple(tl.episodes_starting(t_lo, t_hi)),
        )
        while self._beats and self._beats[0].t < t_hi - BEAT_KEEP_S:
            self._beats.popleft()
        self._breaths.prune(t_hi - 1.0)
        return frame


def _copy(dst: np.ndarray, d0: int, d1: int, src: np.ndarray, s0: int) -> None:
    """Copy the overlap of src (first index s0) into dst (indices [d0, d1))."""
    s1 = s0 + src.shape[-1]
    lo, hi = max(d0, s0), min(d1, s1)
    if lo < hi:
        dst[..., lo - d0 : hi - d0] = src[..., lo - s0 : hi - s0]


def generate_recording(
    scenario: Scenario | str | Path,
    seed: int,
    duration_s: Fraction | int | str,
    **kwargs: object,
) -> SignalBlock:
    """Render [0, duration_s) in one block (for training sets and tests). Keyword arguments
    go to `PatientSimulator` (rates, `ranges`, `patient`)."""
    sim = PatientSimulator(scenario, seed, **kwargs)  # type: ignore[arg-type]
    return sim.render(Fraction(0), as_time(duration_s))


def iter_blocks(
    sim: PatientSimulator,
    block_s: Fraction | int | str,
    start_s: Fraction | int | str = 0,
    stop_s: Fraction | int | str | None = None,
) -> Iterator[SignalBlock]:
    """Consecutive blocks of `block_s` seconds from `start_s`, forever unless `stop_s`."""
    step, t = as_time(block_s), as_time(start_s)
    if step <= 0:
        raise ValueError(f"block_s must be positive, got {step}")
    stop = None if stop_s is None else as_time(stop_s)
    while stop is None or t < stop:
        t_next = t + step if stop is None else min(t + step, stop)
        yield sim.render(t, t_next)
        t = t_next
