"""Read a recording from a CSV file: a header row, then one row per sample instant.

Conventions:

- The first non-blank row that is not a `#` comment is the header. A label may carry units
  in brackets: `ECG_II [mV]`, `PLETH (%)`; the signal's name is the label without them.
- A column named `time`, `t` or `time_s` (any case; units `s`, `ms` or none) holds each
  row's time. The rate is inferred from it: the times must lie on a uniform grid within
  `1 %` of the interval plus half the precision the times are printed with, so a dropped
  row or jittery logging is refused rather than replayed at the wrong speed. The start
  time is not kept: replay starts at the first row.
- Without a time column, `rate=` must be given. With both, they must agree.
- Every other column is a signal. Cells must be numbers; `nan` marks an invalid sample.
  Empty cells and text are refused with the row (file line) and column named.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path

import numpy as np

from vigil.errors import ReplayError
from vigil.firmware_bridge.replay.recording import (
    RATE_DENOMINATOR,
    RecordedSignal,
    Recording,
    as_rate,
    check_sample_count,
    check_signal_count,
    physical_samples,
    split_units,
)

TIME_NAMES = frozenset({"time", "t", "time_s"})
TIME_UNITS = {"": 1.0, "s": 1.0, "sec": 1.0, "ms": 1e-3}
JITTER = 0.01
"""Allowed deviation of a row's time from the uniform grid, as a fraction of the interval."""


def read_csv(path: Path, *, rate: Fraction | None = None) -> Recording:
    """Read a CSV recording (see the module docstring for the format)."""
    header, header_line, rows = _read_rows(path)
    labels = [split_units(cell) for cell in header]
    for column, (name, _units) in enumerate(labels, start=1):
        if not name:
            raise ReplayError(
                f"{path}: header column {column} (line {header_line}) has no name; "
                "label every column"
            )
    time_columns = [i for i, (name, _) in enumerate(labels) if name.lower() in TIME_NAMES]
    if len(time_columns) > 1:
        names = [labels[i][0] for i in time_columns]
        raise ReplayError(f"{path}: more than one time column {names}; keep one")
    signal_columns = [i for i in range(len(labels)) if i not in time_columns]
    if not signal_columns:
        raise ReplayError(f"{path}: no signal columns besides the time column")
    check_signal_count(len(signal_columns), source=str(path))

    values = _parse_cells(path, labels, rows)
    if time_columns:
        column = time_columns[0]
        name, units = labels[column]
        scale = TIME_UNITS.get(units.lower())
        if scale is None:
            raise ReplayError(
                f"{path}: time column {name!r} has units {units!r}; use seconds (s) or ms"
            )
        resolution = _print_resolution(row[column] for _line, row in rows) * scale
        times = values[:, column] * scale
        lines = [line for line, _row in rows]
        rate = _rate_from_times(path, name, times, resolution=resolution, lines=lines, rate=rate)
    elif rate is None:
        raise ReplayError(
            f"{path}: no time column ('time', 't' or 'time_s') and no rate given; "
            "add a time column or pass the sample rate (rate=..., --rate)"
        )
    else:
        rate = as_rate(rate, source=f"{path}: rate")

    signals = tuple(
        RecordedSignal(
            name=labels[i][0],
            rate=rate,
            samples=physical_samples(values[:, i], source=f"{path}: column {labels[i][0]!r}"),
            units=labels[i][1],
        )
        for i in signal_columns
    )
    return Recording(path=path, signals=signals)


def _read_rows(path: Path) -> tuple[list[str], int, list[tuple[int, list[str]]]]:
    """Header, its line number, and the data rows with their line numbers (for messages)."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise ReplayError(f"{path}: file not found") from exc
    except OSError as exc:
        raise ReplayError(f"{path}: cannot open: {exc.strerror or exc}") from exc
    header: list[str] | None = None
    header_line = 0
    rows: list[tuple[int, list[str]]] = []
    cells = 0
    with handle:
        reader = csv.reader(handle)
        try:
            for row in reader:
                if not row or all(not cell.strip() for cell in row):
                    continue
                if row[0].lstrip().startswith("#"):
                    continue
                if header is None:
                    header, header_line = row, reader.line_num
                    continue
                if len(row) != len(header):
                    raise ReplayError(
                        f"{path}: row at line {reader.line_num} has {len(row)} cells but the "
                        f"header has {len(header)}; every row needs one cell per column"
                    )
                cells += len(row)
                check_sample_count(cells, source=str(path))
                rows.append((reader.line_num, row))
        except (csv.Error, UnicodeDecodeError) as exc:
            raise ReplayError(
                f"{path}: not a readable CSV file near line {reader.line_num}: {exc}"
            ) from exc
    if header is None:
        raise ReplayError(f"{path}: the file is empty; expected a header row, then samples")
    if not rows:
        raise ReplayError(f"{path}: a header but no samples; the recording is empty")
    return header, header_line, rows


def _parse_cells(
    path: Path, labels: list[tuple[str, str]], rows: list[tuple[int, list[str]]]
) -> np.ndarray:
    """Every cell as a float, failing on the first that is not a number."""
    values = np.empty((len(rows), len(labels)), dtype=np.float64)
    for r, (line, row) in enumerate(rows):
        for c, cell in enumerate(row):
            text = cell.strip()
            try:
                values[r, c] = float(text)
            except ValueError:
                what = "is empty" if not text else f"holds {text[:40]!r}, not a number"
                raise ReplayError(
                    f"{path}: row at line {line}, column {labels[c][0]!r} {what}; "
                    "every cell must be a number ('nan' marks an invalid sample)"
                ) from None
    return values


def _print_resolution(cells: Iterable[str]) -> float:
    """The finest decimal step the time cells are printed with (0.001 for `1.234`).

    Printed times are rounded; the uniformity check must allow half a step of rounding,
    or a 360 Hz file with millisecond times would be refused.
    """
    exponent = 0
    for cell in cells:
        try:
            cell_exponent = Decimal(cell.strip()).as_tuple().exponent
        except InvalidOperation:
            continue
        if isinstance(cell_exponent, int):
            exponent = min(exponent, cell_exponent)
    return 10.0**exponent


def _rate_from_times(
    path: Path,
    name: str,
    times: np.ndarray,
    *,
    resolution: float,
    lines: list[int],
    rate: Fraction | None,
) -> Fraction:
    """Infer (or, with `rate`, check) the rate a uniformly sampled time column implies."""
    if not np.isfinite(times).all():
        row = lines[int(np.flatnonzero(~np.isfinite(times))[0])]
        raise ReplayError(f"{path}: time column {name!r} is not finite at line {row}")
    steps = np.diff(times)
    if steps.size and (steps <= 0).any():
        bad = int(np.flatnonzero(steps <= 0)[0]) + 1
        raise ReplayError(
            f"{path}: time column {name!r} does not increase at line {lines[bad]} "
            f"({times[bad - 1]:g} s then {times[bad]:g} s); sort or repair the file"
        )
    if rate is not None:
        rate = as_rate(rate, source=f"{path}: rate")
        interval = 1.0 / float(rate)
    elif len(times) < 2:
        raise ReplayError(
            f"{path}: one row is too few to infer a rate from {name!r}; pass the rate"
        )
    else:
        interval = (times[-1] - times[0]) / (len(times) - 1)
    tolerance = JITTER * interval + resolution / 2
    if rate is None and tolerance >= interval / 4:
        raise ReplayError(
            f"{path}: time column {name!r} is printed with a step of {resolution:g} s, too "
            f"coarse for its {interval:g} s interval to check or infer the rate; print more "
            "decimals or pass the rate"
        )
    grid = times[0] + np.arange(len(times)) * interval
    deviation = np.abs(times - grid)
    worst = int(np.argmax(deviation))
    if deviation[worst] > tolerance:
        if rate is not None:
            raise ReplayError(
                f"{path}: time column {name!r} does not match rate {float(rate):g} Hz: at line "
                f"{lines[worst]} it reads {times[worst]:g} s where that rate puts "
                f"{grid[worst]:g} s; drop the rate argument or fix the file"
            )
        raise ReplayError(
            f"{path}: time column {name!r} is not uniformly sampled: at line {lines[worst]} "
            f"it reads {times[worst]:g} s, {deviation[worst]:g} s off the {interval:g} s grid "
            "(a dropped or repeated row?); resample the file to a uniform rate first"
        )
    if rate is not None:
        return rate
    # The estimate is uncertain by about two tolerances over the whole span; take the
    # simplest fraction inside that band, so 359.9999 Hz from rounded times reads as 360.
    estimate = 1.0 / interval
    band = estimate * 2 * tolerance / (times[-1] - times[0])
    for denominator in range(1, RATE_DENOMINATOR + 1):
        numerator = round(estimate * denominator)
        if numerator > 0 and abs(numerator / denominator - estimate) <= band:
            return as_rate(Fraction(numerator, denominator), source=f"{path}: {name!r}")
    if not math.isfinite(estimate):
        raise ReplayError(f"{path}: cannot infer a rate from time column {name!r}")
    return as_rate(estimate, source=f"{path}: time column {name!r}")
