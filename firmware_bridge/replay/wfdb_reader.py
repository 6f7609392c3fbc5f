"""Read a PhysioNet WFDB record (MIT-BIH, MIMIC) through the optional `wfdb` package.

`wfdb` is imported here, on first use, not when Vigil starts: it is an extra
(`pip install 'vigil-edge[replay]'`) and pulls pandas and more, which a bedside box that
never replays should not carry.

Conventions: the record is named by its `.hea` or `.dat` path, or by the record name
without a suffix (`data/100`) when `data/100.hea` exists. Values are physical
(`wfdb` applies each signal's gain and baseline: `(digital - baseline) / adc_gain`), and
an invalid sample (WFDB's reserved digital value) reads as NaN. A signal stored with
several samples per frame keeps its own rate, `fs * samples_per_frame`. Multi-segment
records are refused (see `read_wfdb`).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from types import ModuleType

from vigil.errors import ReplayError
from vigil.firmware_bridge.replay.recording import (
    RecordedSignal,
    Recording,
    as_rate,
    check_sample_count,
    check_signal_count,
    physical_samples,
)

INSTALL_HINT = "pip install 'vigil-edge[replay]'"
WFDB_ERRORS = (OSError, ValueError, LookupError, TypeError, ZeroDivisionError)
"""What `wfdb` raises on a missing, malformed or truncated record (its own
`HeaderSyntaxError` is a ValueError); anything else is a bug and propagates."""


def record_base(path: Path) -> Path:
    """The record name `wfdb` expects: the path without its `.hea`/`.dat` suffix."""
    if path.suffix.lower() in (".hea", ".dat"):
        return path.with_suffix("")
    return path


def read_wfdb(path: Path, *, rate: Fraction | None = None) -> Recording:
    """Read a single-segment WFDB record in physical units.

    `rate`, when given, must equal the header's sampling frequency: it confirms, never
    overrides, since replaying a record at the wrong rate would change every heart rate.
    Multi-segment records (MIMIC's layout) are refused with a hint: join them first with
    `wfdb.rdrecord(name, m2s=True)` and `wfdb.wrsamp`.
    """
    wfdb = _import_wfdb(path)
    base = record_base(path)
    header_path = base.with_name(base.name + ".hea")
    if not header_path.is_file():
        raise ReplayError(f"{path}: WFDB header {header_path} not found")
    try:
        header = wfdb.rdheader(str(base))
    except WFDB_ERRORS as exc:
        raise ReplayError(f"{header_path}: not a readable WFDB header: {exc}") from exc
    if getattr(header, "n_seg", None) is not None or isinstance(header, wfdb.MultiRecord):
        raise ReplayError(
            f"{header_path}: a multi-segment WFDB record; join its segments first "
            "(wfdb.rdrecord(name, m2s=True), then wfdb.wrsamp) and replay the result"
        )
    fs = as_rate(header.fs, source=f"{header_path}: sampling frequency")
    if rate is not None:
        given = as_rate(rate, source=f"{path}: rate")
        if given != fs:
            raise ReplayError(
                f"{header_path}: the header states {float(fs):g} Hz but rate "
                f"{float(given):g} Hz was given; drop the rate argument"
            )
    n_sig = int(header.n_sig or 0)
    if n_sig == 0:
        raise ReplayError(f"{header_path}: the record holds no signals")
    check_signal_count(n_sig, source=str(header_path))
    frames = list(header.samps_per_frame or [1] * n_sig)
    sig_len = int(header.sig_len or 0)
    check_sample_count(sig_len * sum(frames), source=str(header_path))
    if sig_len == 0:
        raise ReplayError(f"{header_path}: the header states no samples (sig_len 0)")
    try:
        record = wfdb.rdrecord(str(base), physical=True, smooth_frames=False)
    except WFDB_ERRORS as exc:
        raise ReplayError(
            f"{path}: cannot read the WFDB record's samples ({exc}); the signal files the "
            "header names must lie beside it, whole"
        ) from exc
    units = list(record.units or [""] * n_sig)
    signals = tuple(
        RecordedSignal(
            name=str(name),
            rate=as_rate(fs * int(frames[i]), source=f"{header_path}: signal {name!r}"),
            samples=physical_samples(
                record.e_p_signal[i], source=f"{header_path}: signal {name!r}"
            ),
            units=str(units[i] or ""),
        )
        for i, name in enumerate(record.sig_name)
    )
    return Recording(path=path, signals=signals)


def _import_wfdb(path: Path) -> ModuleType:
    try:
        import wfdb  # optional dependency: imported on first use, not at start-up
    except ImportError as exc:
        raise ReplayError(
            f"{path}: reading WFDB records needs the optional 'wfdb' package: {INSTALL_HINT}"
        ) from exc
    return wfdb
