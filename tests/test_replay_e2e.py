"""A recording in the style of real archives replayed over a real pty and decoded by the link.

MIT-BIH style: 360 Hz, 11-bit ADC (format 212), gain 200 /mV, baseline 1024, in a WFDB
header. The monitor resamples it to its 500 Hz ECG channel and sends int16 at 5 µV/LSB; what
Vigil decodes must equal, in mV, the same resampling of the file's physical values within
one quantisation step, sample for sample, with nothing missing.
"""

from __future__ import annotations

import threading
import time
from fractions import Fraction

import numpy as np
import pytest

from vigil.firmware_bridge.link import SerialLink
from vigil.firmware_bridge.replay import read_recording, resample
from vigil.firmware_bridge.simulator.channels import DEFAULT_CHANNELS, default_rates
from vigil.firmware_bridge.simulator.monitor import SimulatedMonitor
from vigil.firmware_bridge.simulator.serve import serve
from vigil.firmware_bridge.simulator.sources import FileSource
from vigil.firmware_bridge.simulator.transports import PtyTransport
from vigil.records import WaveformChunk

wfdb = pytest.importorskip("wfdb")
pytestmark = pytest.mark.slow

FS, GAIN, BASELINE = 360, 200.0, 1024
SPEED = Fraction(4)


def _write_record(tmp_path, seconds: float = 6.0) -> None:
    t = np.arange(int(seconds * FS)) / FS
    mlii = 1.2 * np.sin(2 * np.pi * 1.2 * t) ** 21 - 0.2 + 0.1 * np.sin(2 * np.pi * 0.25 * t)
    v5 = 0.6 * np.cos(2 * np.pi * 1.2 * t) ** 11
    wfdb.wrsamp(
        "rec", fs=FS, units=["mV", "mV"], sig_name=["MLII", "V5"],
        p_signal=np.column_stack([mlii, v5]), fmt=["212", "212"],
        adc_gain=[GAIN, GAIN], baseline=[BASELINE, BASELINE], write_dir=str(tmp_path),
    )  # fmt: skip


def test_wfdb_replay_over_a_pty_is_sample_exact_in_millivolts(tmp_path):
    _write_record(tmp_path)
    source = FileSource(
        str(tmp_path / "rec.hea"), default_rates(), {"MLII": "ecg_ii", "V5": "ecg_i"}
    )
    assert set(source.rates) == {"ecg_ii", "ecg_i"}
    monitor = SimulatedMonitor(source, seed=0, time_scale=SPEED)
    transport = PtyTransport(tmp_path / "ttyREPLAY")
    records: list = []
    link = SerialLink(str(tmp_path / "ttyREPLAY"), records.append).start()
    assert link.wait_connected(5)
    stop = threading.Event()
    seconds = float(source.duration)
    serve(monitor, transport, stop=stop, seconds=seconds, speed=SPEED)
    expected_n = -(-int(seconds * FS) * 500 // FS)
    deadline = time.monotonic() + 5
    while link.stats().samples < 2 * expected_n and time.monotonic() < deadline:
        time.sleep(0.02)
    link.stop()
    transport.close()

    recording = read_recording(tmp_path / "rec.hea")
    for file_name, channel in (("MLII", "ecg_ii"), ("V5", "ecg_i")):
        info = DEFAULT_CHANNELS[channel]
        chunks = [r for r in records if isinstance(r, WaveformChunk) and r.label == info.label]
        got = np.concatenate([c.samples for c in chunks]).astype(np.float64)
        first_indices = [c.first_index for c in chunks]
        assert first_indices[0] == 0
        reference = resample(recording.signal(file_name).samples, Fraction(FS), Fraction(500))
        assert len(got) == len(reference) == expected_n  # nothing missing, nothing invented
        step = max(float(info.scale), 1 / GAIN)
        assert np.max(np.abs(got - reference)) <= step
    stats = link.stats()
    assert (stats.samples_missing, stats.crc_errors, stats.seq_gaps) == (0, 0, 0)
