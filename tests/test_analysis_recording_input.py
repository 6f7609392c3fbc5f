"""Recordings become the record stream the analysis eats: the right signal on the right lead,
in mV, every sample once and in time order, statuses before the samples they describe, and
a clear error naming the file when the input cannot be analysed."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from vigil.errors import ReplayError, VigilError
from vigil.firmware_bridge.byte_recording import MAGIC, ByteRecorder
from vigil.firmware_bridge.simulator.channels import default_rates
from vigil.firmware_bridge.simulator.monitor import SimulatedMonitor
from vigil.firmware_bridge.simulator.sources import SyntheticSource
from vigil.models.synthetic import PatientSimulator
from vigil.records import DeviceStatus, Numerics, WaveformChunk
from vigil.runtime.analysis.recording_input import (
    AnalysisInputError,
    open_recording,
    parse_channel_args,
)

wfdb = pytest.importorskip("wfdb")


@pytest.fixture(scope="module")
def ecg():
    """12 s of simulated leads I, II, III (mV, 500 Hz)."""
    return PatientSimulator("normal", 4).render(0, 12).ecg


def write_wfdb(path, signals: dict[str, np.ndarray], *, fs=500, units=None, gain=200.0, baseline=0):
    names = list(signals)
    wfdb.wrsamp(
        path.name,
        fs=fs,
        units=units or ["mV"] * len(names),
        sig_name=names,
        p_signal=np.stack([signals[n] for n in names], axis=1),
        fmt=["16"] * len(names),
        adc_gain=[gain] * len(names),
        baseline=[baseline] * len(names),
        write_dir=str(path.parent),
    )
    return path


def per_channel(records) -> dict[str, np.ndarray]:
    out: dict[str, list[np.ndarray]] = {}
    expected: dict[str, int] = {}
    for r in records:
        if isinstance(r, WaveformChunk):
            assert r.first_index == expected.get(r.kind, r.first_index), "hole or repeat"
            expected[r.kind] = r.end_index
            assert r.samples.dtype == np.float32
            out.setdefault(r.kind, []).append(r.samples)
    return {k: np.concatenate(v) for k, v in out.items()}


def test_wfdb_signal_names_map_onto_leads_and_unknown_signals_are_listed(tmp_path, ecg):
    rec = write_wfdb(tmp_path / "r", {"MLII": ecg[1], "V1": ecg[0], "ABP": ecg[2] * 50})
    source = open_recording(rec)
    assert source.format == "WFDB"
    assert [(c.name, c.kind) for c in source.channels] == [("MLII", "ECG_II"), ("V1", "ECG_V")]
    assert source.ignored == ["ABP"]
    assert any("'ABP' ignored" in note for note in source.notes)


def test_wfdb_samples_arrive_in_mv_from_the_header_gain_and_baseline(tmp_path, ecg):
    write_wfdb(tmp_path / "r", {"II": ecg[1]}, gain=400.0, baseline=-250)
    header = (tmp_path / "r.hea").read_text()
    assert "400.0(-250)/mV" in header  # the digital samples really are offset and scaled
    got = per_channel(open_recording(tmp_path / "r.hea").records())["ECG_II"]
    np.testing.assert_allclose(got, ecg[1], atol=0.5 / 400 + 1e-6)


def test_microvolt_ecg_is_converted_to_mv(tmp_path, ecg):
    write_wfdb(tmp_path / "u", {"MLII": ecg[1] * 1000}, units=["uV"], gain=1.0)
    source = open_recording(tmp_path / "u")
    got = per_channel(source.records())["ECG_II"]
    np.testing.assert_allclose(got, ecg[1], atol=0.5e-3 + 1e-6)
    assert source.channels[0].units == "mV"


def test_channels_are_interleaved_chunk_by_chunk_and_chunking_changes_no_sample(tmp_path, ecg):
    rate = Fraction(360)
    n = 4000  # 11.1 s: the last chunk is partial
    rec = write_wfdb(tmp_path / "m", {"MLII": ecg[1][:n], "V5": ecg[0][:n]}, fs=360)
    source = open_recording(rec)
    records = list(source.records(Fraction(3)))
    starts = [r.first_index / rate for r in records]
    assert starts == sorted(starts), "a later chunk of one channel before an earlier of another"
    assert [r.kind for r in records[:4]] == ["ECG_II", "ECG_V", "ECG_II", "ECG_V"]
    whole = per_channel(source.records(Fraction(100)))
    pieces = per_channel(records)
    for kind in ("ECG_II", "ECG_V"):
        assert len(whole[kind]) == n
        np.testing.assert_array_equal(whole[kind], pieces[kind])


def test_a_second_signal_for_the_same_lead_is_ignored_with_a_note(tmp_path, ecg):
    rec = write_wfdb(tmp_path / "v", {"MLII": ecg[1], "V1": ecg[0], "V5": ecg[2]})
    source = open_recording(rec)
    assert [c.name for c in source.channels] == ["MLII", "V1"]
    assert any("'V5' ignored: ECG_V is already taken by 'V1'" in n for n in source.notes)


def test_csv_columns_are_mapped_by_role_at_the_given_rate(tmp_path, ecg):
    path = tmp_path / "bed.csv"
    pulse = np.sin(np.arange(ecg.shape[1]) / 40)
    rows = "\n".join(f"{a:.5f},{b:.5f}" for a, b in zip(ecg[1], pulse, strict=True))
    path.write_text("lead_a [mV],pulse\n" + rows + "\n")
    source = open_recording(
        path, fs=500, channels=parse_channel_args(["ecg=lead_a", "pleth=pulse"])
    )
    assert [(c.name, c.kind, c.rate) for c in source.channels] == [
        ("lead_a", "ECG_II", 500),  # a lone 'ecg' is lead II
        ("pulse", "PLETH", 500),
    ]
    got = per_channel(source.records())
    np.testing.assert_allclose(got["ECG_II"], ecg[1], atol=1e-5)
    np.testing.assert_allclose(got["PLETH"], pulse, atol=1e-5)


def test_a_column_named_ecg_is_taken_as_lead_ii_without_a_mapping(tmp_path, ecg):
    path = tmp_path / "one.csv"
    path.write_text("time,ECG\n" + "\n".join(f"{k / 250:.3f},{v:.4f}" for k, v in
                                            enumerate(ecg[1][::2])) + "\n")  # fmt: skip
    source = open_recording(path)  # the time column states the rate
    assert [(c.kind, c.rate) for c in source.channels] == [("ECG_II", 250)]


def test_csv_without_a_time_column_asks_for_fs(tmp_path):
    path = tmp_path / "nofs.csv"
    path.write_text("ecg\n0.1\n0.2\n")
    with pytest.raises(AnalysisInputError, match=r"nofs\.csv.*pass --fs"):
        open_recording(path)


def test_an_unknown_column_is_named_with_the_columns_the_file_has(tmp_path):
    path = tmp_path / "cols.csv"
    path.write_text("a,b\n0.1,0.2\n0.2,0.3\n")
    with pytest.raises(AnalysisInputError, match=r"cols\.csv.*unknown column 'MLII'.*\['a', 'b'\]"):
        open_recording(path, fs=250, channels={"ecg": "MLII"})


def test_a_recording_without_ecg_is_refused_and_says_how_to_name_one(tmp_path):
    path = tmp_path / "pleth.csv"
    path.write_text("PLETH,RESP\n0.1,0.2\n0.2,0.3\n")
    with pytest.raises(AnalysisInputError, match=r"pleth\.csv: no ECG signal.*--channel ecg="):
        open_recording(path, fs=125)


def test_npy_rows_are_mapped_by_index_and_need_fs(tmp_path, ecg):
    path = tmp_path / "x.npy"
    np.save(path, np.stack([ecg[0], ecg[1]]))
    with pytest.raises(AnalysisInputError, match=r"x\.npy.*--fs"):
        open_recording(path, channels={"ecg_i": "0"})
    source = open_recording(path, fs=500, channels=parse_channel_args(["ecg_i=0", "ecg_ii=ch1"]))
    got = per_channel(source.records())
    np.testing.assert_allclose(got["ECG_I"], ecg[0], atol=1e-6)
    np.testing.assert_allclose(got["ECG_II"], ecg[1], atol=1e-6)


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["ecg"], "not ROLE=COLUMN"),
        (["heart=MLII"], "unknown role 'heart'"),
        (["ecg=a", "ecg=b"], "role 'ecg' twice"),
    ],
)
def test_bad_channel_arguments_are_explained(items, message):
    with pytest.raises(AnalysisInputError, match=message):
        parse_channel_args(items)


def test_two_roles_on_one_lead_are_refused(tmp_path):
    path = tmp_path / "two.csv"
    path.write_text("a,b\n0.1,0.2\n0.2,0.3\n")
    with pytest.raises(AnalysisInputError, match="two columns onto ECG_II"):
        open_recording(path, fs=250, channels={"ecg": "a", "ecg_ii": "b"})


def test_a_missing_file_is_named():
    with pytest.raises(VigilError, match=r"nowhere\.csv: file not found"):
        open_recording("nowhere.csv")


# -- byte recordings -----------------------------------------------------------------------
def record_bytes(path, scenario: str, seconds: int, seed: int = 2):
    """What `vigil listen --record` writes for a simulated monitor, one second per read."""
    monitor = SimulatedMonitor(SyntheticSource(scenario, seed, default_rates()), seed=seed)
    recorder = ByteRecorder(path)
    for k in range(1, seconds + 1):
        recorder.write(k * 1_000_000_000, monitor.frames_until(Fraction(k)))
    recorder.close()
    return path


def test_byte_recording_is_decoded_by_the_real_codec_into_physical_records(tmp_path):
    path = record_bytes(tmp_path / "run.bin", "normal", 12)
    source = open_recording(path)  # recognised by its magic, not its suffix
    records = list(source.records())
    assert source.format == "byte recording"
    assert {c.kind for c in source.channels} == {
        "ECG_I", "ECG_II", "ECG_III", "PLETH", "RESPIRATION"
    }  # fmt: skip
    got = per_channel(records)
    truth = PatientSimulator("normal", 2).render(0, 12)
    n = len(got["ECG_II"])
    assert n >= 11 * 500
    np.testing.assert_allclose(got["ECG_II"], truth.ecg[1][:n], atol=0.0025 + 1e-6)  # int16 LSB
    assert sum(isinstance(r, Numerics) for r in records) >= 11
    assert source.counters == {}  # nothing lost or corrupt


def test_byte_recording_statuses_come_before_the_samples_they_describe(tmp_path):
    path = record_bytes(tmp_path / "off.vgr", "leads_off", 30)
    records = list(open_recording(path).records(Fraction(5)))
    latest_sample_s = 0.0
    statuses = 0
    for r in records:
        if isinstance(r, WaveformChunk):
            latest_sample_s = max(latest_sample_s, float((r.end_index - 1) / r.rate))
        elif isinstance(r, DeviceStatus):
            statuses += 1
            assert r.device_time_us / 1e6 > latest_sample_s, "status after samples it describes"
    assert statuses >= 29
    assert any(r.leads_off for r in records if isinstance(r, DeviceStatus))


def test_byte_recording_chunks_hold_one_chunk_of_device_time_and_lose_no_sample(tmp_path):
    path = record_bytes(tmp_path / "c.vgr", "normal", 8)
    third = Fraction(1, 3)  # not a multiple of the 40 ms frames: frames must be split
    records = list(open_recording(path).records(third))
    for r in records:
        if isinstance(r, WaveformChunk):
            window = (r.first_index / r.rate) // third
            assert (r.end_index - 1) / r.rate < (window + 1) * third, "chunk crosses a boundary"
    a = per_channel(records)
    b = per_channel(open_recording(path).records(Fraction(10)))
    assert a.keys() == b.keys()
    for kind in a:
        np.testing.assert_array_equal(a[kind], b[kind])


def test_a_truncated_byte_recording_is_a_clear_error(tmp_path):
    path = record_bytes(tmp_path / "t.vgr", "normal", 3)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])
    with pytest.raises(ReplayError, match=r"t\.vgr: truncated"):
        list(open_recording(path).records())


def test_a_byte_recording_without_waveforms_is_refused(tmp_path):
    path = tmp_path / "empty.vgr"
    path.write_bytes(MAGIC)
    with pytest.raises(AnalysisInputError, match=r"empty\.vgr.*no waveform"):
        list(open_recording(path).records())
