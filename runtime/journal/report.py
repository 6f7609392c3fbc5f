"""`vigil report`: a journal drawn for people. Per bed, the numerics trends (HR, SpO2, RR,
NIBP systolic) over wall time with the alarm timeline beneath, one bar per alarm from
activation to end, coloured by priority; as a PNG, or as one self-contained HTML file (the
PNG inlined as base64, plus the alarm and operator-action tables).

matplotlib is the `plot` extra and is imported only here, through the object API (no
pyplot global state), so a report can be drawn from any thread.
"""

from __future__ import annotations

import base64
import html
import io
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from vigil.errors import ConfigError
from vigil.runtime.journal import queries, schema

INSTALL_HINT = "pip install 'vigil-edge[plot]'"
PRIORITY_COLOURS = {"high": "#d62728", "medium": "#f0b400", "low": "#17becf"}
TRENDS = (  # (field, label)
    ("hr", "HR /min"),
    ("spo2", "SpO2 %"),
    ("resp_rate", "RR /min"),
    ("nibp_sys", "NIBP sys mmHg"),
)
_RANK = {"low": 1, "medium": 2, "high": 3}


@dataclass(frozen=True, slots=True)
class AlarmSpan:
    """One alarm as the report shows it, built from its journaled events."""

    alarm_id: int
    bed: str
    kind: str
    key: str
    priority: str  # the highest it reached (escalation)
    category: str
    first_utc: str  # its first event (PENDING or ACTIVATED)
    activated_utc: str | None  # None: never signalled (cancelled while pending)
    ended_utc: str | None  # None: still open at the journal's end
    acknowledged_by: str
    value: float | None
    events: int

    @property
    def technical(self) -> bool:
        return self.category == "technical"


def alarm_spans(stored: Sequence[dict[str, Any]]) -> list[AlarmSpan]:
    """Fold stored events (commit order) into one span per alarm, by first event time."""
    grouped: dict[int, list[dict[str, Any]]] = {}
    for event in stored:
        grouped.setdefault(int(event["alarm"]["alarm_id"]), []).append(event)
    spans = []
    for alarm_id, group in grouped.items():
        last = group[-1]["alarm"]
        activated = next((e for e in group if e["event"] == "activated"), None)
        end = next((e for e in group if e["event"] in ("ended", "cancelled")), None)
        shown = (activated or group[0])["alarm"]
        spans.append(
            AlarmSpan(
                alarm_id=alarm_id,
                bed=last["bed"],
                kind=last["kind"],
                key=last.get("key", ""),
                priority=max((e["alarm"]["priority"] for e in group), key=_RANK.__getitem__),
                category=last["category"],
                first_utc=group[0]["wall_utc"],
                activated_utc=None if activated is None else activated["wall_utc"],
                ended_utc=None if end is None else end["wall_utc"],
                acknowledged_by=last.get("acknowledged_by", ""),
                value=shown["condition"].get("value"),
                events=len(group),
            )
        )
    return sorted(spans, key=lambda s: (s.first_utc, s.alarm_id))


@dataclass(frozen=True, slots=True)
class ReportData:
    journal: Path
    since: str | None
    beds: list[str]
    trends: dict[str, queries.Trends]
    spans: list[AlarmSpan]
    actions: list[dict[str, Any]]
    last_utc: dict[str, str]  # per bed, its last alarm event: open alarms are drawn to there


def load(journal: Path, *, bed: str | None = None, since: str | None = None) -> ReportData:
    """Everything a report draws, read-only; ConfigError when the filters leave nothing."""
    conn = queries.open_read_only(journal)
    try:
        trends = queries.numerics(conn, bed=bed, since=since)
        stored = queries.events(conn, bed=bed, since=since, whole_alarms=True)
        spans = alarm_spans(stored)
        acts = queries.actions(conn, bed=bed, since=since)
        present = queries.beds(conn)
    finally:
        conn.close()
    beds = sorted(set(trends) | {s.bed for s in spans})
    if not beds:
        where = f" for bed {bed!r}" if bed is not None else ""
        when = f" since {since}" if since is not None else ""
        known = f" (beds in it: {', '.join(present)})" if present else " (it is empty)"
        raise ConfigError(f"nothing to report in {journal}{where}{when}{known}")
    last: dict[str, str] = {}
    for event in stored:
        bed_of = event["alarm"]["bed"]
        last[bed_of] = max(last.get(bed_of, ""), event["wall_utc"])
    return ReportData(journal, since, beds, trends, spans, acts, last)


def write_report(data: ReportData, out: Path) -> Path:
    """Draw `data` to `out` (.png, or .html with the PNG inlined)."""
    suffix = out.suffix.lower()
    if suffix not in (".png", ".html", ".htm"):
        raise ConfigError(f"--out {out}: name a .png or .html file")
    if not out.parent.is_dir():
        raise ConfigError(f"cannot write --out {out}: folder {out.parent} does not exist")
    png = render_png(data)
    if suffix == ".png":
        out.write_bytes(png)
    else:
        out.write_text(render_html(data, png), encoding="utf-8")
    return out


def require_matplotlib() -> None:
    """Fail at once, with the install hint, when the `plot` extra is missing."""
    try:
        import matplotlib
    except ImportError as exc:
        raise ConfigError(f"vigil report needs matplotlib: {INSTALL_HINT}") from exc
    del matplotlib  # imported again where it draws


def render_png(data: ReportData) -> bytes:
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    signalled = [s for s in data.spans if s.activated_utc is not None]
    lanes = {b: sorted({s.kind for s in signalled if s.bed == b}) for b in data.beds}
    rows: list[float] = []
    for bed in data.beds:
        rows += [1.0] * len(TRENDS) + [0.6 + 0.22 * max(1, len(lanes[bed]))]
    fig = Figure(figsize=(12, 1.0 + 1.45 * sum(rows)), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(rows), 1, height_ratios=rows, squeeze=False)[:, 0]
    now = datetime.fromisoformat(schema.utc_text(time.time()))
    for index, bed in enumerate(data.beds):
        group = axes[index * (len(TRENDS) + 1) : (index + 1) * (len(TRENDS) + 1)]
        for ax in group[1:]:
            ax.sharex(group[0])
        spans = [s for s in signalled if s.bed == bed]
        trends = data.trends.get(bed)
        times = [_dt(t) for t in trends.wall_utc] if trends else []
        last = data.last_utc.get(bed)
        right = max([*times, *([_dt(last)] if last else [])], default=now)
        for ax, (field, label) in zip(group, TRENDS, strict=False):
            values = trends.values[field] if trends is not None else []
            if any(math.isfinite(v) for v in values):
                ax.plot(times, values, lw=1.0, color="#1f3b73", marker=".", ms=2)
            else:
                ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", fontsize=8)
                ax.set_yticks([])
            for span in (s for s in spans if not s.technical):  # about the patient's values
                ax.axvspan(
                    _dt(span.activated_utc),
                    _dt(span.ended_utc) if span.ended_utc else right,
                    color=PRIORITY_COLOURS.get(span.priority, "grey"),
                    alpha=0.10,
                    lw=0,
                )
            ax.set_ylabel(label, fontsize=8)
            ax.grid(True, alpha=0.3)
            ax.tick_params(labelbottom=False, labelsize=8)
        group[0].set_title(f"bed {bed}", loc="left", fontsize=11, fontweight="bold")
        timeline = group[-1]
        _draw_timeline(timeline, spans, lanes[bed], right)
        locator = AutoDateLocator()
        timeline.xaxis.set_major_locator(locator)
        timeline.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        timeline.tick_params(labelbottom=True, labelsize=8)
        timeline.set_xlabel("time (UTC)", fontsize=8)
    legend = [Patch(color=c, label=p) for p, c in PRIORITY_COLOURS.items()]
    legend.append(Patch(facecolor="white", edgecolor="grey", hatch="///", label="technical"))
    fig.legend(handles=legend, loc="outside upper right", ncols=4, fontsize=8)
    fig.suptitle(f"Vigil journal {data.journal.name}", fontsize=12)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _draw_timeline(ax: Any, spans: list[AlarmSpan], lanes: list[str], right: datetime) -> None:
    from matplotlib.dates import date2num

    for span in spans:
        start, end = _dt(span.activated_utc), _dt(span.ended_utc) if span.ended_utc else right
        x0, x1 = date2num(start), date2num(end)
        colour = PRIORITY_COLOURS.get(span.priority, "grey")
        style: dict[str, Any] = (
            {"facecolor": "white", "edgecolor": colour, "hatch": "///", "linewidth": 1.2}
            if span.technical
            else {"facecolor": colour, "edgecolor": "black", "linewidth": 0.4}
        )
        ax.barh(lanes.index(span.kind), max(x1 - x0, 1e-6), left=x0, height=0.6, **style)
    ax.set_yticks(range(len(lanes)), lanes, fontsize=8)
    ax.set_ylim(-0.7, max(len(lanes), 1) - 0.3)
    ax.set_ylabel("alarms", fontsize=8)
    ax.grid(True, axis="x", alpha=0.3)
    if not spans:
        ax.text(0.5, 0.5, "no alarm signalled", transform=ax.transAxes, ha="center", fontsize=8)


def _dt(text: str | None) -> datetime:
    assert text is not None
    return datetime.fromisoformat(text)


def render_html(data: ReportData, png: bytes) -> str:
    """One file, no external resources: the figure inlined, the tables as HTML."""
    e = html.escape
    head = ["alarm", "bed", "kind", "priority", "category", "first event (UTC)"]
    head += ["activated (UTC)", "ended (UTC)", "acknowledged by", "value", "events"]
    rows = []
    for s in data.spans:
        cells = [
            str(s.alarm_id),
            s.bed,
            s.kind + (f" ({s.key})" if s.key else ""),
            s.priority,
            s.category,
            s.first_utc,
            s.activated_utc or "never signalled",
            s.ended_utc or "open",
            s.acknowledged_by or "-",
            _number(s.value),
            str(s.events),
        ]
        style = f' class="{e(s.priority)}"'
        rows.append(f"<tr{style}>" + "".join(f"<td>{e(c)}</td>" for c in cells) + "</tr>")
    act_head = ["time (UTC)", "bed", "action", "alarm", "seconds", "actor", "outcome"]
    act_rows = [
        "<tr>"
        + "".join(
            f"<td>{e(str(a[k]))}</td>"
            for k in ("wall_utc", "bed", "action", "alarm_id", "seconds", "actor", "outcome")
        )
        + "</tr>"
        for a in data.actions
    ]
    image = base64.b64encode(png).decode("ascii")
    since = f", since {e(data.since)}" if data.since else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Vigil report: {e(data.journal.name)}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; color: #222; }}
table {{ border-collapse: collapse; font-size: 0.85em; margin-bottom: 2em; }}
th, td {{ border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: left; }}
th {{ background: #eee; }}
tr.high td:nth-child(4) {{ background: #f4b6b6; }}
tr.medium td:nth-child(4) {{ background: #fbe59a; }}
tr.low td:nth-child(4) {{ background: #b5ecf2; }}
img {{ max-width: 100%; }}
</style></head><body>
<h1>Vigil report</h1>
<p>Journal <code>{e(str(data.journal))}</code>{since}; beds {e(", ".join(data.beds))};
{len(data.spans)} alarms. Not a certified medical device.</p>
<img alt="numerics trends and alarm timeline" src="data:image/png;base64,{image}">
<h2>Alarms</h2>
<table id="alarms"><thead><tr>{"".join(f"<th>{e(h)}</th>" for h in head)}</tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody></table>
<h2>Operator actions</h2>
<table id="actions"><thead><tr>{"".join(f"<th>{e(h)}</th>" for h in act_head)}</tr></thead>
<tbody>
{chr(10).join(act_rows)}
</tbody></table>
</body></html>
"""


def _number(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.4g}"
