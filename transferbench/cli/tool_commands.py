"""`transferbench evaluate | export | ceiling | agreement | predict -i -o`: the bridges to other tools, the
checks of a geometry and of a rerun, each a subcommand of the tree in ``main`` (which reports a
``TransferbenchError``, exit 1)."""

from __future__ import annotations

import argparse
import sys

from transferbench.cli.help import HelpFormatter
from transferbench.errors import TransferbenchError


def add_evaluate(sub) -> None:
    parser = sub.add_parser(
        "evaluate",
        help="score a folder of NIfTI predictions against references",
        description="score a folder of NIfTI predictions against references",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--pred", required=True, help="folder of predicted masks (<case>.nii.gz)")
    parser.add_argument("--ref", required=True, help="folder of reference masks (<case>.nii.gz)")
    parser.add_argument(
        "--tolerance-mm", type=float, default=3.0, help="NSD tolerance in mm (3 for infection and lesions)"
    )
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
    parser.set_defaults(handler=evaluate_run, parser=parser)


def evaluate_run(args: argparse.Namespace) -> int:
    parser = args.parser  # for parser.error
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
    cases = covid_fold(args.fold, args.fold_scheme)["test"] if args.fold is not None else None
    cases = [c.strip() for c in args.cases.split(",") if c.strip()] if args.cases else cases
    result = evaluate_folder(
        args.pred, args.ref, args.tolerance_mm, args.out, args.threshold, mapping, cases, args.fold
    )
    df = result.scores
    if args.out is None:
        print(df.to_csv(index=False), end="")
    metrics = [c for c in df.columns if c == "dsc" or c.startswith("nsd_") or c == "hd95_mm"]
    print(
        f"{df['case'].nunique()} cases scored: " + ", ".join(f"{c} {df[c].mean():.3f}" for c in metrics),
        file=sys.stderr,
    )
    for problem in result.problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if result.problems else 0  # a finding, as `data check`


def predict_folder_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        formatter_class=HelpFormatter,
        prog="transferbench predict",
        description="A trained run's masks for a folder of volumes (nnU-Net style).",
    )
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

    written = predict_folder(args.input, args.output, args.run, args.checkpoint, args.device)
    print(f"wrote {len(written)} mask(s) to {args.output}")
    return 0


def add_export(sub) -> None:
    parser = sub.add_parser(
        "export",
        help="an nnU-Net v2 raw dataset + splits_final.json of the benchmark folds",
        description="an nnU-Net v2 raw dataset + splits_final.json of the benchmark folds",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("format", choices=["nnunet"], help="the target format")
    parser.add_argument("--dataset", default="covid19_ct_seg", help="registered source (`data sources`)")
    parser.add_argument("--root", required=True, help="data root holding the dataset folder")
    parser.add_argument("--out", required=True, help="where Dataset<id>_<name>/ is written (nnUNet_raw)")
    parser.add_argument("--dataset-id", type=int, default=501, help="nnU-Net dataset id (DatasetNNN_<name>)")
    parser.add_argument(
        "--fold-scheme", default="folds_4_train", help="the benchmark split (folds_4_train or folds_16_train)"
    )
    parser.add_argument("--label-mode", default="infection", help="COVID-19-CT-Seg: infection, lungs, ...")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing dataset folder")
    parser.add_argument(
        "--keep-storage",
        action="store_true",
        help="copy 0..255 images as stored (default: written back in HU for nnU-Net's CT normalisation)",
    )
    parser.set_defaults(handler=export_run, parser=parser)


def export_run(args: argparse.Namespace) -> int:
    from transferbench.data.export import export_nnunet

    path, converted = export_nnunet(args.dataset, args.root, args.out, args.dataset_id, args.fold_scheme,
                                    args.label_mode, args.overwrite, args.keep_storage)  # fmt: skip
    n = len(list((path / "imagesTr").iterdir()))
    hu = f" ({converted} stored 0..255 written back in HU)" if converted else ""
    print(
        f"wrote {path}: {n} cases{hu}, dataset.json, splits_final.json (copy into nnUNet_preprocessed/{path.name}/)"
    )
    return 0


def add_agreement(sub) -> None:
    parser = sub.add_parser(
        "agreement",
        help="two sweeps' twin runs side by side: flag agreement (kappa) and the test-DSC noise of a rerun",
        description="The target runs both results folders hold under the same model, strategy, source, "
        "n_train, fold, seed and steps (a rerun on another machine, layout or version): how often each "
        "folder flags them unconverged / collapsed and Cohen's kappa of the flags, and the sd of the "
        "twins' test-DSC differences beside the between-seed sd of the same rows.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("results_a", help="a sweep's results folder (runs.csv, per_case.csv)")
    parser.add_argument("results_b", help="another one")
    parser.add_argument("--out", default=None, help="CSV of the twins (keys, both runs, DSCs, flags)")
    parser.set_defaults(handler=agreement_run, parser=parser)


def agreement_run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from transferbench.evaluation.agreement import format_report, twin_runs
    from transferbench.files import atomic_write_text
    from transferbench.sweep.aggregate import PER_CASE_NEEDS, RUNS_NEEDS, read_table

    tables = []
    for folder in (Path(args.results_a), Path(args.results_b)):
        runs = read_table(folder / "runs.csv", [*RUNS_NEEDS, "converged", "collapsed"])
        tables += [runs, read_table(folder / "per_case.csv", PER_CASE_NEEDS)]
    twins = twin_runs(*tables)
    if twins.empty:
        raise TransferbenchError(
            f"{args.results_a} and {args.results_b}: no target run in both (same model, strategy, source, "
            "n_train, fold, seed and steps); nothing to compare"
        )
    print(format_report(twins, args.results_a, args.results_b))
    if args.out:
        atomic_write_text(Path(args.out), twins.to_csv(index=False))
        print(f"wrote {args.out} ({len(twins)} twins)")
    return 0


def add_ceiling(sub) -> None:
    parser = sub.add_parser(
        "ceiling",
        help="DSC of the ground truth through a config's geometry: the most any network could score",
        description="DSC of the ground truth through a config's geometry: the most any network could score",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--config", required=True, help="fit config (path or packaged name)")
    parser.add_argument("--root", default=None, help="data root (default: the config's data.root)")
    parser.add_argument("--split", choices=["train", "test"], default="test")
    parser.set_defaults(handler=ceiling_run, parser=parser)


def ceiling_run(args: argparse.Namespace) -> int:
    from transferbench.config import read_yaml
    from transferbench.configs import find_config
    from transferbench.evaluation.ceiling import config_ceiling

    path = find_config(args.config)
    if path is None:
        raise TransferbenchError(f"no config {args.config!r} (a file, or one of `transferbench configs`)")
    cfg = read_yaml(path)
    if args.root:
        cfg["data"] = {**cfg.get("data", {}), "root": args.root}
    df = config_ceiling(cfg, args.split)
    print(df.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(
        f"{len(df)} {args.split} cases: ceiling DSC mean {df['dsc_ceiling'].mean():.3f}, "
        f"min {df['dsc_ceiling'].min():.3f}"
    )
    return 0
