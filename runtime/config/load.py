"""Read vigil.toml into a `RuntimeConfig`, refusing anything the schema does not describe.

Every error is a `ConfigError` whose message starts with the file and names the key at fault
(`vigil.toml: bed[2].limits.spo2.low: expected a number ...`), so `vigil run` can exit 2
before opening any port. Unknown keys are errors with a close match suggested: a typo must
never silently leave a clinical default in place.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from vigil.errors import ConfigError
from vigil.runtime.alarms.policy import AlarmPolicy
from vigil.runtime.analysis.condition import CONDITION_KINDS, Priority
from vigil.runtime.analysis.settings import (
    AnalysisSettings,
    ArrhythmiaSettings,
    CustomDetectorSettings,
    Limit,
    ModelSettings,
    News2Settings,
    RespirationSettings,
)
from vigil.runtime.config.schema import (
    DOCUMENT,
    REQUIRED,
    BedConfig,
    Context,
    Invalid,
    JournalConfig,
    KindMap,
    Option,
    RuntimeConfig,
    RuntimeSettings,
    SinksConfig,
    Table,
    TableArray,
    show,
)

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]


def load_config(path: str | Path) -> RuntimeConfig:
    """Read and validate a configuration file; relative paths in it are relative to its
    folder. Raises `ConfigError` (message starting with `path`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file (`vigil config example` writes one)") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    config = parse_config(text, path=path, base_dir=path.absolute().parent)
    return config


def parse_config(
    text: str, *, path: Path | None = None, base_dir: Path | None = None
) -> RuntimeConfig:
    """Validate TOML `text`. Errors name `path` (or "<config>"); relative paths resolve
    against `base_dir` (default: `path`'s folder, else the working directory)."""
    source = str(path) if path is not None else "<config>"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    if base_dir is None:
        base_dir = path.absolute().parent if path is not None else Path.cwd()
    ctx = Context(source, base_dir.absolute(), frozenset(CONDITION_KINDS) | _detector_names(data))
    doc = read_table(DOCUMENT, data, "", ctx)
    return build(doc, None if path is None else path.absolute())


def config_in_folder(
    folder: Path,
    beds: Iterable[tuple[str, str]],
    *,
    jsonl: Path | None = None,
    analysis: dict[str, Any] | None = None,
    **runtime: Any,
) -> RuntimeConfig:
    """Every default, as a file naming only `beds` ((name, port) pairs) would give, with the
    control socket and journal in `folder`: what `vigil demo`, the tests and the benchmarks
    run. `analysis` overrides AnalysisSettings fields for every bed, `runtime` the
    RuntimeSettings fields."""
    return RuntimeConfig(
        path=None,
        runtime=RuntimeSettings(control_socket=folder / "control.sock", **runtime),
        journal=JournalConfig(path=folder / "journal.db"),
        alarms=AlarmPolicy(),
        sinks=SinksConfig(jsonl=jsonl, device=True),
        beds=tuple(
            BedConfig(name=name, port=port, analysis=AnalysisSettings(bed=name, **(analysis or {})))
            for name, port in beds
        ),
    )


def build(doc: dict[str, Any], path: Path | None) -> RuntimeConfig:
    """The dataclasses from a validated document (every key present, defaults filled)."""
    alarms = dict(doc["alarms"])
    alarms["escalate_after_s"] = {
        Priority[name.upper()]: seconds for name, seconds in alarms["escalate_after_s"].items()
    }
    return RuntimeConfig(
        path=path,
        runtime=RuntimeSettings(**doc["runtime"]),
        journal=JournalConfig(**doc["journal"]),
        alarms=AlarmPolicy(**alarms),
        sinks=SinksConfig(**doc["sinks"]),
        beds=tuple(_bed(bed) for bed in doc["bed"]),
    )


def _bed(bed: dict[str, Any]) -> BedConfig:
    analysis = AnalysisSettings(
        bed=bed["name"],
        limits={name: Limit(**values) for name, values in bed["limits"].items()},
        arrhythmia=ArrhythmiaSettings(**bed["arrhythmia"]),
        respiration=RespirationSettings(**bed["respiration"]),
        news2=News2Settings(**bed["news2"]),
        models=ModelSettings(**bed["models"]),
        custom_detectors=tuple(CustomDetectorSettings(**d) for d in bed["detector"]),
        desat_spo2=bed["desat_spo2"],
        fusion=bed["fusion"],
    )
    return BedConfig(
        name=bed["name"], port=bed["port"], baudrate=bed["baudrate"], analysis=analysis
    )


# -- the generic walk over the schema --------------------------------------------------------


def read_table(
    table: Table, raw: Any, at: str, ctx: Context, base: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Validate one table; absent keys take `base`'s value, else the schema default."""
    if not isinstance(raw, dict):
        header = "[" + re.sub(r"\[\d+\]", "", at) + "]" if at else "a table"
        raise _error(ctx, at, f"expected a table ({header}), got {show(raw)}")
    _refuse_unknown(raw, [item.name for item in table.items], at, ctx)
    if table.inherit:
        base = ctx.doc[table.inherit]
    out: dict[str, Any] = {}
    for item in table.items:
        key_at = _join(at, item.name)
        inherited = base.get(item.name) if base is not None else None
        if isinstance(item, Option):
            if item.name in raw:
                out[item.name] = _parse(item, raw[item.name], key_at, ctx)
            elif base is not None and item.name in base:
                out[item.name] = base[item.name]
            elif item.default is REQUIRED:
                raise _error(ctx, at, f'missing key "{item.name}": {item.help}')
            else:
                out[item.name] = item.default_value(ctx)
        elif isinstance(item, Table):
            out[item.name] = read_table(item, raw.get(item.name, {}), key_at, ctx, inherited)
        elif isinstance(item, KindMap):
            out[item.name] = _read_kind_map(item, raw.get(item.name, {}), key_at, ctx)
        else:
            out[item.name] = _read_array(item, raw.get(item.name, []), key_at, ctx)
        if not at:
            ctx.doc[item.name] = out[item.name]
    if table.check is not None:
        try:
            table.check(out, at)
        except Invalid as exc:
            raise _error(ctx, exc.at or at, exc.message) from None
    return out


def _read_kind_map(spec: KindMap, raw: Any, at: str, ctx: Context) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise _error(ctx, at, f"expected a table ([{at}]), got {show(raw)}")
    out: dict[str, Any] = {}
    for kind, value in raw.items():
        if kind not in ctx.kinds:
            hint = _suggest(kind, ctx.kinds) or " (see `vigil config example` for the kinds)"
            raise _error(ctx, "", f'unknown condition kind "{kind}" in {at}{hint}')
        key_at = _join(at, kind)
        out[kind] = _parse(spec.value, value, key_at, ctx)
        if spec.check is not None:
            try:
                spec.check(kind, out[kind])
            except Invalid as exc:
                raise _error(ctx, exc.at or key_at, exc.message) from None
    return out


def _read_array(spec: TableArray, raw: Any, at: str, ctx: Context) -> list[dict[str, Any]]:
    if isinstance(raw, dict):
        raise _error(ctx, at, f"expected [[{at}]] (an array of tables), got [{at}]")
    if not isinstance(raw, list):
        raise _error(ctx, at, f"expected [[{at}]] (an array of tables), got {show(raw)}")
    if len(raw) < spec.min_items:
        raise _error(ctx, "", spec.missing or f"at least {spec.min_items} [[{at}]] needed")
    out = [read_table(spec.table, item, f"{at}[{i}]", ctx) for i, item in enumerate(raw)]
    if spec.check is not None:
        try:
            spec.check(out, at)
        except Invalid as exc:
            raise _error(ctx, exc.at or at, exc.message) from None
    return out


def _parse(option: Option, raw: Any, at: str, ctx: Context) -> Any:
    try:
        return option.parse(raw, ctx)
    except Invalid as exc:
        raise _error(ctx, exc.at or at, exc.message) from None


def _refuse_unknown(raw: dict[str, Any], known: list[str], at: str, ctx: Context) -> None:
    for key in raw:
        if key not in known:
            where = f"in {at}" if at else "at the top level"
            hint = _suggest(key, known) or f" (known: {', '.join(known)})"
            raise _error(ctx, "", f'unknown key "{key}" {where}{hint}')


def _suggest(key: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


def _error(ctx: Context, at: str, message: str) -> ConfigError:
    return ConfigError(f"{ctx.source}: {at}: {message}" if at else f"{ctx.source}: {message}")


def _join(at: str, name: str) -> str:
    return f"{at}.{name}" if at else name


def _detector_names(data: dict[str, Any]) -> frozenset[str]:
    """Names of [[bed.detector]] entries (their kinds may appear in [alarms]); validated
    with their beds."""
    names: set[str] = set()
    beds = data.get("bed")
    for bed in beds if isinstance(beds, list) else ():
        detectors = bed.get("detector") if isinstance(bed, dict) else None
        for detector in detectors if isinstance(detectors, list) else ():
            if isinstance(detector, dict) and isinstance(detector.get("name"), str):
                names.add(detector["name"])
    return frozenset(names)
