"""The ``transferbench`` command: Lightning subcommands plus data, models and configs helpers.

Thin on purpose (like nnU-Net's ``run/``): every command calls into the package.
"""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path

LIGHTNING_COMMANDS = ("fit", "validate", "test", "predict")

USAGE = """usage: transferbench COMMAND ...

Training (LightningCLI; --print_config, dotted overrides such as --trainer.max_epochs 5):
  fit|validate|test|predict --config FILE   FILE may be a path or a packaged config name (see `configs`)

Data and registries:
  data prepare synthetic --out DIR          generate the synthetic multi-domain CT benchmark
  data preview --root DIR --out PNG         one slice per domain with the lesion outlined
  data sources                              registered dataset sources
  models                                    registered networks
  strategies                                registered transfer strategies
  configs                                   packaged example configs
"""


def packaged_configs() -> dict[str, Path]:
    folder = resources.files("transferbench.configs")
    return {Path(str(p)).stem: Path(str(p)) for p in folder.iterdir() if str(p).endswith(".yaml")}


def _resolve_config_names(args: list[str]) -> list[str]:
    """Let ``--config synthetic_unet3d`` name a packaged config when no such file exists."""
    out = list(args)
    configs = packaged_configs()
    for i, a in enumerate(out[:-1]):
        if a in ("--config", "-c") and not Path(out[i + 1]).exists() and out[i + 1] in configs:
            out[i + 1] = str(configs[out[i + 1]])
    return out


def _data_main(argv: list[str]) -> int:
    from transferbench.data import DataError

    parser = argparse.ArgumentParser(prog="transferbench data")
    sub = parser.add_subparsers(dest="command", required=True)
    prep = sub.add_parser("prepare", help="build a dataset on disk")
    prep.add_argument("name", choices=["synthetic"])
    prep.add_argument("--out", required=True, help="output folder")
    prep.add_argument("--seed", type=int, default=0)
    prep.add_argument("--n-source-cases", type=int, default=16, help="cases per non-COVID source")
    prep.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    prev = sub.add_parser("preview", help="PNG with one slice per synthetic domain, lesion outlined")
    prev.add_argument("--root", required=True)
    prev.add_argument("--out", required=True)
    sub.add_parser("sources", help="list registered dataset sources")
    args = parser.parse_args(argv)
    try:
        if args.command == "prepare":
            from transferbench.data.synthetic import prepare_synthetic

            prepare_synthetic(
                args.out, seed=args.seed, n_source_cases=args.n_source_cases, workers=args.workers
            )
        elif args.command == "preview":
            from transferbench.data.preview import render_preview

            print(f"wrote {render_preview(args.root, args.out)}")
        else:
            from transferbench.data.sources import _SOURCES

            for name, cls in sorted(_SOURCES.items()):
                print(f"{name:24s} {cls.description}")
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    command, rest = argv[0], argv[1:]
    if command in LIGHTNING_COMMANDS:
        from transferbench.cli.lightning import run_lightning
        from transferbench.data import DataError
        from transferbench.strategies import StrategyError

        try:
            run_lightning([command, *_resolve_config_names(rest)])
        except (DataError, StrategyError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        return 0
    if command == "data":
        return _data_main(rest)
    if command == "models":
        from transferbench.models.registry import model_descriptions

        for name, desc in model_descriptions().items():
            print(f"{name:16s} {desc}")
        return 0
    if command == "strategies":
        from transferbench.strategies import strategy_descriptions

        for name, desc in strategy_descriptions().items():
            print(f"{name:14s} {desc}")
        return 0
    if command == "configs":
        for name, path in sorted(packaged_configs().items()):
            print(f"{name:28s} {path}")
        return 0
    print(f"error: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
