"""`vigil config example`: a commented vigil.toml with every option at its default.

Printed from the schema, so it shows exactly what the loader accepts; a test parses it back
and compares with the defaults, so it cannot drift. Options without a default value (an
optional path, a per-bed override, a detector) are shown commented out.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from typing import Any

from vigil.runtime.config.schema import DOCUMENT, REQUIRED, KindMap, Option, Table, TableArray

WIDTH = 92

HEADER = """\
# vigil.toml: configuration of the Vigil runtime (`vigil run --config vigil.toml`).
#
# Written by `vigil config example`: every option, at its default. Delete what you do not
# change; keys the runtime does not know are errors, so a typo cannot go unnoticed. Lines
# commented out have no default value to show. Relative paths are relative to this file's
# folder. Check a file with `vigil config check FILE`.
#
# Not a certified medical device: for development and evaluation only."""


def example_config() -> str:
    """The example file's text."""
    lines = HEADER.splitlines()
    _table(DOCUMENT, "", {}, lines, commented=False, header=None)
    return "\n".join(lines) + "\n"


def _table(
    table: Table,
    path: str,
    given: Mapping[str, Any],
    out: list[str],
    *,
    commented: bool,
    header: str | None,
) -> None:
    options = [i for i in table.items if isinstance(i, Option)]
    if header is not None:
        out.append("")
        out.extend(_comment(table.help))
        if options or commented:
            out.append(("# " if commented else "") + header)
    for option in options:
        _option(option, given.get(option.name, REQUIRED), out, commented=commented)
    for item in table.items:
        if isinstance(item, Option):
            continue
        sub = f"{path}.{item.name}" if path else item.name
        if isinstance(item, Table):
            _table(
                item,
                sub,
                given.get(item.name, {}),
                out,
                commented=commented or item.commented,
                header=f"[{sub}]",
            )
        elif isinstance(item, KindMap):
            _kind_map(item, sub, out, commented=commented)
        else:
            _array(item, sub, out, commented=commented or item.commented)


def _option(option: Option, given: Any, out: list[str], *, commented: bool) -> None:
    value = option.default if given is REQUIRED else given
    text = option.toml(value) if option.factory is None else None
    if text is None:  # nothing to show as a default: show an example, commented out
        commented = True
        text = option.toml(option.example) if option.example is not None else '""'
    out.append("")
    out.extend(_comment(" ".join(filter(None, (option.help, option.describe())))))
    out.append(f"{'# ' if commented else ''}{option.name} = {text}")


def _kind_map(spec: KindMap, path: str, out: list[str], *, commented: bool) -> None:
    out.append("")
    out.extend(_comment(spec.help))
    out.append(f"{'# ' if commented else ''}[{path}]")
    for kind, value in spec.examples:
        out.append(f"# {kind} = {spec.value.toml(value)}")


def _array(spec: TableArray, path: str, out: list[str], *, commented: bool) -> None:
    for example in spec.examples:
        _table(spec.table, path, example, out, commented=commented, header=f"[[{path}]]")
    for example in spec.brief:
        out.append("")
        out.append(f"# [[{path}]]")
        out.extend(
            f"# {key} = {_brief_value(spec.table, key, value)}" for key, value in example.items()
        )


def _brief_value(table: Table, key: str, value: Any) -> str:
    option = next(i for i in table.items if isinstance(i, Option) and i.name == key)
    return option.toml(value) or '""'


def _comment(text: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent="# ", subsequent_indent="# ") if text else []
