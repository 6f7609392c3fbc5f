"""Raw byte recordings: every chunk a link read, with its monotonic arrival time.

`vigil listen --record FILE` writes one, so a field problem can be replayed byte for byte at
the desk (`vigil listen --recording FILE`). Format: the 8-byte magic `VGLRAW1\\n`, then
records of `<QI` (nanoseconds since the first chunk, length) followed by that many bytes.
Lengths read back are bounded: a corrupt file gives a clear error, never a huge allocation.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from vigil.errors import ReplayError

MAGIC = b"VGLRAW1\n"
_RECORD = struct.Struct("<QI")
MAX_CHUNK = 1 << 20


class ByteRecorder:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._file: BinaryIO = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise ReplayError(f"cannot write recording {self.path}: {exc.strerror}") from exc
        self._file.write(MAGIC)
        self._t0: int | None = None

    def write(self, arrival_ns: int, data: bytes) -> None:
        if self._t0 is None:
            self._t0 = arrival_ns
        for start in range(0, len(data), MAX_CHUNK):
            chunk = data[start : start + MAX_CHUNK]
            self._file.write(_RECORD.pack(arrival_ns - self._t0, len(chunk)))
            self._file.write(chunk)

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def read_byte_recording(path: str | Path) -> Iterator[tuple[int, bytes]]:
    """Yields (ns since the first chunk, bytes) in recorded order."""
    path = Path(path)
    try:
        f = open(path, "rb")  # noqa: SIM115 - generator closes it
    except OSError as exc:
        raise ReplayError(f"cannot read recording {path}: {exc.strerror}") from exc
    with f:
        if f.read(len(MAGIC)) != MAGIC:
            raise ReplayError(f"{path} is not a Vigil byte recording (bad magic)")
        offset = len(MAGIC)
        while head := f.read(_RECORD.size):
            if len(head) < _RECORD.size:
                raise ReplayError(f"{path}: truncated record header at byte {offset}")
            t_ns, n = _RECORD.unpack(head)
            if n > MAX_CHUNK:
                raise ReplayError(
                    f"{path}: record at byte {offset} claims {n} bytes (max {MAX_CHUNK})"
                )
            data = f.read(n)
            if len(data) < n:
                raise ReplayError(f"{path}: truncated record at byte {offset}")
            offset += _RECORD.size + n
            yield t_ns, data
