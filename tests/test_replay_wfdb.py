"""WFDB replay: an MIT-BIH-style record read back, resampled to 500 Hz and put on the wire."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from scipy.signal import resample_poly

from vigil.errors import ReplayError
from vigil.firmware_bridge.replay import ReplaySource, read_recording, resample

wfdb = pytest.importorskip("wfdb")

FS = 360
GAIN = 200.0  # ADC units per mV, as in MIT-BIH
BASELINE = 1024
ADC_STEP = 1 / GAIN  # mV
WIRE_SCALE = 0.005  # mV per LSB on the wire


def _mitbih_like(tmp_path, *, seconds: float = 4.0, name: str = "100"):
    """Two ECG-like signals within an 11-bit ADC's range, written as format 212."""
    t = np.arange(int(seconds * FS)) / FS
    mlii = 1.2 * np.sin(2 * np.pi * 1.1 * t) ** 15 - 0.3 + 0.05 * np.sin(2 * np.pi * 0.3 * t)
    v5 = 0.8 * np.cos(2 * np.pi * 1.1 * t) ** 9 + 0.1
    physical = np.column_stack([mlii, v5])
    wfdb.wrsamp(
        name,
        fs=FS,
        units=["mV", "mV"],
        sig_name=["MLII", "V5"],
        p_signal=physical,
        fmt=["212", "212"],
        adc_gain=[GAIN, GAIN],
        baseline=[BASELINE, BASELINE],
        write_dir=str(tmp_path),
    )
    return physical


def test_wfdb_record_reads_back_physical_values_within_one_adc_step(tmp_path):
    physical = _mitbih_like(tmp_path)
    for path in (tmp_path / "100.hea", tmp_path / "100.dat", tmp_path / "100"):
        recording = read_recording(path)
        assert recording.names == ("MLII", "V5")
        for column, signal in enumerate(recording.signals):
            assert signal.rate == Fraction(360)
            assert signal.units == "mV"
            assert signal.samples.dtype == np.float64
            assert len(signal.samples) == len(physical)
            assert np.max(np.abs(signal.samples - physical[:, column])) <= ADC_STEP


def test_wfdb_resampled_to_500_hz_matches_resample_poly_and_survives_wire_quantisation(
    tmp_path,
):
    physical = _mitbih_like(tmp_path)
    signal = read_recording(tmp_path / "100.hea").signal("MLII")
    out = resample(signal.samples, Fraction(360), Fraction(500))

    n = len(physical)
    assert len(out) == -(-n * 25 // 18)  # ceil(n * 500 / 360)
    # The documented resampling: mean removed, resample_poly(up=25, down=18, edge padding).
    x = signal.samples
    reference = x.mean() + resample_poly(x - x.mean(), 25, 18, padtype="edge")
    np.testing.assert_allclose(out, reference, rtol=0, atol=1e-12)

    # The same resampling applied to the original (unquantised) physical signal differs by
    # at most the ADC's rounding passed through the filter.
    y = physical[:, 0]
    original = y.mean() + resample_poly(y - y.mean(), 25, 18, padtype="edge")
    assert np.max(np.abs(out - original)) <= ADC_STEP

    # On the wire: int16 at 0.005 mV/LSB, then back to mV, within one quantisation step.
    raw = np.round(out / WIRE_SCALE).astype(np.int16)
    back = raw.astype(np.float64) * WIRE_SCALE
    assert np.max(np.abs(back - reference)) <= max(WIRE_SCALE, ADC_STEP)


def test_wfdb_record_replays_onto_ecg_channels_by_alias(tmp_path):
    _mitbih_like(tmp_path, seconds=2.0)
    recording = read_recording(tmp_path / "100")
    source = ReplaySource(recording, {"ecg_ii": Fraction(500), "pleth": Fraction(125)})
    assert source.channels == {"ecg_ii": Fraction(500)}
    assert source.ignored == ("V5",)
    assert source.duration == Fraction(720, 360)
    first, samples = source.render(Fraction(0), Fraction(2))["ecg_ii"]
    assert (first, len(samples)) == (0, 1000)


def test_wfdb_rate_argument_must_agree_with_header(tmp_path):
    _mitbih_like(tmp_path, seconds=1.0)
    assert read_recording(tmp_path / "100.hea", rate=Fraction(360)).signals[0].rate == 360
    with pytest.raises(ReplayError, match=r"100\.hea.*360 Hz.*500 Hz"):
        read_recording(tmp_path / "100.hea", rate=Fraction(500))


def test_wfdb_fractional_rate_is_exact(tmp_path):
    wfdb.wrsamp(
        "slow",
        fs=62.5,
        units=["%"],
        sig_name=["PLETH"],
        p_signal=np.linspace(0, 1, 125).reshape(-1, 1),
        fmt=["16"],
        adc_gain=[1000.0],
        baseline=[0],
        write_dir=str(tmp_path),
    )
    assert read_recording(tmp_path / "slow.hea").signals[0].rate == Fraction(125, 2)


def test_wfdb_missing_header_and_missing_data_are_named(tmp_path):
    with pytest.raises(ReplayError, match=r"nothing\.hea"):
        read_recording(tmp_path / "nothing.hea")
    _mitbih_like(tmp_path, seconds=1.0)
    (tmp_path / "100.dat").unlink()
    with pytest.raises(ReplayError, match=r"100"):
        read_recording(tmp_path / "100.hea")


def test_wfdb_absurd_header_is_refused_before_reading(tmp_path):
    (tmp_path / "huge.hea").write_text(
        "huge 2 360 999999999999\nhuge.dat 16 200 16 0 0 0 0 A\nhuge.dat 16 200 16 0 0 0 0 B\n"
    )
    with pytest.raises(ReplayError, match=r"huge\.hea.*samples"):
        read_recording(tmp_path / "huge.hea")
    (tmp_path / "fast.hea").write_text("fast 1 1000000000 10\nfast.dat 16 200 16 0 0 0 0 A\n")
    with pytest.raises(ReplayError, match=r"fast\.hea.*Hz"):
        read_recording(tmp_path / "fast.hea")


def test_missing_wfdb_package_gives_install_hint(tmp_path, monkeypatch):
    _mitbih_like(tmp_path, seconds=1.0)
    import builtins

    real_import = builtins.__import__

    def no_wfdb(name, *args, **kwargs):
        if name == "wfdb" or name.startswith("wfdb."):
            raise ImportError("No module named 'wfdb'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_wfdb)
    with pytest.raises(ReplayError, match=r"pip install 'vigil-edge\[replay\]'"):
        read_recording(tmp_path / "100.hea")
