"""The export room's subcommands: `vigil export` and `vigil train`.

Arguments are checked before torch is imported, so a usage mistake is reported at once and
`vigil export --help` works on an install without the `[export]` extra.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from vigil.errors import ConfigError

EXAMPLES = """\
examples:
  vigil export ecg_beat --out artifacts/ecg_beat --int8
  vigil export --all --out artifacts
  vigil export --module mypkg.nets:build --weights net.safetensors \\
      --input ecg:1x1x640 --meta net.json --out artifacts/mynet
  vigil train us_segmenter --seed 1 --out us_segmenter.safetensors

The first dimension of --input is the batch axis, exported dynamic. INT8 for a reference
model is measured on held-out data and refused if it loses more than 1 point of the main
metric (--force writes it anyway); for your own module --int8 needs --calibration FILE.npz.
"""

BYO_ONLY = ("weights", "input", "output", "meta", "name", "calibration")


def _input_spec(text: str) -> tuple[str, tuple[int, ...]]:
    """`NAME:1x1x256` -> `("NAME", (1, 1, 256))`."""
    name, sep, shape = text.rpartition(":")
    try:
        dims = tuple(int(d) for d in shape.lower().split("x"))
    except ValueError:
        dims = ()
    if not sep or not name or not dims or any(d < 1 for d in dims):
        raise argparse.ArgumentTypeError(
            f"expected NAME:DIMxDIM..., e.g. ecg:1x1x640, got {text!r}"
        )
    return name, dims


def register(sub: argparse._SubParsersAction) -> None:
    exp = sub.add_parser(
        "export",
        help="export a model to a verified ONNX artifact (needs the [export] extra)",
        description="Export a reference model, every reference model (--all), or your own "
        "nn.Module (--module) to an artifact directory: ONNX checked for parity with "
        "PyTorch, optional INT8 variants judged by their metric, optional TensorRT engines, "
        "and manifest.json with every file's sha256.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    exp.add_argument("model", nargs="?", metavar="MODEL", help="reference model name")
    exp.add_argument("--all", action="store_true", help="every reference model, one subdir each")
    exp.add_argument("--out", type=Path, required=True, metavar="DIR", help="artifact directory")
    exp.add_argument("--int8", action="store_true", help="also write INT8 variants")
    exp.add_argument(
        "--trt", action="store_true", help="also build TensorRT engines (on the target)"
    )
    exp.add_argument("--force", action="store_true", help="write INT8 even if it loses > 1 point")
    exp.add_argument("--seed", type=int, default=0, help="seed for parity and calibration inputs")
    exp.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    byo = exp.add_argument_group("your own model (--module)")
    byo.add_argument(
        "--module", metavar="PKG.MODULE:BUILD_FN", help="callable returning the nn.Module"
    )
    byo.add_argument(
        "--weights", type=Path, metavar="FILE", help=".safetensors or .pt/.pth state dict"
    )
    byo.add_argument(
        "--input",
        action="append",
        type=_input_spec,
        metavar="NAME:1x1x256",
        help="an input and its shape (repeat for several; axis 0 is the batch)",
    )
    byo.add_argument("--output", action="append", metavar="NAME", help="output names, in order")
    byo.add_argument(
        "--meta",
        type=Path,
        metavar="FILE.json",
        help="labels, units, normalisation, sample rate... for the manifest",
    )
    byo.add_argument("--name", help="artifact name (default: the module's name)")
    byo.add_argument(
        "--calibration",
        type=Path,
        metavar="FILE.npz",
        help="INT8 calibration samples keyed by input name",
    )
    exp.set_defaults(handler=_export, export_parser=exp)

    train = sub.add_parser(
        "train",
        help="retrain a reference model's weights (needs the [export] extra)",
        description="Train a reference model from the shared synthesizer, with a seed, and "
        "write its weights (safetensors); prints the held-out metrics as JSON.",
    )
    train.add_argument("model", metavar="MODEL", help="reference model name")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help="weights file to write (default: ./MODEL.safetensors)",
    )
    train.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    train.set_defaults(handler=_train)


def _export(args: argparse.Namespace) -> int:
    parser: argparse.ArgumentParser = args.export_parser
    chosen = [bool(args.model), args.all, bool(args.module)]
    if sum(chosen) != 1:
        parser.error("give exactly one of MODEL, --all or --module")
    if not args.module:
        given = [f"--{k}" for k in BYO_ONLY if getattr(args, k)]
        if given:
            parser.error(f"{', '.join(given)} only apply with --module")
        return _export_reference(args)
    if not args.weights or not args.input:
        parser.error("--module needs --weights FILE and at least one --input NAME:SHAPE")
    meta = _read_meta(args.meta) if args.meta else {}
    if args.int8 and not args.calibration and meta.get("int8", "static") == "static":
        raise ConfigError(
            "--int8 for your own module needs --calibration FILE.npz (representative inputs "
            "keyed by input name): static INT8 ranges come from real data, never guesses"
        )
    from vigil.export.errors import require_export_extra
    from vigil.export.pipeline import export_module, resolve_callable

    require_export_extra("vigil export")
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())  # as `python -m` would: find the user's package here
    artifact = export_module(
        resolve_callable(args.module),
        args.weights,
        args.input,
        args.out,
        meta,
        name=args.name,
        output_names=args.output,
        calibration=args.calibration,
        int8=args.int8,
        trt=args.trt,
        force=args.force,
        progress=not args.quiet,
        seed=args.seed,
    )
    print(artifact.directory)
    return 0


def _export_reference(args: argparse.Namespace) -> int:
    from vigil.export.errors import require_export_extra

    require_export_extra("vigil export")
    from vigil.errors import VigilError
    from vigil.export.pipeline import export_reference

    models = _reference_models()

    def export_one(model: Any, out: Path) -> None:
        artifact = export_reference(
            model,
            out,
            int8=args.int8,
            trt=args.trt,
            force=args.force,
            progress=not args.quiet,
            seed=args.seed,
        )
        print(artifact.directory)

    if not args.all:
        export_one(_pick(models, args.model), args.out)
        return 0
    failed = []
    for name, model in models.items():
        try:
            export_one(model, args.out / name)
        except VigilError as exc:  # report it and go on: one bad model must not stop the rest
            print(f"vigil: error: {exc}", file=sys.stderr)
            failed.append(name)
    if failed:
        print(
            f"vigil: {len(failed)} of {len(models)} exports failed: {', '.join(failed)}",
            file=sys.stderr,
        )
        return 1
    return 0


def _train(args: argparse.Namespace) -> int:
    from vigil.export.errors import require_export_extra

    require_export_extra("vigil train")
    model = _pick(_reference_models(), args.model)
    out = args.out or Path(f"{model.name}.safetensors")
    metrics = model.train(out, args.seed, progress=not args.quiet)
    print(json.dumps({"weights": str(out), "seed": args.seed, "metrics": metrics}, indent=2))
    return 0


def _reference_models() -> dict[str, Any]:
    from vigil.models.reference import reference_models

    models = reference_models()
    if not models:
        raise ConfigError("no reference models are installed in this Vigil")
    return models


def _pick(models: dict[str, Any], name: str) -> Any:
    if name not in models:
        raise ConfigError(f"unknown reference model {name!r}; known: {', '.join(sorted(models))}")
    return models[name]


def _read_meta(path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"--meta {path}: cannot read it as JSON: {exc}") from exc
    if not isinstance(meta, dict):
        raise ConfigError(f"--meta {path}: expected a JSON object")
    return meta
