"""The ``transferbench`` command: Lightning subcommands plus data, models and configs helpers.

Thin on purpose (like nnU-Net's ``run/``): every command calls into the package.
"""

from __future__ import annotations

import argparse
import sys

from transferbench.configs import packaged_configs
from transferbench.errors import TransferbenchError

LIGHTNING_COMMANDS = ("fit", "validate", "test", "predict")

USAGE = """usage: transferbench COMMAND ...   (or python -m transferbench; transferbench --version)

Training (LightningCLI; --print_config, dotted overrides such as --trainer.max_epochs 5):
  fit|validate|test|predict --config FILE   FILE may be a path or a packaged config name (see `configs`)
  predict -i DIR -o DIR --run RUN_DIR       masks for a folder of volumes with a trained run (nnU-Net style)

Sweeps and results:
  sweep --config SWEEP [--launcher local|submitit] [--jobs N] [--cluster local|debug|slurm] [--dry-run]
                                            plan, run (resumable) and aggregate a sweep (`synthetic` = default)
  leaderboard RESULTS_DIR [--external "LABEL=CSV"]
                                            rebuild tables and figures from stored runs (+ an outside
                                            method's per-case CSV from `evaluate` as a row with statistics)
  ceiling --config FILE [--root DIR] [--split test]
                                            DSC of the ground truth through a config's geometry (spacing,
                                            slice size, head stride): the most any network could score
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
"""


LIGHTNING_HELP = """usage: transferbench {command} --config FILE [--section.key VALUE ...]

FILE: a YAML config or a packaged name (`transferbench configs`); any key can be overridden with a dotted
flag, e.g. --trainer.max_epochs 5. --print_config prints the resolved config and stops.

Most used:
  --data.root DIR                 data root (the synthetic benchmark is generated there on first use)
  --data.dataset NAME             a registered source (`transferbench data sources`); COVID-19 by default
  --data.fold K                   benchmark fold 0-4;   --data.train_cases N   label budget (nested subsets)
  --data.patch_size [X, Y, Z]     3D patch (two values: 2D slices);   --data.pipeline default|nnunet
  --data.target_spacing [X, Y, Z] mm; null: nnU-Net's rule on the training cases' fingerprint
  --model.net.class_path NAME     unet3d | ncovsegnet | a SegmentationNet import path (`transferbench models`)
  --model.net.init_args.preset P  UNet3D: benchmark | cpu_small | tiny
  --model.optimizer sgd|adam|adamw  --model.lr LR  --model.lr_schedule poly|cosine|constant|adjust_lr
  --model.test_mirror_axes [0, 1, 2]   test-time mirroring (nnU-Net)
  --strategy.name NAME            transfer strategy (`transferbench strategies`), with --strategy.sources,
                                  --strategy.pretrained PATH, --strategy.key_map {{old.: new.}}
  --trainer.max_epochs N  --trainer.accelerator cpu|gpu  --trainer.devices N  --trainer.precision bf16-mixed
  --trainer.default_root_dir DIR  the run folder (config, checkpoints, logs, per-case results)
  --ckpt_path PATH                resume a fit (or test / predict these weights)
  --overwrite true                fit: replace a previous run in the run folder
  --save_predictions true         also write test predictions as NIfTI

Every option with its type and default: transferbench {command} --help-full
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
        cfg = read_yaml(path)
        resolved = resolve_model_names(cfg)
        if resolved != cfg:  # jsonargparse takes the config's text in place of its path
            out[i + 1] = yaml.safe_dump(resolved, sort_keys=False)
    return out


def _data_parser() -> argparse.ArgumentParser:
    from transferbench.data.sources import list_sources

    parser = argparse.ArgumentParser(prog="transferbench data")
    sub = parser.add_subparsers(dest="command", required=True)
    prep = sub.add_parser("prepare", help="build a dataset on disk")
    prep.add_argument("name", choices=["synthetic", "lidc_idri"])
    prep.add_argument("--out", required=True, help="output folder")
    prep.add_argument("--seed", type=int, default=0, help="synthetic: generator seed")
    prep.add_argument("--n-source-cases", type=int, default=16, help="synthetic: cases per non-COVID source")
    prep.add_argument("--workers", type=int, default=None, help="synthetic: processes (default: all cores)")
    prep.add_argument("--dicom", default=None, help="lidc_idri: the TCIA DICOM download (LIDC-IDRI-XXXX/...)")
    prep.add_argument("--consensus", type=float, default=0.5, help="lidc_idri: consensus level (0, 1]")
    prep.add_argument("--patients", nargs="*", default=None, help="lidc_idri: only these LIDC-IDRI-XXXX")
    prev = sub.add_parser("preview", help="PNG with one slice per synthetic domain, lesion outlined")
    prev.add_argument("--root", required=True)
    prev.add_argument("--out", required=True)
    sim = sub.add_parser("similarity", help="lesion similarity of every source to the COVID-19 target")
    sim.add_argument("--root", required=True, help="data root holding the target and source datasets")
    sim.add_argument("--out", default=None, help="CSV path (default: ROOT/similarity.csv)")
    src = sub.add_parser("sources", help="list registered dataset sources")
    src.add_argument("-v", "--verbose", action="store_true", help="also the on-disk variants each accepts")
    for name, help_ in (
        ("check", "report every problem of a dataset on disk"),
        ("fingerprint", "dataset fingerprint"),
    ):
        cmd = sub.add_parser(name, help=help_)
        cmd.add_argument("name", choices=list_sources())
        cmd.add_argument("--root", required=True, help="data root (holding the dataset folder) or the folder")
        cmd.add_argument(
            "--label-mode", default="infection", help="covid19_ct_seg: infection|lungs|lungs_infection"
        )
        if name == "check":
            cmd.add_argument("--quick", action="store_true", help="headers only (what a sweep checks)")
        else:
            cmd.add_argument("--cache-dir", default=None, help="where fingerprints are stored")
    return parser


def _data_main(argv: list[str]) -> int:
    from transferbench.data.sources import SOURCES

    parser = _data_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "prepare" and args.name == "synthetic":
            from transferbench.data.synthetic import prepare_synthetic

            prepare_synthetic(
                args.out, seed=args.seed, n_source_cases=args.n_source_cases, workers=args.workers
            )
        elif args.command == "prepare":
            from transferbench.data.lidc import prepare_lidc

            if not args.dicom:
                parser.error("data prepare lidc_idri needs --dicom DIR (the TCIA LIDC-IDRI download)")
            report = prepare_lidc(args.dicom, args.out, clevel=args.consensus, patients=args.patients)
            print(
                f"{len(report.written)} case(s) written, {len(report.skipped)} already there, in {args.out}"
            )
            for path, msg in report.problems:
                print(f"problem: {path}: {msg}", file=sys.stderr)
            return 1 if report.problems else 0
        elif args.command == "preview":
            from transferbench.data.preview import render_preview

            print(f"wrote {render_preview(args.root, args.out)}")
        elif args.command == "check":
            from transferbench.data.check import check_dataset

            report = check_dataset(args.name, args.root, args.label_mode, deep=not args.quick)
            print(report.format())
            return 0 if report.ok else 1
        elif args.command == "fingerprint":
            _data_fingerprint(args)
        elif args.command == "similarity":
            from transferbench.data.similarity import write_similarity

            table, path = write_similarity(args.root, args.out)
            print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
            print(f"wrote {path}")
        else:
            for name, cls in SOURCES.items():
                print(f"{name:24s} {cls.description}")
                if args.verbose:
                    print("\n".join(f"{'':24s}   - {line}" for line in cls.accepted))
    except TransferbenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def _data_fingerprint(args) -> None:
    import json

    from transferbench.data.cache import default_cache_dir
    from transferbench.data.fingerprint import dataset_fingerprint
    from transferbench.data.sources import create_source

    source = create_source(
        args.name, **({"label_mode": args.label_mode} if args.name == "covid19_ct_seg" else {})
    )
    cases = source.find_cases(args.root)
    print(
        json.dumps(
            dataset_fingerprint(args.name, cases, args.cache_dir or default_cache_dir(args.root)), indent=1
        )
    )


def _sweep_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="transferbench sweep")
    parser.add_argument("--config", default="synthetic", help="sweep YAML, or a packaged sweep name")
    parser.add_argument("--launcher", choices=["local", "submitit"], default=None)
    parser.add_argument("--jobs", type=int, default=None, help="local launcher: concurrent runs")
    parser.add_argument(
        "--cluster", default=None, help="submitit: slurm (default when available), local, debug"
    )
    parser.add_argument("--dry-run", action="store_true", help="print the plan and stop")
    args = parser.parse_args(argv)
    from transferbench.sweep.run import run_sweep

    try:
        failed = run_sweep(args.config, args.launcher, args.jobs, args.cluster, args.dry_run)
    except TransferbenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 1 if failed else 0


def _leaderboard_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="transferbench leaderboard")
    parser.add_argument("results_dir")
    parser.add_argument("--no-figures", action="store_true")
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
    args = parser.parse_args(argv)
    from transferbench.sweep.aggregate import aggregate
    from transferbench.sweep.external import add_external
    from transferbench.sweep.store import ResultsStore

    try:
        for item in args.external:
            label, sep, csv = item.rpartition("=")
            if not sep or not label.strip():
                parser.error(f"--external {item!r}: give LABEL=CSV, e.g. 'nnU-Net (external)=per_case.csv'")
            info = ResultsStore(args.results_dir).read_plan()
            entry = add_external(args.results_dir, label.strip(), csv, info, args.external_model,
                                 args.external_budget, args.external_fold)  # fmt: skip
            print(
                f"external row {entry['label']!r}: {entry['model']}, n_train {entry['n_train']}, fold {entry['fold']}"
            )
        board = aggregate(args.results_dir, figures=not args.no_figures)
    except (FileNotFoundError, TransferbenchError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(
        f"wrote {args.results_dir}/leaderboard.csv ({len(board)} rows), leaderboard.md, per_case.csv, figures/"
    )
    return 0


def _evaluate_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="transferbench evaluate")
    parser.add_argument("--pred", required=True, help="folder of predicted masks (<case>.nii.gz)")
    parser.add_argument("--ref", required=True, help="folder of reference masks (<case>.nii.gz)")
    parser.add_argument("--tolerance-mm", type=float, default=3.0)
    parser.add_argument("--out", default=None, help="CSV to write (default: print)")
    parser.add_argument(
        "--threshold", type=float, default=None, help="binarise probability maps at this value"
    )
    parser.add_argument("--label-map", default=None, help="relabel predictions, e.g. 255:1 or 1:1,2:1")
    pick = parser.add_mutually_exclusive_group()
    pick.add_argument("--fold", type=int, default=None, help="score only this benchmark fold's test cases")
    pick.add_argument("--cases", default=None, help="score only these cases (comma-separated ids)")
    parser.add_argument(
        "--fold-scheme", default="folds_4_train", help="with --fold: folds_4_train or folds_16_train"
    )
    args = parser.parse_args(argv)
    from transferbench.data.splits import covid_fold
    from transferbench.evaluation.evaluate import evaluate_folder

    try:
        mapping = (
            dict(tuple(int(v) for v in pair.split(":")) for pair in args.label_map.split(","))
            if args.label_map
            else None
        )
    except ValueError:
        parser.error(f"--label-map {args.label_map!r}: use FROM:TO pairs, e.g. 255:1")
    try:
        cases = covid_fold(args.fold, args.fold_scheme)["test"] if args.fold is not None else None
        cases = [c.strip() for c in args.cases.split(",") if c.strip()] if args.cases else cases
        result = evaluate_folder(
            args.pred, args.ref, args.tolerance_mm, args.out, args.threshold, mapping, cases, args.fold
        )
    except TransferbenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    df = result.scores
    if args.out is None:
        print(df.to_csv(index=False), end="")
    num = df.select_dtypes("number")
    print(
        f"{df['case'].nunique()} cases scored: "
        + ", ".join(f"{c} {num[c].mean():.3f}" for c in num.columns[1:4]),
        file=sys.stderr,
    )
    for problem in result.problems:
        print(f"error: {problem}", file=sys.stderr)
    return 2 if result.problems else 0


def _predict_folder_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="transferbench predict")
    parser.add_argument(
        "-i", "--input", required=True, help="folder of NIfTI volumes (case.nii.gz or case_0000.nii.gz)"
    )
    parser.add_argument("-o", "--output", required=True, help="folder for the masks (<case>.nii.gz)")
    parser.add_argument(
        "--run", required=True, help="a run folder of `transferbench fit` (config + checkpoints)"
    )
    parser.add_argument("--checkpoint", default=None, help="default: the run's checkpoints/last.ckpt")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    args = parser.parse_args(argv)
    from transferbench.training.predict_folder import predict_folder

    try:
        written = predict_folder(args.input, args.output, args.run, args.checkpoint, args.device)
    except TransferbenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {len(written)} mask(s) to {args.output}")
    return 0


def _export_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="transferbench export")
    parser.add_argument("format", choices=["nnunet"])
    parser.add_argument("--dataset", default="covid19_ct_seg", help="registered source (`data sources`)")
    parser.add_argument("--root", required=True, help="data root holding the dataset folder")
    parser.add_argument("--out", required=True, help="where Dataset<id>_<name>/ is written (nnUNet_raw)")
    parser.add_argument("--dataset-id", type=int, default=501)
    parser.add_argument("--fold-scheme", default="folds_4_train")
    parser.add_argument("--label-mode", default="infection", help="COVID-19-CT-Seg: infection, lungs, ...")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    from transferbench.data.export import export_nnunet

    try:
        path = export_nnunet(args.dataset, args.root, args.out, args.dataset_id, args.fold_scheme,
                             args.label_mode, args.overwrite)  # fmt: skip
    except TransferbenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    n = len(list((path / "imagesTr").iterdir()))
    print(
        f"wrote {path}: {n} cases, dataset.json, splits_final.json (copy it into nnUNet_preprocessed/{path.name}/)"
    )
    return 0


def _ceiling_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="transferbench ceiling")
    parser.add_argument("--config", required=True, help="fit config (path or packaged name)")
    parser.add_argument("--root", default=None, help="data root (default: the config's data.root)")
    parser.add_argument("--split", choices=["train", "test"], default="test")
    args = parser.parse_args(argv)
    from transferbench.config import read_yaml
    from transferbench.configs import find_config
    from transferbench.evaluation.ceiling import config_ceiling

    path = find_config(args.config)
    if path is None:
        print(
            f"error: no config {args.config!r} (a file, or one of `transferbench configs`)", file=sys.stderr
        )
        return 2
    cfg = read_yaml(path)
    if args.root:
        cfg["data"] = {**cfg.get("data", {}), "root": args.root}
    try:
        df = config_ceiling(cfg, args.split)
    except TransferbenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(df.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(
        f"{len(df)} {args.split} cases: ceiling DSC mean {df['dsc_ceiling'].mean():.3f}, "
        f"min {df['dsc_ceiling'].min():.3f}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    from transferbench.quiet import quiet_upstream

    quiet_upstream()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    command, rest = argv[0], argv[1:]
    if command in ("--version", "-V"):
        from transferbench import __version__

        print(f"transferbench {__version__}")
        return 0
    if command == "predict" and any(a in ("-i", "--input", "--run") for a in rest):
        return _predict_folder_main(rest)
    if command in LIGHTNING_COMMANDS:
        if any(a in ("-h", "--help") for a in rest):
            print(LIGHTNING_HELP.format(command=command))
            return 0
        rest = ["--help" if a == "--help-full" else a for a in rest]
        from transferbench.training.cli import run_lightning

        try:
            run_lightning([command, *_resolve_config_names(rest)])
        except TransferbenchError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        return 0
    if command == "data":
        return _data_main(rest)
    if command == "sweep":
        return _sweep_main(rest)
    if command == "leaderboard":
        return _leaderboard_main(rest)
    if command == "evaluate":
        return _evaluate_main(rest)
    if command == "ceiling":
        return _ceiling_main(rest)
    if command == "export":
        return _export_main(rest)
    if command == "models":
        from transferbench.models import MODELS

        for name, desc in MODELS.describe().items():
            print(f"{name:16s} {desc}")
        return 0
    if command == "strategies":
        from transferbench.strategies import STRATEGIES

        for name, desc in STRATEGIES.describe().items():
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
