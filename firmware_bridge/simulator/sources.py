"""What a simulated monitor measures: the shared synthesizer, or a recording replayed.

Both are served forward through one small interface: `render(t0, t1)` returns every sample
whose index i satisfies t0 <= i / rate < t1, per monitor channel, plus the numerics and
status of each whole second in [t0, t1). Rendering is partition independent, so the samples
on the wire depend on the seed (or file) only, never on the simulator's timing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Protocol

import numpy as np

from vigil.firmware_bridge.protocol import NUMERIC_FIELDS

NO_NUMERICS = (math.nan,) * len(NUMERIC_FIELDS)
SYNTH_NUMERIC = {"temp": "temp_c"}  # wire field -> the synthesizer's name, where they differ


@dataclass(frozen=True, slots=True)
class StatusFields:
    leads_off: tuple[str, ...] = ()  # monitor channel names whose electrode is off
    probe_off: bool = False
    nibp_in_progress: bool = False
    battery_pct: int = 100
    device_fault: bool = False


@dataclass(frozen=True, slots=True)
class SourceBlock:
    waveforms: dict[str, tuple[int, np.ndarray]]  # channel name -> (first index, physical)
    numerics: tuple[tuple[float, tuple[float, ...]], ...] = ()  # (t_s, NUMERIC_FIELDS values)
    status: tuple[tuple[float, StatusFields], ...] = ()
    annotations: tuple[dict[str, Any], ...] = field(default=())  # ground truth, JSON-ready


class SignalSource(Protocol):
    rates: dict[str, Fraction]  # the monitor channels this source provides

    def render(self, t0: Fraction, t1: Fraction) -> SourceBlock: ...


ECG_LEADS = ("ecg_i", "ecg_ii", "ecg_iii")


class SyntheticSource:
    """The shared synthesizer (`vigil.models.synthetic`) playing a scenario."""

    def __init__(self, scenario: str, seed: int, rates: dict[str, Fraction]) -> None:
        from vigil.models.synthetic import PatientSimulator, load_scenario

        self.scenario = load_scenario(scenario)
        self.rates = dict(rates)
        self._sim = PatientSimulator(
            self.scenario,
            seed=seed,
            ecg_rate=rates["ecg_ii"],
            pleth_rate=rates["pleth"],
            resp_rate=rates["resp"],
        )

    def render(self, t0: Fraction, t1: Fraction) -> SourceBlock:
        block = self._sim.render(t0, t1)
        waves = {name: (block.ecg_first_index, block.ecg[k]) for k, name in enumerate(ECG_LEADS)}
        waves["pleth"] = (block.pleth_first_index, block.pleth)
        waves["resp"] = (block.resp_first_index, block.resp)
        numerics = tuple(
            (n.t_s, tuple(getattr(n, SYNTH_NUMERIC.get(f, f)) for f in NUMERIC_FIELDS))
            for n in block.numerics
        )
        status = tuple(
            (
                s.t_s,
                StatusFields(
                    leads_off=tuple(
                        name for name, off in zip(ECG_LEADS, s.leads_off, strict=True) if off
                    ),
                    probe_off=s.probe_off,
                    nibp_in_progress=s.nibp_in_progress,
                    battery_pct=s.battery_pct,
                    device_fault=s.device_fault,
                ),
            )
            for s in block.status
        )
        notes: list[dict[str, Any]] = [
            {"type": "beat", "t_s": b.t_s, "ecg_index": b.ecg_index, "label": b.label}
            for b in block.beats
        ]
        notes += [
            {"type": "episode", "kind": e.kind, "start_s": e.start_s, "end_s": e.end_s}
            for e in block.episodes
        ]
        return SourceBlock(waves, numerics, status, tuple(notes))


class FileSource:
    """A recording (WFDB, CSV, NumPy) mapped onto monitor channels and resampled to their
    rates. Files carry no monitor numerics: those are sent as invalid, honestly."""

    def __init__(
        self,
        path: str,
        rates: dict[str, Fraction],
        channel_map: dict[str, str] | None = None,
        *,
        loop: bool = False,
        file_rate: Fraction | None = None,
    ) -> None:
        from vigil.firmware_bridge.replay import ReplaySource, read_recording

        recording = read_recording(path, rate=file_rate)
        self._replay = ReplaySource(recording, rates, channel_map, loop=loop)
        self.rates = dict(self._replay.channels)
        self.duration = self._replay.duration

    def render(self, t0: Fraction, t1: Fraction) -> SourceBlock:
        waves = self._replay.render(t0, t1)
        seconds = range(math.ceil(t0), math.ceil(t1))
        return SourceBlock(
            {name: (first, np.asarray(x)) for name, (first, x) in waves.items()},
            tuple((float(s), NO_NUMERICS) for s in seconds),
            tuple((float(s), StatusFields()) for s in seconds),
        )

    def finished(self, t: Fraction) -> bool:
        return self._replay.finished(t)
