"""Resampling and ReplaySource: exact sample grids, block tiling, channel mapping, looping."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.signal import resample_poly

from vigil.errors import ReplayError
from vigil.firmware_bridge.replay import (
    RecordedSignal,
    Recording,
    ReplaySource,
    output_length,
    parse_channel_map,
    resample,
)

MONITOR = {
    "ecg_i": Fraction(500),
    "ecg_ii": Fraction(500),
    "ecg_iii": Fraction(500),
    "pleth": Fraction(125),
    "resp": Fraction(125, 2),
}


def _recording(rate=Fraction(250), seconds=2, names=("MLII", "PLETH", "RESP")):
    n = int(rate * seconds)
    rng = np.random.default_rng(len(names))
    signals = tuple(
        RecordedSignal(name=name, rate=Fraction(rate), samples=rng.normal(size=n), units="")
        for name in names
    )
    return Recording(path=Path("mem.npz"), signals=signals)


@pytest.mark.parametrize(
    ("from_rate", "to_rate", "n", "expected"),
    [
        (Fraction(360), Fraction(500), 360, 500),  # whole seconds map exactly
        (Fraction(360), Fraction(500), 1000, 1389),  # 1000/360 s holds i/500 for i < 1388.9
        (Fraction(250), Fraction(125, 2), 1000, 250),
        (Fraction(250), Fraction(125, 2), 1001, 251),  # 4.004 s still holds t = 4.0 s
        (Fraction(125), Fraction(125), 777, 777),
        (Fraction(1000, 3), Fraction(500), 10, 15),
    ],
)
def test_resample_length_counts_output_times_within_input_duration(from_rate, to_rate, n, expected):
    x = np.sin(np.arange(n) / 7.0)
    out = resample(x, from_rate, to_rate)
    assert len(out) == output_length(n, from_rate, to_rate) == expected
    # The rule itself: #{i >= 0 : i / to_rate < n / from_rate}.
    assert expected == sum(1 for i in range(2 * n + 2) if Fraction(i) / to_rate < n / from_rate)


def test_resample_equal_rates_is_identity_and_a_copy():
    x = np.arange(5, dtype=np.float64)
    out = resample(x, Fraction(125), Fraction(125))
    np.testing.assert_array_equal(out, x)
    assert out is not x


def test_resample_is_resample_poly_by_the_reduced_ratio_and_keeps_offsets_exact():
    x = 50 + np.random.default_rng(0).normal(size=250)
    out = resample(x, Fraction(250), Fraction(125, 2))  # 62.5/250 = 1/4
    np.testing.assert_allclose(
        out, x.mean() + resample_poly(x - x.mean(), 1, 4, padtype="edge"), atol=1e-12
    )
    flat = resample(np.full(360, 97.0), Fraction(360), Fraction(500))
    np.testing.assert_allclose(flat, 97.0, rtol=0, atol=1e-12)


def test_resample_refuses_a_ratio_needing_an_enormous_filter():
    with pytest.raises(ReplayError, match=r"ratio"):
        resample(np.zeros(10), Fraction(99991), Fraction(100000))


def test_source_maps_by_alias_and_leaves_unmapped_channels_absent():
    source = ReplaySource(_recording(), MONITOR)
    assert source.channels == {
        "ecg_ii": Fraction(500),
        "pleth": Fraction(125),
        "resp": Fraction(125, 2),
    }
    assert source.mapping == {"MLII": "ecg_ii", "PLETH": "pleth", "RESP": "resp"}
    assert source.duration == 2


@pytest.mark.parametrize(
    ("name", "channel"),
    [
        ("II", "ecg_ii"),
        ("ECG II", "ecg_ii"),
        ("ecg_i", "ecg_i"),
        ("MLIII", "ecg_iii"),
        ("PPG", "pleth"),
        ("Resp", "resp"),
    ],
)
def test_common_aliases_match(name, channel):
    source = ReplaySource(_recording(names=(name,)), MONITOR)
    assert source.mapping == {name: channel}


def test_explicit_map_wins_and_unknown_names_are_errors():
    recording = _recording(names=("MLII", "V5"))
    source = ReplaySource(recording, MONITOR, parse_channel_map("MLII=ecg_ii, V5=ecg_i"))
    assert source.mapping == {"MLII": "ecg_ii", "V5": "ecg_i"}
    with pytest.raises(ReplayError, match=r"'V6'.*file has \['MLII', 'V5'\]"):
        ReplaySource(recording, MONITOR, {"V6": "ecg_i"})
    with pytest.raises(ReplayError, match=r"'ecg_v'.*monitor"):
        ReplaySource(recording, MONITOR, {"V5": "ecg_v"})


def test_nothing_matching_lists_file_names_and_channels():
    with pytest.raises(ReplayError, match=r"mem\.npz.*\['ch0', 'ch1'\].*'ecg_ii'.*--map"):
        ReplaySource(_recording(names=("ch0", "ch1")), MONITOR)


def test_two_signals_for_one_channel_is_ambiguous():
    with pytest.raises(ReplayError, match=r"\['II', 'MLII'\].*'ecg_ii'"):
        ReplaySource(_recording(names=("II", "MLII")), MONITOR)


def test_parse_channel_map_names_the_bad_item():
    assert parse_channel_map("MLII=ecg_ii,V5=ecg_i,PLETH=pleth") == {
        "MLII": "ecg_ii",
        "V5": "ecg_i",
        "PLETH": "pleth",
    }
    for text, bad in [
        ("MLII=ecg_ii,V5", "'V5'"),
        ("MLII=ecg_ii,=pleth", "'=pleth'"),
        ("A=b=c", "'A=b=c'"),
        ("MLII=ecg_ii,II=ecg_ii", "'II=ecg_ii'"),
        ("MLII=ecg_ii,MLII=ecg_i", "'MLII=ecg_i'"),
        ("MLII=ecg_ii,,", "empty item"),
    ]:
        with pytest.raises(ReplayError, match=bad):
            parse_channel_map(text)


def test_render_counts_are_exact_at_62_5_hz():
    source = ReplaySource(_recording(names=("RESP",)), MONITOR)
    assert source.render(Fraction(0), Fraction(1, 10))["resp"][0] == 0
    assert len(source.render(Fraction(0), Fraction(1, 10))["resp"][1]) == 7  # 0..0.096 s
    first, samples = source.render(Fraction(1, 10), Fraction(2, 10))["resp"]
    assert (first, len(samples)) == (7, 6)  # indices 7..12: 0.112 .. 0.192 s
    total = sum(
        len(source.render(Fraction(k, 10), Fraction(k + 1, 10))["resp"][1]) for k in range(20)
    )
    assert total == 125  # 2 s at 62.5 Hz, no sample lost or repeated


def test_render_clips_at_the_end_and_finishes():
    source = ReplaySource(_recording(), MONITOR)
    first, samples = source.render(Fraction(19, 10), Fraction(5))["ecg_ii"]
    assert (first, len(samples)) == (950, 50)
    first, samples = source.render(Fraction(3), Fraction(4))["ecg_ii"]
    assert (first, len(samples)) == (1500, 0)
    assert not source.finished(Fraction(199, 100))
    assert source.finished(Fraction(2))


def test_loop_continues_indices_and_repeats_the_recording():
    source = ReplaySource(_recording(), MONITOR, loop=True)
    assert source.duration == 2
    once = source.render(Fraction(0), Fraction(2))
    again = source.render(Fraction(2), Fraction(4))
    for channel, rate in source.channels.items():
        assert again[channel][0] == 2 * rate
        np.testing.assert_array_equal(again[channel][1], once[channel][1])
    assert not source.finished(Fraction(10**6))


def test_loop_period_is_common_to_all_channel_grids():
    # 1.01 s of data; the 500/125/62.5 Hz grids meet every 16 ms, so one loop is 1.008 s
    # (63 samples at 62.5 Hz, 504 at 500 Hz) and the last 2 ms are dropped.
    recording = _recording(rate=Fraction(100), seconds=Fraction(101, 100))
    source = ReplaySource(recording, MONITOR, loop=True)
    period = Fraction(1008, 1000)
    assert source.duration == period
    block = source.render(period, 2 * period)
    start = source.render(Fraction(0), period)
    for channel, rate in source.channels.items():
        assert block[channel][0] == period * rate
        np.testing.assert_array_equal(block[channel][1], start[channel][1])


@settings(max_examples=60, deadline=None)
@given(
    cuts=st.lists(
        st.fractions(min_value=0, max_value=5, max_denominator=997), min_size=0, max_size=12
    ),
    loop=st.booleans(),
)
def test_blocks_tile_the_stream_whatever_the_cut_points(cuts, loop):
    source = _SOURCES[loop]
    end = Fraction(5)
    whole = source.render(Fraction(0), end)
    points = sorted({Fraction(0), end, *cuts})
    for channel, rate in source.channels.items():
        pieces = []
        for a, b in itertools.pairwise(points):
            first, samples = source.render(a, b)[channel]
            assert first == math.ceil(a * rate)
            pieces.append(samples)
        joined = np.concatenate(pieces)
        assert whole[channel][0] == 0
        np.testing.assert_array_equal(joined, whole[channel][1])


_SOURCES = {
    loop: ReplaySource(_recording(rate=Fraction(360), seconds=3), MONITOR, loop=loop)
    for loop in (False, True)
}
