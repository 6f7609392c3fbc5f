"""The live terminal view: each bed as a monitor shows it, its alarms, and keys to act on them.

Drawing is a pure function of a `RuntimeView` snapshot (`render_view`), so it can never race
the processing loop and tests can render it into a recording console. `LiveView` owns the
terminal: it redraws a few times a second with rich's `Live`, reads single keys in cbreak mode
(restoring the terminal however it exits), and turns them into `OperatorCommand`s with actor
"view". Where there is no terminal (`LiveView.available()` is False) the runtime runs headless.
"""

from __future__ import annotations

import contextlib
import math
import os
import select
import sys
import threading
from collections.abc import Callable, Iterator, Sequence

import numpy as np
from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.text import Text

from vigil.errors import VigilError
from vigil.runtime.alarm_text import alarm_text
from vigil.runtime.alarms.model import SIGNALLING, Alarm, AlarmState, BedSignal, OperatorCommand
from vigil.runtime.analysis.condition import Priority
from vigil.runtime.view_model import BedView, RuntimeView

ACTOR = "view"

PRIORITY_STYLES = {Priority.HIGH: "bold red", Priority.MEDIUM: "bold yellow", Priority.LOW: "cyan"}
"""Alarm colours (IEC 60601-1-8 visual signals: high red, medium yellow, low cyan)."""

LINK_STYLES = {
    "connected": "green",
    "connecting": "yellow",
    "silent": "bold red",
    "disconnected": "bold red",
    "stopped": "dim",
}

TRACE_ROWS = 3  # braille rows of the ECG trace (4 dots each)
MIN_TRACE_SPAN_MV = 0.5  # a flat line is drawn flat, not stretched into noise
MISSING = "---"

_BRAILLE_BITS = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))  # [dot column][dot row]
_LABEL_WIDTH = 8


# ---------------------------------------------------------------------------- drawing
def ecg_trace(samples: np.ndarray, columns: int, rows: int = TRACE_ROWS) -> list[str]:
    """The trace as `rows` strings of `columns` braille characters, oldest sample left.

    Each dot column covers an equal share of the samples and draws their min-to-max span
    (so a QRS narrower than a column still shows), joined to its neighbour; a share that is
    all NaN (a gap) is left blank. Fewer samples than dot columns fill the left part.
    """
    x = np.asarray(samples, dtype=np.float64).ravel()
    blank = [" " * max(columns, 0)] * rows
    if columns <= 0 or rows <= 0 or x.size == 0 or not np.isfinite(x).any():
        return blank
    n_dots = min(2 * columns, x.size)
    starts = np.linspace(0, x.size, n_dots + 1).astype(np.int64)[:-1]
    lo = np.fmin.reduceat(x, starts)  # fmin/fmax skip NaN; an all-NaN share stays NaN
    hi = np.fmax.reduceat(x, starts)
    v_lo, v_hi = float(np.nanmin(lo)), float(np.nanmax(hi))
    span = max(v_hi - v_lo, MIN_TRACE_SPAN_MV)
    bottom = (v_lo + v_hi) / 2 - span / 2
    n_y = 4 * rows
    top_y = _dot_rows(hi, bottom, span, n_y)  # higher value -> smaller row index
    low_y = _dot_rows(lo, bottom, span, n_y)
    cells = np.zeros((rows, columns), dtype=np.int64)
    for d in range(n_dots):
        if top_y[d] < 0:
            continue
        y0, y1 = int(top_y[d]), int(low_y[d])
        if d > 0 and top_y[d - 1] >= 0:  # join to the previous column: a line, not dots
            y0, y1 = min(y0, int(low_y[d - 1])), max(y1, int(top_y[d - 1]))
            y0, y1 = min(y0, int(top_y[d])), max(y1, int(low_y[d]))
        for y in range(y0, y1 + 1):
            cells[y // 4, d // 2] |= _BRAILLE_BITS[d % 2][y % 4]
    return ["".join(chr(0x2800 + int(b)) if b else " " for b in row) for row in cells]


def _dot_rows(values: np.ndarray, bottom: float, span: float, n_y: int) -> np.ndarray:
    """Dot row per value (0 = top), -1 where the value is NaN."""
    with np.errstate(invalid="ignore"):
        y = (n_y - 1) - np.rint((values - bottom) / span * (n_y - 1))
    return np.where(np.isfinite(y), np.clip(y, 0, n_y - 1), -1).astype(np.int64)


def render_view(
    view: RuntimeView, *, selected: int = 0, width: int | None = None, message: str = ""
) -> RenderableType:
    """Every bed's panel, then the footer (keys, journal, runtime notes, last key's result)."""
    width = width or 100
    panels = [
        bed_panel(bed, selected=(i == selected), width=width) for i, bed in enumerate(view.beds)
    ]
    if not panels:
        panels = [Text("no beds configured", style="dim")]
    return Group(*panels, footer(view, selected=selected, message=message))


def bed_panel(bed: BedView, *, selected: bool = False, width: int = 100) -> Panel:
    signal = bed.signal
    inner = max(width - 4, 20)  # borders and padding
    body = Group(
        _numerics(bed),
        *_ecg_rows(bed, inner),
        *_alarm_lines(bed.alarms, signal),
    )
    title = Text.assemble(
        ("▶ " if selected else "", "bold"),
        (bed.bed, "bold"),
        ("  ", ""),
        (bed.port, "dim"),
        ("  ", ""),
        (bed.link_state.upper(), LINK_STYLES.get(bed.link_state, "")),
    )
    if signal is not None and signal.audio_paused_until_s is not None:
        title.append("  AUDIO PAUSED", style="bold magenta")
    border = ""
    if signal is not None and signal.priority is not None:
        border = PRIORITY_STYLES[signal.priority]
    return Panel(
        body,
        title=title,
        title_align="left",
        subtitle=_age(bed.numerics_age_s),
        subtitle_align="right",
        box=box.HEAVY if selected else box.ROUNDED,
        border_style=border,
        width=width,
    )


def _value(numerics: dict[str, float], key: str, digits: int = 0) -> str:
    v = numerics.get(key)
    if v is None or not isinstance(v, (int, float)) or not math.isfinite(v):
        return MISSING
    return f"{v:.{digits}f}"


def _numerics(bed: BedView) -> Text:
    """One row as a monitor lays it out; Vigil's own HR beside the device's."""
    n = bed.numerics
    vigil_hr = MISSING if bed.heart_rate is None else _value({"hr": bed.heart_rate}, "hr")
    nibp = f"{_value(n, 'nibp_sys')}/{_value(n, 'nibp_dia')} ({_value(n, 'nibp_mean')})"
    parts: list[tuple[str, str, str, str]] = [  # label, value, unit, style
        ("HR", _value(n, "hr"), "", "bold green"),
        ("Vigil", vigil_hr, "/min", "green"),
        ("SpO2", _value(n, "spo2"), "%", "bold cyan"),
        ("PR", _value(n, "pulse_rate"), "", "cyan"),
        ("NIBP", nibp, "mmHg", "bold white"),
        ("RR", _value(n, "resp_rate"), "/min", "bold yellow"),
        ("Temp", _value(n, "temp", 1), "°C", "bold white"),
    ]
    text = Text()
    for i, (label, value, unit, style) in enumerate(parts):
        if i:
            text.append("   ")
        text.append(f"{label} ", style="dim")
        text.append(value, style=style if any(ch.isdigit() for ch in value) else "dim")
        if unit:
            text.append(f" {unit}", style="dim")
    return text


def _ecg_rows(bed: BedView, inner: int) -> list[Text]:
    label = (bed.ecg_label or "ECG")[: _LABEL_WIDTH - 1].ljust(_LABEL_WIDTH)
    if bed.ecg_rate <= 0 or bed.ecg.size == 0:
        return [Text.assemble((label, "dim"), ("no ECG", "dim"))]
    rows = ecg_trace(bed.ecg, inner - _LABEL_WIDTH)
    return [
        Text.assemble((label if i == 0 else " " * _LABEL_WIDTH, "dim"), (row, "green"))
        for i, row in enumerate(rows)
    ]


def _audio_paused(alarm: Alarm, signal: BedSignal | None) -> bool:
    """Silenced by the bed's audio pause. A signalling alarm below the priority that still
    sounds (a breakthrough) is silenced; one at or above it may be the one that broke through."""
    if signal is None or signal.audio_paused_until_s is None or alarm.state not in SIGNALLING:
        return False
    return signal.audible_priority is None or alarm.priority < signal.audible_priority


def _alarm_lines(alarms: Sequence[Alarm], signal: BedSignal | None) -> list[Text]:
    if not alarms:
        return [Text("no alarms", style="dim green")]
    lines = []
    for a in alarms:
        style = PRIORITY_STYLES[a.priority]
        if a.state is AlarmState.ACKNOWLEDGED:
            style = f"{style} dim"
        marks = []
        if a.technical:
            marks.append("TECHNICAL")
        if a.state is AlarmState.LATCHED:
            marks.append("LATCHED")
        if a.state is AlarmState.ACKNOWLEDGED:
            marks.append(f"ACKNOWLEDGED by {a.acknowledged_by}" if a.acknowledged_by else "ACK")
        if _audio_paused(a, signal):
            marks.append("AUDIO PAUSED")
        if a.escalated:
            marks.append("ESCALATED")
        line = Text()
        line.append(f"#{a.alarm_id:<5}", style="bold")
        line.append(f"{a.priority.name:<7}", style=style)
        line.append(f"{alarm_text(a):<28}", style=style)
        line.append(f" {a.kind:<16}", style="dim")
        if marks:
            line.append(" " + "  ".join(marks), style="bold" if a.state in SIGNALLING else "dim")
        lines.append(line)
    return lines


def _age(age_s: float | None) -> Text:
    if age_s is None:
        return Text("no numerics yet", style="dim")
    style = "bold red" if age_s > 10 else "dim"
    return Text(f"numerics {age_s:.0f} s ago", style=style)


def footer(view: RuntimeView, *, selected: int = 0, message: str = "") -> Group:
    bed = view.beds[selected].bed if 0 <= selected < len(view.beds) else "-"
    keys = Text.assemble(
        ("a", "bold reverse"),
        (f" acknowledge all of {bed}   ", ""),
        ("p", "bold reverse"),
        (f" audio pause {bed}   ", ""),
        ("tab/1-9", "bold reverse"),
        (" select bed   ", ""),
        ("q", "bold reverse"),
        (" quit", ""),
    )
    hours, rest = divmod(int(view.uptime_s), 3600)
    status = Text(
        f"up {hours}:{rest // 60:02d}:{rest % 60:02d}   journal {view.journal} "
        f"({view.events_journaled} events)   not a certified medical device",
        style="dim",
    )
    lines: list[RenderableType] = [keys, status]
    lines += [Text(note, style="bold red") for note in view.technical_notes]
    if message:
        lines.append(Text(message, style="bold"))
    return Group(*lines)


# ---------------------------------------------------------------------------- the terminal
class LiveView:
    """Redraws `snapshot()` and sends the operator's keys to `command` until `stop` is set."""

    def __init__(
        self,
        snapshot: Callable[[], RuntimeView],
        command: Callable[[OperatorCommand], str],
        *,
        console: Console | None = None,
        refresh_hz: float = 4.0,
        keys_fd: int | None = None,
    ) -> None:
        if not refresh_hz > 0:
            raise ValueError(f"refresh_hz must be positive, got {refresh_hz}")
        self._snapshot = snapshot
        self._command = command
        self.console = console if console is not None else Console()
        self._period_s = 1.0 / refresh_hz
        self._keys_fd = keys_fd  # None: stdin, when it is a terminal
        self.selected = 0
        self.message = ""

    @staticmethod
    def available() -> bool:
        """Whether there is a terminal to draw on and read keys from."""
        try:
            ttys = sys.stdout.isatty() and sys.stdin.isatty()
        except (AttributeError, ValueError):  # replaced or closed streams
            return False
        return ttys and os.environ.get("TERM", "dumb") not in ("", "dumb")

    def press(self, key: str, view: RuntimeView) -> bool:
        """Act on one key; False when it asks to quit."""
        beds = view.beds
        if key == "q":
            return False
        if key == "\t" and beds:
            self.selected = (self.selected + 1) % len(beds)
        elif key.isdigit() and key != "0" and int(key) <= len(beds):
            self.selected = int(key) - 1
        elif key in ("a", "p") and beds:
            self.selected = min(self.selected, len(beds) - 1)
            bed = beds[self.selected].bed
            action = "ack" if key == "a" else "audio_pause"
            try:
                self.message = self._command(OperatorCommand(action=action, bed=bed, actor=ACTOR))
            except VigilError as exc:
                self.message = f"refused: {exc}"
        return True

    def run(self, stop: threading.Event) -> None:
        """Draw until `stop` is set or the operator presses q (which sets `stop`)."""
        fd = self._keys_fd if self._keys_fd is not None else _stdin_tty()
        with (
            _cbreak(fd),
            Live(
                console=self.console,
                auto_refresh=False,
                screen=self.console.is_terminal,
                transient=False,
            ) as live,
        ):
            while not stop.is_set():
                view = self._snapshot()
                self.selected = min(self.selected, max(len(view.beds) - 1, 0))
                live.update(self._render(view), refresh=True)
                if fd is None:
                    stop.wait(self._period_s)
                    continue
                keys = _read_keys(fd, self._period_s)
                if keys is None:  # end of input: keep drawing, stop reading
                    fd = None
                    continue
                for key in keys:
                    if not self.press(key, view):
                        stop.set()
                        break
                    live.update(self._render(view), refresh=True)

    def _render(self, view: RuntimeView) -> RenderableType:
        return render_view(
            view, selected=self.selected, width=self.console.width, message=self.message
        )


def _stdin_tty() -> int | None:
    try:
        fd = sys.stdin.fileno()
    except (AttributeError, ValueError, OSError):
        return None
    return fd if os.isatty(fd) else None


@contextlib.contextmanager
def _cbreak(fd: int | None) -> Iterator[None]:
    """Single keys without Enter (and without echo) while inside; the terminal's settings
    come back on the way out, however the block ends."""
    if fd is None or not os.isatty(fd):
        yield
        return
    import termios
    import tty

    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)  # TCSAFLUSH: keys typed before the view was up do not act
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _read_keys(fd: int, timeout_s: float) -> list[str] | None:
    """Keys typed within `timeout_s` (escape sequences such as arrows are ignored); None at
    the end of input (a closed terminal)."""
    ready, _, _ = select.select([fd], [], [], timeout_s)
    if not ready:
        return []
    try:
        raw = os.read(fd, 64)
    except OSError:  # a pty whose other side closed reads EIO
        return None
    if not raw:
        return None
    data = raw.decode("utf-8", errors="ignore")
    if data.startswith("\x1b"):
        return []
    return list(data)
