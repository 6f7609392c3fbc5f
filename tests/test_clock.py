"""Device -> host clock mapping: drift is fitted, delays do not fool it, jumps are caught."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from vigil.firmware_bridge.clock import ClockFit

HOST_START_NS = 5_000_000_000_000


def _arrivals(
    seconds: float, drift_ppm: float, rate_hz: float = 25, seed: int = 0, scale: float = 1
):
    """(device_us, arrival_ns, true_send_ns) for a device clock running drift_ppm slow."""
    rng = np.random.default_rng(seed)
    host_s = np.arange(0, seconds, 1 / rate_hz)
    device_us = (host_s * (1 - drift_ppm * 1e-6) * scale * 1e6).astype(np.int64) + 123_456_789
    delay_s = 0.002 + rng.exponential(0.004, host_s.size)  # USB polling + scheduling
    send_ns = HOST_START_NS + (host_s * 1e9).astype(np.int64)
    return device_us, send_ns + (delay_s * 1e9).astype(np.int64), send_ns


def test_fit_recovers_crystal_drift_and_maps_send_times_within_milliseconds():
    fit = ClockFit()
    device_us, arrival_ns, send_ns = _arrivals(600, drift_ppm=40)
    for d, a in zip(device_us, arrival_ns, strict=True):
        assert not fit.observe(int(d), int(a))
    assert abs(fit.drift_ppm - 40) < 3
    errors_ms = [
        (fit.to_host_ns(int(d)) - s) / 1e6
        for d, s in zip(device_us[-500:], send_ns[-500:], strict=True)
    ]
    assert max(abs(e) for e in errors_ms) < 3.0


def test_sped_up_replay_is_not_mistaken_for_drift():
    fit = ClockFit(Fraction(4))
    device_us, arrival_ns, _ = _arrivals(120, drift_ppm=0, scale=4)
    jumps = sum(fit.observe(int(d), int(a)) for d, a in zip(device_us, arrival_ns, strict=True))
    assert jumps == 0
    assert abs(fit.drift_ppm) < 5


def test_device_reset_is_a_jump_and_the_fit_restarts():
    fit = ClockFit()
    device_us, arrival_ns, _ = _arrivals(30, drift_ppm=0)
    for d, a in zip(device_us, arrival_ns, strict=True):
        fit.observe(int(d), int(a))
    assert fit.observe(1_000, int(arrival_ns[-1]) + 40_000_000)  # clock back near zero
    assert fit.jumps == 1
    assert not fit.observe(41_000, int(arrival_ns[-1]) + 80_000_000)


def test_device_clock_leaping_ahead_is_a_jump():
    fit = ClockFit()
    device_us, arrival_ns, _ = _arrivals(30, drift_ppm=0)
    for d, a in zip(device_us, arrival_ns, strict=True):
        fit.observe(int(d), int(a))
    assert fit.observe(int(device_us[-1]) + 5_000_000, int(arrival_ns[-1]) + 40_000_000)


def test_a_host_stall_delaying_arrivals_is_not_a_jump():
    fit = ClockFit()
    device_us, arrival_ns, _ = _arrivals(60, drift_ppm=0)
    stalled = arrival_ns.copy()
    stalled[1000:1050] += 1_500_000_000  # the host did not read for 1.5 s
    assert not any(fit.observe(int(d), int(a)) for d, a in zip(device_us, stalled, strict=True))
