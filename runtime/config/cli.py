"""`vigil config check FILE` and `vigil config example`.

Only argparse is imported here; the handlers import the schema when they run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vigil.runtime.config.schema import RuntimeConfig

EXIT_OK = 0
EXIT_USAGE = 2  # vigil.cli's code for a wrong configuration or command line


def register(sub: argparse._SubParsersAction) -> None:
    config = sub.add_parser(
        "config",
        help="check a configuration file, or print a commented example",
        description="The runtime reads vigil.toml (`vigil run --config FILE`). `check` "
        "validates a file as the runtime would at start, without opening any port; "
        "`example` prints every option with its default and help.",
    )
    config.set_defaults(handler=lambda args: _usage(config))
    actions = config.add_subparsers(dest="config_command", metavar="ACTION")
    check = actions.add_parser(
        "check",
        help="validate FILE: exit 0 with a summary, or 2 with the error",
        description="Validate FILE against the schema (types, ranges, unknown keys, "
        "duplicate beds and ports, model artifacts present) and summarise it.",
    )
    check.add_argument("file", type=Path, metavar="FILE", help="the configuration file")
    check.set_defaults(handler=_check)
    example = actions.add_parser(
        "example",
        help="print a commented vigil.toml with every option and its default",
        description="Print a commented example configuration: every option at its default.",
    )
    example.set_defaults(handler=_example)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_USAGE


def _check(args: argparse.Namespace) -> int:
    from vigil.errors import ConfigError
    from vigil.runtime.config.load import load_config

    try:
        config = load_config(args.file)
    except ConfigError as exc:
        print(f"vigil: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(summary(config, args.file))
    return EXIT_OK


def _example(args: argparse.Namespace) -> int:
    from vigil.runtime.config.example import example_config

    sys.stdout.write(example_config())
    return EXIT_OK


def summary(config: RuntimeConfig, shown_as: Path | str | None = None) -> str:
    """One paragraph: beds and ports, journal, sinks, models, control socket."""
    name = shown_as if shown_as is not None else (config.path or "the configuration")
    beds = "; ".join(
        f"{b.name} on {b.port} at {b.baudrate} baud"
        + (
            f" with {len(b.analysis.custom_detectors)} detector(s)"
            if b.analysis.custom_detectors
            else ""
        )
        for b in config.beds
    )
    models = config.beds[0].analysis.models
    if any(b.analysis.models != models for b in config.beds):
        models_text = "models configured per bed"
    elif models.enabled:
        models_text = f"models on ({' > '.join(models.backends)}, {models.precision})"
    else:
        models_text = "models off (rule-based analysis only)"
    sinks = [f"JSON Lines to {config.sinks.jsonl}"] if config.sinks.jsonl else []
    sinks.append(
        "ALARM messages to the monitors"
        if config.sinks.device
        else "no ALARM messages to the monitors"
    )
    return (
        f"{name} is valid: {len(config.beds)} bed{'s' if len(config.beds) != 1 else ''} "
        f"({beds}); journal {config.journal.path} (numerics kept "
        f"{config.journal.numerics_retention_days:g} days); alarms: {', '.join(sinks)}; "
        f"{models_text}; control socket {config.runtime.control_socket}."
    )
