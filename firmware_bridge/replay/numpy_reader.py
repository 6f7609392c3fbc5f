"""Read a recording from NumPy files, never unpickling.

- `.npy`: one numeric array, shape `(n_signals, n_samples)` (a 1-D array is one signal),
  i.e. one row per signal, the layout `np.stack([ecg, pleth])` gives. Signals are named
  `ch0`, `ch1`, ... (map them with `--map 'ch0=ecg_ii'`); units are unknown; `rate=` is
  required since the file cannot state one.
- `.npz`: one 1-D numeric array per signal, keyed by its name (`np.savez(f, MLII=...,
  **{"PLETH [%]": ...})`: units in brackets as in CSV headers), plus an optional scalar
  `fs` or `rate` entry giving the sample rate shared by all signals.

Both are loaded with `allow_pickle=False`, and array headers are checked against the size
bounds before any data is read: a `.npy` holding Python objects or a pickle is refused.
"""

from __future__ import annotations

import zipfile
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import numpy as np

from vigil.errors import ReplayError
from vigil.firmware_bridge.replay.recording import (
    MAX_SIGNALS,
    RecordedSignal,
    Recording,
    as_rate,
    check_sample_count,
    check_signal_count,
    physical_samples,
    split_units,
)

RATE_KEYS = ("fs", "rate")
NUMERIC_KINDS = "biuf"
PICKLE_HINT = "Vigil never unpickles; save plain numeric arrays (np.save / np.savez)"


def read_npy(path: Path, *, rate: Fraction | None = None) -> Recording:
    """Read a `.npy` array of shape `(n_signals, n_samples)` (or one 1-D signal)."""
    shape, dtype = _npy_header(path)
    _check_dtype(path, dtype, what="the array")
    if len(shape) not in (1, 2):
        raise ReplayError(
            f"{path}: array of shape {shape}; expected (n_signals, n_samples) or (n_samples,)"
        )
    if len(shape) == 2 and shape[0] > MAX_SIGNALS:
        raise ReplayError(
            f"{path}: shape {shape} would be {shape[0]} signals; Vigil reads .npy as "
            "(n_signals, n_samples): save the transposed array (arr.T)"
        )
    check_sample_count(int(np.prod(shape)), source=str(path))
    if rate is None:
        raise ReplayError(
            f"{path}: a .npy file cannot state its sample rate; pass it (rate=..., --rate), "
            "or save an .npz with an 'fs' entry"
        )
    rate = as_rate(rate, source=f"{path}: rate")
    array = _load(path)
    rows = array.reshape(1, -1) if array.ndim == 1 else array
    signals = tuple(
        RecordedSignal(
            name=f"ch{i}",
            rate=rate,
            samples=physical_samples(row, source=f"{path}: signal ch{i}"),
            units="",
        )
        for i, row in enumerate(rows)
    )
    return Recording(path=path, signals=signals)


def read_npz(path: Path, *, rate: Fraction | None = None) -> Recording:
    """Read an `.npz` of named 1-D signals plus an optional `fs`/`rate` scalar."""
    archive = _load(path)
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ReplayError(f"{path}: a single .npy array, not an .npz archive; rename it .npy")
    with archive:
        keys = list(archive.files)
        signal_keys = [key for key in keys if key not in RATE_KEYS]
        check_signal_count(len(signal_keys), source=str(path))
        total = 0
        for key in keys:
            shape, dtype = _entry_header(path, archive.zip, key)
            _check_dtype(path, dtype, what=f"entry {key!r}")
            total += int(np.prod(shape))
            check_sample_count(total, source=str(path))
        stated = _stated_rate(path, archive)
        if stated is not None and rate is not None:
            given = as_rate(rate, source=f"{path}: rate")
            if given != stated:
                raise ReplayError(
                    f"{path}: the file states {float(stated):g} Hz but rate "
                    f"{float(given):g} Hz was given; drop the rate argument or fix the file"
                )
        final = stated if stated is not None else rate
        if final is None:
            raise ReplayError(
                f"{path}: no 'fs' or 'rate' entry and no rate given; add an 'fs' scalar to "
                "the .npz or pass the sample rate (rate=..., --rate)"
            )
        final = as_rate(final, source=f"{path}: rate")
        signals = []
        for key in signal_keys:
            array = _entry(path, archive, key)
            name, units = split_units(key)
            if array.ndim != 1:
                raise ReplayError(
                    f"{path}: entry {key!r} has shape {array.shape}; each signal must be a "
                    "1-D array of samples"
                )
            signals.append(
                RecordedSignal(
                    name=name,
                    rate=final,
                    samples=physical_samples(array, source=f"{path}: signal {key!r}"),
                    units=units,
                )
            )
    if not signals:
        raise ReplayError(f"{path}: the archive holds no signal arrays")
    return Recording(path=path, signals=tuple(signals))


def _load(path: Path) -> np.ndarray | np.lib.npyio.NpzFile:
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError as exc:
        raise ReplayError(f"{path}: file not found") from exc
    except EOFError as exc:
        raise ReplayError(f"{path}: the file is empty or truncated") from exc
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        if "pickle" in str(exc).lower() or "object" in str(exc).lower():
            raise ReplayError(f"{path}: holds pickled data; {PICKLE_HINT}") from exc
        raise ReplayError(f"{path}: not a readable NumPy file: {exc}") from exc


def _read_header(handle: BinaryIO) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from a `.npy` stream's header; reads only the header bytes."""
    version = np.lib.format.read_magic(handle)
    if version == (1, 0):
        shape, _fortran, dtype = np.lib.format.read_array_header_1_0(handle)
    elif version == (2, 0):
        shape, _fortran, dtype = np.lib.format.read_array_header_2_0(handle)
    else:
        raise ValueError(f".npy format version {version} is not supported")
    return tuple(int(n) for n in shape), dtype


def _npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from a `.npy` file's header, so bounds are checked before reading."""
    try:
        with path.open("rb") as handle:
            if not handle.read(1):
                raise ReplayError(f"{path}: the file is empty")
            handle.seek(0)
            shape, dtype = _read_header(handle)
    except FileNotFoundError as exc:
        raise ReplayError(f"{path}: file not found") from exc
    except (ValueError, OSError, EOFError) as exc:
        text = str(exc)
        if "magic" in text.lower():
            text = "not a .npy file (no NumPy header; a pickle?)"
        raise ReplayError(f"{path}: {text}; {PICKLE_HINT}") from exc
    return shape, dtype


def _check_dtype(path: Path, dtype: np.dtype, *, what: str) -> None:
    if dtype.hasobject:
        raise ReplayError(f"{path}: {what} holds Python objects; {PICKLE_HINT}")
    if dtype.kind not in NUMERIC_KINDS or dtype.fields is not None:
        raise ReplayError(
            f"{path}: {what} has dtype {dtype}; signals must be real numbers (int or float)"
        )


def _entry_header(
    path: Path, archive: zipfile.ZipFile, key: str
) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of an `.npz` entry, read from its header before decompressing it."""
    try:
        with archive.open(f"{key}.npy") as handle:
            return _read_header(handle)  # type: ignore[arg-type]
    except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ReplayError(f"{path}: entry {key!r} is not a readable array: {exc}") from exc


def _entry(path: Path, archive: np.lib.npyio.NpzFile, key: str) -> np.ndarray:
    try:
        array = archive[key]
    except ValueError as exc:
        raise ReplayError(f"{path}: entry {key!r} holds Python objects; {PICKLE_HINT}") from exc
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ReplayError(f"{path}: entry {key!r} cannot be read: {exc}") from exc
    _check_dtype(path, array.dtype, what=f"entry {key!r}")
    return array


def _stated_rate(path: Path, archive: np.lib.npyio.NpzFile) -> Fraction | None:
    stated: dict[str, Fraction] = {}
    for key in RATE_KEYS:
        if key not in archive.files:
            continue
        value = _entry(path, archive, key)
        if value.size != 1:
            raise ReplayError(
                f"{path}: entry {key!r} must be a single number (the sample rate in Hz), "
                f"got shape {value.shape}"
            )
        stated[key] = as_rate(value.reshape(()).item(), source=f"{path}: entry {key!r}")
    if len(set(stated.values())) > 1:
        raise ReplayError(f"{path}: entries 'fs' and 'rate' disagree; keep one")
    return next(iter(stated.values()), None)
