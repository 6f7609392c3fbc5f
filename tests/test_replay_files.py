"""CSV and NumPy recordings: round trips, conventions, and every refusal naming the file."""

from __future__ import annotations

import pickle
from fractions import Fraction

import numpy as np
import pytest

from vigil.errors import ReplayError
from vigil.firmware_bridge.replay import read_recording


def _write_csv(path, header, rows, *, fmt="{:.6f}"):
    lines = [",".join(header)]
    lines += [",".join(fmt.format(float(v)) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")


def test_csv_with_time_column_infers_rate_and_reads_units_from_header(tmp_path):
    n = 500
    t = np.arange(n) / 250
    ecg = np.sin(t * 7)
    pleth = 50 + 10 * np.cos(t * 3)
    path = tmp_path / "vitals.csv"
    _write_csv(path, ["time_s", "ECG_II [mV]", "PLETH (%)"], np.column_stack([t, ecg, pleth]))
    recording = read_recording(path)
    assert recording.names == ("ECG_II", "PLETH")
    assert [s.units for s in recording.signals] == ["mV", "%"]
    assert all(s.rate == Fraction(250) for s in recording.signals)
    np.testing.assert_allclose(recording.signal("ECG_II").samples, ecg, atol=5e-7)


@pytest.mark.parametrize(
    ("rate", "decimals"), [(Fraction(360), 6), (Fraction(360), 3), (Fraction(125, 2), 4)]
)
def test_csv_rate_from_rounded_times_is_exact(tmp_path, rate, decimals):
    t = np.arange(1000) / float(rate)
    path = tmp_path / "r.csv"
    _write_csv(path, ["t", "x"], np.column_stack([t, t]), fmt=f"{{:.{decimals}f}}")
    assert read_recording(path).signals[0].rate == rate


def test_csv_with_non_uniform_time_column_is_refused_naming_file(tmp_path):
    t = np.arange(200) / 100
    t = np.delete(t, 120)  # a dropped row
    path = tmp_path / "gappy.csv"
    _write_csv(path, ["time", "ECG"], np.column_stack([t, t]))
    with pytest.raises(ReplayError, match=r"gappy\.csv.*'time' is not uniformly sampled"):
        read_recording(path)


def test_csv_time_going_backwards_is_refused(tmp_path):
    path = tmp_path / "back.csv"
    path.write_text("time,x\n0.0,1\n0.01,2\n0.005,3\n")
    with pytest.raises(ReplayError, match=r"back\.csv.*does not increase at line 4"):
        read_recording(path)


def test_csv_without_time_column_needs_rate_and_round_trips_exactly(tmp_path):
    data = np.random.default_rng(1).normal(size=(300, 2))
    path = tmp_path / "plain.csv"
    _write_csv(path, ["MLII", "V5"], data, fmt="{!r}")
    with pytest.raises(ReplayError, match=r"plain\.csv.*no time column.*rate"):
        read_recording(path)
    recording = read_recording(path, rate=Fraction(360))
    for column, signal in enumerate(recording.signals):
        assert signal.rate == 360
        assert signal.units == ""
        np.testing.assert_array_equal(signal.samples, data[:, column])


def test_csv_time_column_must_agree_with_given_rate(tmp_path):
    path = tmp_path / "r.csv"
    t = np.arange(100) / 100
    _write_csv(path, ["time", "x"], np.column_stack([t, t]))
    assert read_recording(path, rate=Fraction(100)).signals[0].rate == 100
    with pytest.raises(ReplayError, match=r"r\.csv.*does not match rate 250 Hz"):
        read_recording(path, rate=Fraction(250))


def test_csv_non_numeric_cell_names_row_and_column(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("time,ECG [mV],PLETH\n0,1,2\n0.01,1,2\n0.02,1,oops\n")
    with pytest.raises(ReplayError, match=r"bad\.csv.*line 4, column 'PLETH'.*'oops'"):
        read_recording(path)
    path.write_text("time,ECG\n0,1\n0.01,\n")
    with pytest.raises(ReplayError, match=r"line 3, column 'ECG' is empty"):
        read_recording(path)
    path.write_text("time,ECG\n0,1\n0.01,2,3\n")
    with pytest.raises(ReplayError, match=r"line 3 has 3 cells"):
        read_recording(path)


def test_csv_nan_marks_invalid_sample_and_infinity_is_refused(tmp_path):
    path = tmp_path / "gaps.csv"
    path.write_text("x\n1\nnan\n3\n")
    samples = read_recording(path, rate=Fraction(1)).signals[0].samples
    assert np.isnan(samples[1])
    path.write_text("x\n1\ninf\n3\n")
    with pytest.raises(ReplayError, match=r"gaps\.csv.*'x'.*infinite"):
        read_recording(path, rate=Fraction(1))


@pytest.mark.parametrize("suffix", [".csv", ".npy", ".npz", ".hea"])
def test_missing_file_is_named(tmp_path, suffix):
    path = tmp_path / f"absent{suffix}"
    with pytest.raises(ReplayError, match=rf"absent\{suffix}.*not found"):
        read_recording(path, rate=Fraction(100))


@pytest.mark.parametrize("suffix", [".csv", ".npy", ".npz"])
def test_empty_file_is_refused(tmp_path, suffix):
    path = tmp_path / f"empty{suffix}"
    path.write_bytes(b"")
    with pytest.raises(ReplayError, match=rf"empty\{suffix}.*empty"):
        read_recording(path, rate=Fraction(100))


def test_csv_with_header_only_is_refused(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("# exported by a monitor\ntime,ECG\n")
    with pytest.raises(ReplayError, match=r"header\.csv.*no samples"):
        read_recording(path)


def test_unknown_suffix_lists_supported_formats(tmp_path):
    path = tmp_path / "vitals.edf"
    path.write_bytes(b"0")
    with pytest.raises(ReplayError, match=r"vitals\.edf.*\.csv.*\.npz"):
        read_recording(path)


def test_npy_is_signals_by_samples_and_round_trips_exactly(tmp_path):
    data = np.random.default_rng(2).normal(size=(3, 400))
    path = tmp_path / "sig.npy"
    np.save(path, data)
    with pytest.raises(ReplayError, match=r"sig\.npy.*rate"):
        read_recording(path)
    recording = read_recording(path, rate=Fraction(125, 2))
    assert recording.names == ("ch0", "ch1", "ch2")
    for row, signal in zip(data, recording.signals, strict=True):
        assert signal.rate == Fraction(125, 2)
        np.testing.assert_array_equal(signal.samples, row)
    np.save(path, np.arange(10, dtype=np.int16))
    np.testing.assert_array_equal(read_recording(path, rate=1).signals[0].samples, np.arange(10))


def test_npy_samples_by_signals_layout_is_refused_with_transpose_hint(tmp_path):
    path = tmp_path / "tall.npy"
    np.save(path, np.zeros((1000, 2)))
    with pytest.raises(ReplayError, match=r"tall\.npy.*arr\.T"):
        read_recording(path, rate=Fraction(360))


def test_pickled_object_npy_is_refused(tmp_path):
    path = tmp_path / "objects.npy"
    np.save(path, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(ReplayError, match=r"objects\.npy.*never unpickles"):
        read_recording(path, rate=Fraction(100))
    path.write_bytes(pickle.dumps(np.zeros(4)))
    with pytest.raises(ReplayError, match=r"objects\.npy.*never unpickles"):
        read_recording(path, rate=Fraction(100))


def test_npz_signals_keyed_by_name_with_rate_entry_round_trip_exactly(tmp_path):
    rng = np.random.default_rng(3)
    mlii, pleth = rng.normal(size=720), rng.uniform(90, 100, size=720)
    path = tmp_path / "rec.npz"
    np.savez(path, MLII=mlii, **{"PLETH [%]": pleth}, fs=np.float64(360.0))
    recording = read_recording(path)
    assert recording.names == ("MLII", "PLETH")
    assert recording.signal("PLETH").units == "%"
    assert all(s.rate == Fraction(360) for s in recording.signals)
    np.testing.assert_array_equal(recording.signal("MLII").samples, mlii)
    np.testing.assert_array_equal(recording.signal("PLETH").samples, pleth)
    with pytest.raises(ReplayError, match=r"rec\.npz.*360 Hz.*500 Hz"):
        read_recording(path, rate=Fraction(500))


def test_npz_without_rate_needs_argument_and_refuses_objects(tmp_path):
    path = tmp_path / "norate.npz"
    np.savez(path, RESP=np.zeros(10))
    with pytest.raises(ReplayError, match=r"norate\.npz.*'fs'"):
        read_recording(path)
    assert read_recording(path, rate=Fraction(25)).signals[0].rate == 25
    path = tmp_path / "obj.npz"
    np.savez(path, RESP=np.array([None, 1], dtype=object), rate=np.int64(25))
    with pytest.raises(ReplayError, match=r"obj\.npz.*'RESP'.*Python objects"):
        read_recording(path)


def test_absurd_rate_is_refused(tmp_path):
    path = tmp_path / "fast.npz"
    np.savez(path, x=np.zeros(4), fs=np.float64(1e9))
    with pytest.raises(ReplayError, match=r"fast\.npz.*Hz"):
        read_recording(path)
    path = tmp_path / "x.npy"
    np.save(path, np.zeros(4))
    with pytest.raises(ReplayError, match=r"x\.npy: rate.*must be positive"):
        read_recording(path, rate=Fraction(0))
