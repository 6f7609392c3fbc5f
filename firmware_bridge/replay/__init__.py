"""Replay recorded vital signs through the simulated monitor (`--replay FILE`).

`read_recording` reads a file (WFDB, CSV, NumPy) into physical-unit signals at their own
rates; `ReplaySource` maps them onto the monitor's channels, resamples them exactly to the
channels' declared rates, and serves them block by block on the channels' sample grids.
"""

from __future__ import annotations

from vigil.firmware_bridge.replay.channel_map import match_channels, parse_channel_map
from vigil.firmware_bridge.replay.reader import SUFFIXES, read_recording
from vigil.firmware_bridge.replay.recording import (
    MAX_RATE,
    MAX_SAMPLES,
    MAX_SIGNALS,
    RecordedSignal,
    Recording,
    as_rate,
)
from vigil.firmware_bridge.replay.resample import output_length, resample
from vigil.firmware_bridge.replay.source import ReplaySource

__all__ = [
    "MAX_RATE",
    "MAX_SAMPLES",
    "MAX_SIGNALS",
    "SUFFIXES",
    "RecordedSignal",
    "Recording",
    "ReplaySource",
    "as_rate",
    "match_channels",
    "output_length",
    "parse_channel_map",
    "read_recording",
    "resample",
]
