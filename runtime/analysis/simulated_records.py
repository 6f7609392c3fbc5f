"""A simulated patient's signals as the records the bridge would deliver.

Tests and benchmarks feed the analysis from the shared
synthesizer without a serial link: the same `WaveformChunk`/`Numerics`/`DeviceStatus` values
the bridge produces, in physical units, without the wire's int16 quantisation. Within each
chunk of device time the status comes first (it describes the samples after it), then pleth
and respiration, then the ECG (so a fusion rule that consults the pleth never finds it a
whole chunk behind the ECG), then the numerics.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

import numpy as np

from vigil.models.synthetic import PatientSimulator, SignalBlock
from vigil.records import DeviceStatus, Numerics, Record, WaveformChunk

LEADS = (("ECG_I", "ECG I"), ("ECG_II", "ECG II"), ("ECG_III", "ECG III"))
NUMERIC_NAMES = {"temp_c": "temp"}  # synthesizer field -> protocol field


def block_records(
    block: SignalBlock, sim: PatientSimulator, source: str = "sim"
) -> Iterator[Record]:
    """The records of one rendered block."""
    for s in block.status:
        yield DeviceStatus(
            source=source,
            device_time_us=round(s.t_s * 1e6),
            leads_off=tuple(
                label for (_, label), off in zip(LEADS, s.leads_off, strict=True) if off
            ),
            probe_off=s.probe_off,
            nibp_in_progress=s.nibp_in_progress,
            device_fault=s.device_fault,
            battery_low=s.battery_pct < 20,
            on_battery=s.battery_pct < 100,
            battery_pct=s.battery_pct,
        )
    yield _chunk(
        source, 3, "Pleth", "PLETH", "au", sim.pleth_rate, block.pleth_first_index, block.pleth
    )
    yield _chunk(
        source, 4, "Resp", "RESPIRATION", "Ohm", sim.resp_rate, block.resp_first_index, block.resp
    )
    for k, (kind, label) in enumerate(LEADS):
        yield _chunk(
            source, k, label, kind, "mV", sim.ecg_rate, block.ecg_first_index, block.ecg[k]
        )
    for n in block.numerics:
        values = {NUMERIC_NAMES.get(k, k): float(v) for k, v in n.values().items()}
        yield Numerics(source=source, device_time_us=round(n.t_s * 1e6), values=values)


def simulated_records(
    sim: PatientSimulator,
    duration_s: Fraction | int,
    chunk_s: Fraction = Fraction(1, 25),
    source: str = "sim",
) -> Iterator[Record]:
    """Records for [0, duration_s), rendered in chunks of `chunk_s` (40 ms like the wire)."""
    t = Fraction(0)
    end = Fraction(duration_s)
    while t < end:
        t1 = min(end, t + chunk_s)
        yield from block_records(sim.render(t, t1), sim, source)
        t = t1


def _chunk(  # noqa: PLR0917 (one positional per WaveformChunk field, in its order)
    source: str,
    channel: int,
    label: str,
    kind: str,
    units: str,
    rate: Fraction,
    first: int,
    samples: np.ndarray,
) -> WaveformChunk:
    return WaveformChunk(
        source=source,
        channel=channel,
        label=label,
        kind=kind,
        units=units,
        rate=rate,
        first_index=first,
        samples=np.ascontiguousarray(samples, dtype=np.float32),
    )
