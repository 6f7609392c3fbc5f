"""The synthesizer streams: partition independent, deterministic, exact counts, bounded."""

from __future__ import annotations

import itertools
import math
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
from blocked_imports import block_imports
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vigil.models.synthetic import (
    PatientSimulator,
    SignalBlock,
    concatenate_blocks,
    generate_recording,
    iter_blocks,
    scenario_from_toml,
)

# A scenario where something changes every few seconds, so partitions cut through events.
BUSY = scenario_from_toml(
    """
name = "busy"
[initial]
rate = 90
pvc_per_min = 20
motion_mv = 0.3
motion_per_min = 20
[[event]]
at = 2.3
apnea = true
[[event]]
at = 3.7
rhythm = "vt"
rate = 200
[[event]]
at = 5.9
rhythm = "vf"
leads_off = [false, true, false]
[[event]]
at = 7.04
rhythm = "sinus"
rate = 60
probe_off = true
apnea = false
[[event]]
at = 9.5
rhythm = "asystole"
p_waves = true
mains_hz = 60
""",
    "<busy>",
)


def fingerprint(block: SignalBlock) -> tuple:
    """Everything in a block, comparable bit for bit (NaN-safe via repr)."""
    return (
        block.t0,
        block.t1,
        block.ecg_first_index,
        block.ecg.dtype,
        block.ecg.shape,
        block.ecg.tobytes(),
        block.pleth_first_index,
        block.pleth.tobytes(),
        block.resp_first_index,
        block.resp.tobytes(),
        repr(block.numerics),
        repr(block.status),
        repr(block.beats),
        repr(block.episodes),
        repr(block.breaths),
    )


def render_partition(cuts: list[Fraction], seed: int = 5, scenario=BUSY) -> SignalBlock:
    sim = PatientSimulator(scenario, seed)
    return concatenate_blocks([sim.render(a, b) for a, b in itertools.pairwise(cuts)])


END = Fraction(12)
WHOLE = fingerprint(PatientSimulator(BUSY, 5).render(0, END))

times = st.builds(
    Fraction,
    st.integers(min_value=1, max_value=12 * 200 - 1),
    st.sampled_from([200, 25, 8, 125, 40]),
).filter(lambda t: 0 < t < END)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(times, max_size=12, unique=True))
def test_any_block_partition_gives_bit_identical_output(cuts: list[Fraction]) -> None:
    block = render_partition([Fraction(0), *sorted(cuts), END])
    assert fingerprint(block) == WHOLE


def test_odd_block_boundaries_of_40_ms_match_one_render() -> None:
    cuts = [Fraction(k, 25) for k in range(0, 12 * 25 + 1)]
    assert fingerprint(render_partition(cuts)) == WHOLE


def test_blocks_of_40_ms_at_62_5_hz_hold_2_or_3_resp_samples_contiguously() -> None:
    sim = PatientSimulator(BUSY, 1)
    expected_first = 0
    for block in iter_blocks(sim, Fraction(1, 25), stop_s=4):
        assert block.resp_first_index == expected_first
        assert len(block.resp) in (2, 3)
        expected_first += len(block.resp)
    assert expected_first == 250  # 4 s at 62.5 Hz


def test_sample_counts_are_exact_at_62_5_hz_over_ten_minutes_of_one_second_blocks() -> None:
    sim = PatientSimulator("normal", 2)
    counts = {"ecg": 0, "pleth": 0, "resp": 0}
    sizes = set()
    for block in iter_blocks(sim, 1, stop_s=600):
        assert block.ecg_first_index == counts["ecg"]
        assert block.pleth_first_index == counts["pleth"]
        assert block.resp_first_index == counts["resp"]
        counts["ecg"] += block.ecg.shape[1]
        counts["pleth"] += len(block.pleth)
        counts["resp"] += len(block.resp)
        sizes.add(len(block.resp))
        assert len(block.numerics) == len(block.status) == 1
    assert counts == {"ecg": 300_000, "pleth": 75_000, "resp": 37_500}
    assert sizes == {62, 63}


def test_render_returns_exactly_the_samples_with_t0_le_i_over_rate_lt_t1() -> None:
    sim = PatientSimulator("normal", 3, ecg_rate=Fraction(500), resp_rate=Fraction(125, 2))
    block = sim.render(Fraction(3, 25), Fraction(7, 5))
    assert block.resp_first_index == 8  # ceil(0.12 * 62.5) = ceil(7.5)
    assert len(block.resp) == math.ceil(Fraction(7, 5) * Fraction(125, 2)) - 8
    assert block.ecg_first_index == 60
    assert block.ecg.shape == (3, 700 - 60)
    assert [n.t_s for n in block.numerics] == [1.0]  # whole seconds in [0.12, 1.4)
    empty = sim.render(Fraction(2), Fraction(2))
    assert empty.ecg.shape == (3, 0)
    assert empty.numerics == ()


def test_same_seed_gives_identical_output_and_different_seeds_differ() -> None:
    a = generate_recording("pvc_rich", 11, 30)
    b = generate_recording("pvc_rich", 11, 30)
    c = generate_recording("pvc_rich", 12, 30)
    assert fingerprint(a) == fingerprint(b)
    assert not np.array_equal(a.ecg, c.ecg)
    assert [x.t_s for x in a.beats] != [x.t_s for x in c.beats]
    assert a.breaths != c.breaths


def test_rendering_an_earlier_span_replays_from_the_start_identically() -> None:
    sim = PatientSimulator(BUSY, 5)
    sim.render(0, 11)
    again = sim.render(0, END)  # earlier than the kept frames: the simulator restarts
    assert fingerprint(again) == WHOLE


def test_render_rejects_negative_or_reversed_spans() -> None:
    sim = PatientSimulator("normal", 0)
    with pytest.raises(ValueError, match="t0"):
        sim.render(Fraction(-1), Fraction(1))
    with pytest.raises(ValueError, match="t0"):
        sim.render(Fraction(2), Fraction(1))


def test_state_stays_bounded_over_ten_minutes_of_streaming() -> None:
    sim = PatientSimulator(BUSY, 9)
    peak_early: dict[str, int] = {}
    for block in iter_blocks(sim, 1, stop_s=600):
        sizes = sim.footprint()
        if block.t0 < 120:
            for key, value in sizes.items():
                peak_early[key] = max(peak_early.get(key, 0), value)
        else:
            for key, value in sizes.items():
                assert value <= max(peak_early[key], 8), (key, value, block.t0)
    assert sum(sim.footprint().values()) < 200


def test_synthesizer_imports_without_torch_runtime_or_bridge() -> None:
    code = (
        block_imports("torch") + "import vigil.models.synthetic as s\n"
        "s.generate_recording('normal', 0, 2)\n"
        "rooms = ('vigil.runtime', 'vigil.firmware_bridge')\n"
        "bad = [m for m in sys.modules if m.startswith(rooms)]\n"
        "assert not bad and 'torch' not in sys.modules, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
