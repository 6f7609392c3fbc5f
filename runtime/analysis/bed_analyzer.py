"""One bed's analysis: every stage, wired in this one visible place.

```
ECG leads  -> LeadAligner -> EcgFrontEnd -> BeatClassifier -> HeartRateMeter
                                  |              '-----------> ArrhythmiaDetector -> PulseFusion
                                  '-> VfDetector ---------------------^
pleth      -> PulseDetector  ---------------------------------------> PulseFusion, pulse rate
resp       -> BreathDetector -> ApneaDetector
numerics   -> LimitDetector, News2Scorer, TrendAnomalyDetector, custom detectors
status     -> EcgFrontEnd (leads off), StatusDetector
```

`feed(record)` takes the bridge's records as they come (`vigil.records`) and returns what
they completed. The live runtime calls it per record; `vigil analyze` per chunk of a file;
both get the same beats and conditions, because every stage decides on its own sample grid.

Numerics: a monitor sends its own (NUMERICS messages), and limits, NEWS2 and the trend model
judge those. A recording without numerics (WFDB, CSV) is analysed with `derive_numerics=True`:
the bed then derives them once a second of analysed ECG (heart rate from the beats, pulse
rate from the pleth, respiration rate from the impedance) and ignores any `Numerics` record,
since two sources for one number would alarm twice.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import replace
from fractions import Fraction
from typing import Any

import numpy as np

from vigil.records import DeviceStatus, Numerics, Record, WaveformChunk
from vigil.runtime.analysis.apnea import ApneaDetector
from vigil.runtime.analysis.arrhythmia import ArrhythmiaDetector
from vigil.runtime.analysis.beat_classifier import BeatClassifier
from vigil.runtime.analysis.condition import Condition
from vigil.runtime.analysis.custom_detector import CustomDetector
from vigil.runtime.analysis.ecg_front_end import EcgFrontEnd
from vigil.runtime.analysis.events import seconds_at
from vigil.runtime.analysis.fusion import PulseFusion
from vigil.runtime.analysis.heart_rate import HeartRateMeter
from vigil.runtime.analysis.lead_alignment import LeadAligner
from vigil.runtime.analysis.limits import LimitDetector
from vigil.runtime.analysis.news2 import News2Scorer
from vigil.runtime.analysis.pleth import PlethOutput, PulseDetector
from vigil.runtime.analysis.respiration import BreathDetector, RespOutput
from vigil.runtime.analysis.result import AnalysisStep
from vigil.runtime.analysis.settings import AnalysisSettings
from vigil.runtime.analysis.status import StatusDetector
from vigil.runtime.analysis.trend_anomaly import TrendAnomalyDetector
from vigil.runtime.analysis.vf_detector import VfDetector

ECG_LEADS = {
    "ECG_I": "I",
    "ECG_II": "II",
    "ECG_III": "III",
    "ECG_AVR": "aVR",
    "ECG_AVL": "aVL",
    "ECG_AVF": "aVF",
    "ECG_V": "V",
}
"""Channel kind -> lead name. The analysed leads are those the device sends in its first
round of ECG chunks: until a lead repeats or another record comes, chunks are held."""

MAX_LEAD_LAG_S = 2.0  # a lead this far behind the others is released as missing (NaN)
MAX_FILL_S = 2.0  # longer holes in a channel restart its analysis (`gap`) instead of NaN fill


class BedAnalyzer:
    """Vital signs of one bed in, beats and alarm conditions out."""

    def __init__(
        self,
        settings: AnalysisSettings,
        *,
        derive_numerics: bool = False,
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self.settings = settings
        self.derive_numerics = derive_numerics
        self.bed = settings.bed
        self._clock = clock
        self._ecg_chunks: list[WaveformChunk] = []  # held while the leads are learned
        self._ecg_fs: Fraction | None = None
        self._aligner: LeadAligner | None = None
        self._front: EcgFrontEnd | None = None
        self._classifier: BeatClassifier | None = None
        self._vf: VfDetector | None = None
        self._arrhythmia: ArrhythmiaDetector | None = None
        self._hr = HeartRateMeter(settings.arrhythmia.hr_average_beats)
        self._fusion = PulseFusion(enabled=settings.fusion)
        self._leads_off: tuple[str, ...] = ()
        self._pleth: _WaveStream | None = None
        self._resp: _WaveStream | None = None
        self._apnea = ApneaDetector(self.bed, settings)
        self._limits = LimitDetector(self.bed, settings)
        self._news2 = News2Scorer(self.bed, settings)
        self._trend = TrendAnomalyDetector(self.bed, settings.models)
        self._custom = [
            CustomDetector(self.bed, c, settings.models)
            for c in settings.custom_detectors
            if not c.source.startswith("ecg:")
        ]
        self._custom_ecg: list[CustomDetector] = []  # built when the ECG rate is known
        self._status = StatusDetector(self.bed)
        self._probe_on = True
        self._derived_next_s = 1  # next whole second at which derived numerics are due
        self._counts = {"ecg_samples": 0, "ecg_leads_ignored": 0, "records_ignored": 0}
        self._startup = self._trend.startup_conditions() + [
            c for d in self._custom for c in d.startup_conditions()
        ]

    # -- public -----------------------------------------------------------------------------
    @property
    def decided_by(self) -> str:
        return self._classifier.decided_by if self._classifier else ""

    @property
    def suppressed(self) -> list[Condition]:
        return self._fusion.suppressed

    @property
    def ecg_fs(self) -> Fraction | None:
        return self._ecg_fs

    @property
    def counters(self) -> dict[str, int]:
        """Samples analysed, and every sample or record that was not analysed as sent:
        repeated (overlapped), lost and filled with NaN (filled), holes too long to fill
        (channel restarts), leads and records ignored."""
        counts = dict(self._counts)
        streams = [s for s in (self._pleth, self._resp) if s is not None]
        aligner = self._aligner
        counts["samples_overlapped"] = sum(s.overlapped for s in streams) + (
            aligner.overlapped_samples if aligner else 0
        )
        counts["samples_filled"] = sum(s.filled for s in streams) + (
            aligner.filled_samples if aligner else 0
        )
        counts["channel_restarts"] = sum(s.restarts for s in streams)
        return counts

    @property
    def arrhythmia_counters(self) -> dict[str, int]:
        """The arrhythmia detector's own counts (beats, suspensions, VF windows and the VF
        windows the `organised_qrs` rule vetoed); empty before the ECG started."""
        return dict(self._arrhythmia.counters) if self._arrhythmia else {}

    @property
    def vf_vetoes(self) -> list[dict[str, Any]]:
        """The last VF windows the `organised_qrs` rule vetoed, with why (bounded log)."""
        return list(self._arrhythmia.vetoes) if self._arrhythmia else []

    def feed(self, record: Record) -> AnalysisStep:
        step = AnalysisStep()
        if self._startup:
            t_s = _device_time_s(record)
            if t_s is not None:  # the models' verdicts date from the bed's first data
                step.conditions.extend(_dated(self._startup, t_s))
                self._startup = []
        if self._front is None and self._ecg_chunks and not _is_ecg(record):
            self._start_ecg(step)  # the leads of this moment have all been seen
        if isinstance(record, WaveformChunk):
            if record.kind in ECG_LEADS:
                self._ecg(record, step)
            elif record.kind == "PLETH":
                self._pleth_chunk(record, step)
            elif record.kind == "RESPIRATION":
                self._resp_chunk(record, step)
            else:
                self._counts["records_ignored"] += 1
        elif isinstance(record, Numerics):
            if self.derive_numerics:
                self._counts["records_ignored"] += 1
            else:
                self._numerics(record.device_time_us / 1e6, record.values, step)
        elif isinstance(record, DeviceStatus):
            self._device_status(record, step)
        else:
            self._counts["records_ignored"] += 1
        return step

    def finish(self) -> AnalysisStep:
        """End of the record: release the leads still being learned. Active conditions stay
        active (the record ended, the patient's condition did not)."""
        step = AnalysisStep()
        if self._front is None and self._ecg_chunks:
            self._start_ecg(step)
        return step

    # -- ECG --------------------------------------------------------------------------------
    def _ecg(self, chunk: WaveformChunk, step: AnalysisStep) -> None:
        if self._front is None:
            seen = {c.kind for c in self._ecg_chunks}
            self._ecg_chunks.append(chunk)
            if chunk.kind in seen:  # every lead the device sends has had its turn
                self._start_ecg(step)
            return
        lead = ECG_LEADS[chunk.kind]
        same_rate = chunk.rate is self._ecg_fs or chunk.rate == self._ecg_fs  # `is`: no Fraction ==
        if not same_rate or self._aligner is None or lead not in self._aligner.leads:
            self._counts["ecg_leads_ignored"] += 1
            return
        self._aligner.add(lead, chunk.first_index, chunk.samples)
        self._run_ecg(step)

    def _start_ecg(self, step: AnalysisStep) -> None:
        chunks, self._ecg_chunks = self._ecg_chunks, []
        fs = chunks[0].rate
        leads: list[str] = []
        for c in chunks:
            lead = ECG_LEADS[c.kind]
            if c.rate == fs and lead not in leads:
                leads.append(lead)
        self._ecg_fs = fs
        first = min(c.first_index for c in chunks)
        self._aligner = LeadAligner(leads, first, max_lag=int(MAX_LEAD_LAG_S * fs))
        self._front = EcgFrontEnd(fs, leads)
        self._classifier = BeatClassifier(fs, leads, self.bed, self.settings.models)
        self._vf = VfDetector(fs, leads)
        self._arrhythmia = ArrhythmiaDetector(self.bed, fs, self.settings)
        first_s = float(first / fs)
        step.conditions.extend(_dated(self._classifier.startup_conditions(), first_s))
        for cfg in self.settings.custom_detectors:
            if cfg.source.startswith("ecg:"):
                detector = CustomDetector(self.bed, cfg, self.settings.models, ecg_fs=fs)
                self._custom_ecg.append(detector)
                step.conditions.extend(_dated(detector.startup_conditions(), first_s))
        if self._leads_off:
            self._front.set_leads_off(first, self._leads_off)
        if first > 0:
            self._front.gap(first)
            self._classifier.gap(first)
        for c in chunks:
            if c.rate == fs:
                self._aligner.add(ECG_LEADS[c.kind], c.first_index, c.samples)
            else:
                self._counts["ecg_leads_ignored"] += 1
        self._run_ecg(step)

    def _run_ecg(self, step: AnalysisStep) -> None:
        assert self._aligner is not None
        assert self._front is not None
        assert self._classifier is not None
        assert self._vf is not None
        assert self._arrhythmia is not None
        assert self._ecg_fs is not None
        while (block := self._aligner.take()) is not None:
            first, samples = block
            self._counts["ecg_samples"] += samples.shape[1]
            out = self._front.feed(first, samples)
            beats = self._classifier.feed(first, samples, out.peaks, out.windows)
            vf = self._vf.feed(first, samples, out.windows)
            beats_through = self._classifier.beats_through(out.analysed_through)
            candidates = self._arrhythmia.update(
                beats,
                out.windows,
                vf,
                out.analysed_through,
                beats_through=beats_through,
                quiet=out.quiet,
            )
            candidates += self._classifier.take_conditions()
            for detector in self._custom_ecg:
                if detector.lead in self._aligner.leads:
                    row = samples[self._aligner.leads.index(detector.lead)]
                    candidates += detector.feed(
                        first, row, out.peaks, peaks_through=out.analysed_through
                    )
            through_s = seconds_at(out.analysed_through, self._ecg_fs)
            newest_s = seconds_at(first + samples.shape[1], self._ecg_fs)
            step.beats.extend(beats)
            step.ecg_windows.extend(out.windows)
            step.heart_rate.extend(self._hr.update(beats))
            self._emit(step, self._fusion.step(candidates, through_s), newest_s)
            if self.derive_numerics:  # the heart rate is final up to beats_through
                self._derive_numerics(seconds_at(beats_through, self._ecg_fs), step)

    # -- pleth and respiration --------------------------------------------------------------
    def _pleth_chunk(self, chunk: WaveformChunk, step: AnalysisStep) -> None:
        if self._pleth is None:
            self._pleth = _WaveStream(PulseDetector(chunk.rate), chunk)
        fed = self._pleth.feed(chunk)
        if fed is None:
            return
        out, _ = fed
        self._fusion.add_pulses(
            [p.t_s for p in out.pulses],
            out.analysed_through / self._pleth.hz(chunk.rate),
            self._probe_on,
        )

    def _resp_chunk(self, chunk: WaveformChunk, step: AnalysisStep) -> None:
        if self._resp is None:
            self._resp = _WaveStream(BreathDetector(chunk.rate), chunk)
            if not self._leads_off:
                self._apnea.restart(chunk.first_index / float(chunk.rate))
        fed = self._resp.feed(chunk)
        if fed is None:
            return
        out, samples = fed
        hz = self._resp.hz(chunk.rate)
        through_s = out.analysed_through / hz
        valid = not self._leads_off and (_any_finite(samples) if len(samples) else True)
        newest_s = chunk.end_index / hz
        self._emit(step, self._apnea.update(out.breaths, through_s, valid), newest_s)

    # -- numerics and status ----------------------------------------------------------------
    def _numerics(self, t_s: float, values: dict[str, float], step: AnalysisStep) -> None:
        conditions = self._limits.update(t_s, values)
        conditions += self._news2.update(t_s, values)
        conditions += self._trend.update(t_s, values)
        for detector in self._custom:
            conditions += detector.update(t_s, values)
        self._emit(step, conditions, t_s)

    def _derive_numerics(self, ecg_through_s: float, step: AnalysisStep) -> None:
        while self._derived_next_s <= ecg_through_s:
            t = float(self._derived_next_s)
            self._derived_next_s += 1
            values = {
                "hr": self._hr.rate_at(t),
                "pulse_rate": self._pleth.detector.pulse_rate(t) if self._pleth else math.nan,
                "resp_rate": self._resp.detector.respiration_rate(t) if self._resp else math.nan,
            }
            self._numerics(t, values, step)

    def _device_status(self, status: DeviceStatus, step: AnalysisStep) -> None:
        t_s = status.device_time_us / 1e6
        leads = tuple(sorted(_lead_of(label) for label in status.leads_off))
        if leads != self._leads_off:
            # impedance respiration runs through the ECG electrodes: an electrode off makes
            # the trace meaningless (flat), which must read "no signal", never "apnea"
            if leads and not self._leads_off:
                self._emit(step, self._apnea.suspend(t_s), t_s)
            elif self._leads_off and not leads:
                self._apnea.restart(t_s)
            self._leads_off = leads
            if self._front is not None and self._ecg_fs is not None:
                self._front.set_leads_off(math.ceil(t_s * self._ecg_fs), leads)
        self._probe_on = not status.probe_off
        self._emit(step, self._status.update(status, t_s), t_s)

    def _emit(self, step: AnalysisStep, conditions: list[Condition], at_s: float) -> None:
        """Add `conditions` decided now, with `at_s` the device time of the newest sample
        received (not the time analysed through): a detection delay counted from the event to
        `decided_at_s` then includes every look-ahead the decision waited for."""
        if not conditions:
            return
        now = self._clock()
        step.conditions.extend(
            c if c.decided_ns else replace(c, decided_at_s=at_s, decided_ns=now) for c in conditions
        )


def _lead_of(label: str) -> str:
    """'ECG II' (a STATUS leads-off label) -> 'II'."""
    text = label.strip()
    return text[4:] if text.upper().startswith("ECG ") else text


def _is_ecg(record: Record) -> bool:
    return isinstance(record, WaveformChunk) and record.kind in ECG_LEADS


class _WaveStream:
    """One single-channel waveform (pleth or respiration): its detector and where the next
    chunk must continue. Repeated samples are dropped, short holes (up to `MAX_FILL_S`) are
    filled with NaN (missing data), longer ones restart the detector (`gap`); all counted."""

    def __init__(self, detector: PulseDetector | BreathDetector, first: WaveformChunk) -> None:
        self.detector = detector
        self.fs = first.rate
        self._hz = float(first.rate)
        self.next = first.first_index
        self.overlapped = self.filled = self.restarts = 0
        if self.next:
            detector.gap(self.next)

    def hz(self, rate: Fraction) -> float:
        """float(rate), without the Fraction arithmetic when it is the stream's own rate object
        (a source sends every chunk of a channel with the same one)."""
        return self._hz if rate is self.fs else float(rate)

    def feed(self, chunk: WaveformChunk) -> tuple[PlethOutput | RespOutput, np.ndarray] | None:
        """The detector's output for this chunk and the samples it was fed, or None when the
        chunk held only samples already analysed."""
        samples = np.asarray(chunk.samples, dtype=np.float32)
        first = chunk.first_index
        if first < self.next:
            skip = self.next - first
            self.overlapped += min(skip, len(samples))
            samples = samples[skip:]
            if not len(samples):
                return None
        elif first > self.next:
            hole = first - self.next
            if hole <= MAX_FILL_S * self.fs:
                self.filled += hole
                samples = np.concatenate([np.full(hole, np.nan, dtype=np.float32), samples])
            else:
                self.restarts += 1
                self.detector.gap(first)
                self.next = first
        out = self.detector.feed(self.next, samples)
        self.next += len(samples)
        return out, samples


def _any_finite(samples: np.ndarray) -> bool:
    """Whether any sample is finite (a Python loop for the few samples of a live chunk)."""
    if len(samples) <= 32:
        return any(map(math.isfinite, samples.tolist()))
    return bool(np.isfinite(samples).any())


def _device_time_s(record: Record) -> float | None:
    """The record's device time in seconds; None for link events (host-side only)."""
    us = getattr(record, "device_time_us", None)
    return None if us is None else us / 1e6


def _dated(conditions: list[Condition], t_s: float) -> list[Condition]:
    """Startup conditions (a model that did not load) are built before any data, at onset
    0.0; they are dated to the device time of the bed's first data, so a device whose clock
    reads hours does not get a model alarm that "began" hours before monitoring did."""
    return [replace(c, onset_s=t_s, decided_at_s=t_s) for c in conditions]
