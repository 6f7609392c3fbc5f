"""`read_recording`: pick the reader for a file by its suffix."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

from vigil.errors import ReplayError
from vigil.firmware_bridge.replay.csv_reader import read_csv
from vigil.firmware_bridge.replay.numpy_reader import read_npy, read_npz
from vigil.firmware_bridge.replay.recording import Recording
from vigil.firmware_bridge.replay.wfdb_reader import read_wfdb

SUFFIXES = {
    ".hea": "WFDB",
    ".dat": "WFDB",
    ".csv": "CSV",
    ".npy": "NumPy",
    ".npz": "NumPy",
}
"""Suffixes `read_recording` knows; a WFDB record may also be named without one."""


def read_recording(path: str | os.PathLike[str], *, rate: Fraction | None = None) -> Recording:
    """Read a recorded vital-signs file into physical-unit signals at their own rates.

    By suffix: `.hea`/`.dat` (or a record name without suffix whose `.hea` exists) is a
    WFDB record, `.csv` a CSV table, `.npy`/`.npz` NumPy arrays; each reader's module
    documents its conventions. `rate` (Hz) is needed where the file cannot state one
    (`.npy`, CSV without a time column); where the file does state one it must agree.

    Raises `ReplayError` naming the file and what to do, for every problem with the file.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".hea", ".dat"):
        return read_wfdb(path, rate=rate)
    if suffix == ".csv":
        return read_csv(path, rate=rate)
    if suffix == ".npy":
        return read_npy(path, rate=rate)
    if suffix == ".npz":
        return read_npz(path, rate=rate)
    if path.with_name(path.name + ".hea").is_file():
        return read_wfdb(path, rate=rate)
    if not path.exists():
        raise ReplayError(f"{path}: file not found")
    known = ", ".join(f"{s} ({kind})" for s, kind in SUFFIXES.items())
    raise ReplayError(
        f"{path}: unknown recording format {suffix or '(no suffix)'!r}; Vigil replays {known}"
    )
