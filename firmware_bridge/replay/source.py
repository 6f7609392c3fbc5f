"""`ReplaySource`: a recording served on the monitor's channel grids, block by block.

The simulator asks for `[t0, t1)` windows of device time and must get, for each channel,
exactly the samples whose times `i / rate` fall in the window, so that blocks of any size
tile the stream without a gap or a repeated sample. Everything here is indexed by integer
sample numbers on each channel's own exact rate; the recording is resampled once, up
front, so a block is a slice and `[a, b)` then `[b, c)` equals `[a, c)` bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from vigil.errors import ReplayError
from vigil.firmware_bridge.replay.channel_map import match_channels
from vigil.firmware_bridge.replay.recording import Recording, as_rate
from vigil.firmware_bridge.replay.resample import resample

MAX_BLOCK_SAMPLES = 10_000_000
"""Most samples one `render` call returns per channel; guards a mistaken huge window."""


@dataclass(frozen=True, slots=True, eq=False)
class _Track:
    """One channel's samples at the channel's rate, and how many of them one loop holds."""

    signal: str
    rate: Fraction
    samples: np.ndarray
    period_samples: int


class ReplaySource:
    """A recording mapped onto the monitor's channels, resampled to their declared rates,
    served forward block by block.

    Timeline: sample `i` of a channel is at time `i / rate` seconds from the start of the
    recording, the channel's first sample at 0.

    Without `loop`, a channel ends with its last resampled sample, the last time before the
    mapped signal's own end (`output_length`); `duration` is the longest mapped signal's
    length, `n / rate` in the file. With `loop`, the recording repeats with one period for
    all channels, `duration`: the shortest mapped signal's length rounded down to a whole
    number of samples on every channel's grid (a multiple of `1 / gcd(rates)`: 16 ms for
    500, 125 and 62.5 Hz), so channels never drift apart however often it loops. Up to one
    such step at the end is dropped; nothing is invented.

    Memory: the resampled channels are held in full (8 bytes a sample).
    """

    def __init__(
        self,
        recording: Recording,
        channel_rates: dict[str, Fraction],
        channel_map: dict[str, str] | None = None,
        loop: bool = False,
    ) -> None:
        rates = {
            channel: as_rate(rate, source=f"channel {channel!r}")
            for channel, rate in channel_rates.items()
        }
        source = str(recording.path)
        matches = match_channels(recording.names, rates, channel_map, source=source)
        self.recording = recording
        self.loop = loop
        self.ignored: tuple[str, ...] = tuple(n for n in recording.names if n not in matches)
        """File signals no channel takes (reported so a caller can log them)."""
        mapped = [recording.signal(name) for name in matches]
        ends = [signal.duration for signal in mapped]
        if min(ends) == 0:
            empty = [signal.name for signal in mapped if signal.duration == 0]
            raise ReplayError(f"{source}: signals {empty} hold no samples")
        if loop:
            grid = _rate_gcd(rates[matches[signal.name]] for signal in mapped)
            self.duration = Fraction(math.floor(min(ends) * grid)) / grid
            if self.duration == 0:
                raise ReplayError(
                    f"{source}: {float(min(ends)):g} s is shorter than one "
                    f"{float(1 / grid):g} s step common to the channels' rates; too short "
                    "to loop"
                )
        else:
            self.duration = max(ends)
        self._tracks: dict[str, _Track] = {}
        for signal in mapped:
            channel = matches[signal.name]
            rate = rates[channel]
            samples = resample(signal.samples, signal.rate, rate)
            samples.flags.writeable = False
            period = int(self.duration * rate) if loop else len(samples)
            self._tracks[channel] = _Track(signal.name, rate, samples, period)
        self.channels: dict[str, Fraction] = {
            channel: track.rate for channel, track in self._tracks.items()
        }
        """The monitor channels this source provides, with their rates."""
        self.mapping: dict[str, str] = dict(matches)
        """File signal -> monitor channel, as decided."""

    def render(self, t0: Fraction, t1: Fraction) -> dict[str, tuple[int, np.ndarray]]:
        """Samples for the window `[t0, t1)` seconds, per provided channel.

        For each channel: `(first, samples)` with every sample index `i` such that
        `t0 <= i / rate < t1`: `first = ceil(t0 * rate)`, stop `ceil(t1 * rate)`, indices
        below 0 dropped. Without `loop` the window is clipped at the channel's end (past
        it, `samples` is empty); with `loop`, index `i` plays sample `i mod period`, so
        indices keep rising. Samples are float64 and read-only; times should be `Fraction`
        (a float is taken at its exact binary value).
        """
        t0, t1 = Fraction(t0), Fraction(t1)
        if t1 < t0:
            raise ValueError(f"render window ends before it starts: [{t0}, {t1})")
        blocks: dict[str, tuple[int, np.ndarray]] = {}
        for channel, track in self._tracks.items():
            first = max(0, math.ceil(t0 * track.rate))
            stop = max(first, math.ceil(t1 * track.rate))
            if stop - first > MAX_BLOCK_SAMPLES:
                raise ValueError(
                    f"render window [{float(t0):g}, {float(t1):g}) s is {stop - first} "
                    f"samples of {channel!r}, more than {MAX_BLOCK_SAMPLES}; ask in blocks"
                )
            if self.loop:
                indices = np.arange(first, stop, dtype=np.int64) % track.period_samples
                samples = track.samples[indices]
                samples.flags.writeable = False
            else:
                samples = track.samples[min(first, len(track.samples)) : stop]
            blocks[channel] = (first, samples)
        return blocks

    def finished(self, t: Fraction) -> bool:
        """Whether device time `t` is at or past the end (never, when looping)."""
        return not self.loop and Fraction(t) >= self.duration


def _rate_gcd(rates: Iterable[Fraction]) -> Fraction:
    """Largest rate `g` such that every given rate is a whole multiple of it."""
    fractions = list(rates)
    denominator = math.lcm(*(rate.denominator for rate in fractions))
    numerator = math.gcd(*(int(rate * denominator) for rate in fractions))
    return Fraction(numerator, denominator)
