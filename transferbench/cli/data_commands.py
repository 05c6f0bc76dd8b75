"""`transferbench data ...` (a subcommand of the tree in ``main``): prepare, check, fingerprint, preview,
similarity and list sources."""

from __future__ import annotations

import argparse
import sys

from transferbench.cli.help import HelpFormatter


def add_data(top) -> None:
    """`transferbench data ...` in the command tree."""
    from transferbench.data.sources import list_sources

    help_ = "datasets: prepare, check, fingerprint, preview, similarity, list sources"
    parser = top.add_parser("data", help=help_, description=help_, formatter_class=HelpFormatter)
    parser.set_defaults(handler=data_run, parser=parser)
    sub = parser.add_subparsers(dest="data_command", required=True, metavar="SUBCOMMAND")
    prep = sub.add_parser("prepare", help="build a dataset on disk", formatter_class=HelpFormatter)
    prep.add_argument("name", choices=["synthetic", "lidc_idri"], help="what to prepare")
    prep.add_argument("--out", required=True, help="output folder")
    prep.add_argument("--seed", type=int, default=0, help="synthetic: generator seed")
    prep.add_argument("--n-source-cases", type=int, default=16, help="synthetic: cases per non-COVID source")
    prep.add_argument("--workers", type=int, default=None, help="synthetic: processes (default: all cores)")
    prep.add_argument("--dicom", default=None, help="lidc_idri: the TCIA DICOM download (LIDC-IDRI-XXXX/...)")
    prep.add_argument("--consensus", type=float, default=0.5, help="lidc_idri: consensus level (0, 1]")
    prep.add_argument("--patients", nargs="*", default=None, help="lidc_idri: only these LIDC-IDRI-XXXX")
    prev = sub.add_parser(
        "preview",
        help="PNG with one slice per synthetic domain, lesion outlined",
        formatter_class=HelpFormatter,
    )
    prev.add_argument("--root", required=True, help="the synthetic benchmark's folder")
    prev.add_argument("--out", required=True, help="the PNG to write (a PDF beside it)")
    sim = sub.add_parser(
        "similarity",
        help="lesion similarity of every source to the COVID-19 target",
        formatter_class=HelpFormatter,
    )
    sim.add_argument("--root", required=True, help="data root holding the target and source datasets")
    sim.add_argument("--out", default=None, help="CSV path (default: ROOT/similarity.csv)")
    src = sub.add_parser("sources", help="list registered dataset sources", formatter_class=HelpFormatter)
    src.add_argument("-v", "--verbose", action="store_true", help="also the on-disk variants each accepts")
    for name, help_ in (
        ("check", "report every problem of a dataset on disk"),
        ("fingerprint", "dataset fingerprint"),
    ):
        cmd = sub.add_parser(name, help=help_, formatter_class=HelpFormatter)
        cmd.add_argument("name", choices=list_sources(), help="a registered source (`data sources`)")
        cmd.add_argument("--root", required=True, help="data root (holding the dataset folder) or the folder")
        cmd.add_argument(
            "--label-mode", default="infection", help="covid19_ct_seg: infection|lungs|lungs_infection"
        )
        if name == "check":
            cmd.add_argument("--quick", action="store_true", help="headers only (what a sweep checks)")
        else:
            cmd.add_argument("--cache-dir", default=None, help="where fingerprints are stored")


def data_run(args: argparse.Namespace) -> int:
    from transferbench.data.sources import SOURCES

    parser = args.parser  # for parser.error
    if args.data_command == "prepare" and args.name == "synthetic":
        from transferbench.data.synthetic import prepare_synthetic

        prepare_synthetic(args.out, seed=args.seed, n_source_cases=args.n_source_cases, workers=args.workers)
    elif args.data_command == "prepare":
        from transferbench.data.lidc import prepare_lidc

        if not args.dicom:
            parser.error("data prepare lidc_idri needs --dicom DIR (the TCIA LIDC-IDRI download)")
        report = prepare_lidc(args.dicom, args.out, clevel=args.consensus, patients=args.patients)
        print(f"{len(report.written)} case(s) written, {len(report.skipped)} already there, in {args.out}")
        for path, msg in report.problems:
            print(f"problem: {path}: {msg}", file=sys.stderr)
        return 1 if report.problems else 0
    elif args.data_command == "preview":
        from transferbench.data.preview import render_preview

        print(f"wrote {render_preview(args.root, args.out)}")
    elif args.data_command == "check":
        from transferbench.data.check import check_dataset

        report = check_dataset(args.name, args.root, args.label_mode, deep=not args.quick)
        print(report.format())
        return 0 if report.ok else 1
    elif args.data_command == "fingerprint":
        data_fingerprint(args)
    elif args.data_command == "similarity":
        from transferbench.data.similarity import write_similarity

        table, path = write_similarity(args.root, args.out)
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        print(f"wrote {path}")
    else:
        for name, cls in SOURCES.items():
            print(f"{name:24s} {cls.description}")
            if args.verbose:
                print("\n".join(f"{'':24s}   - {line}" for line in cls.accepted))
    return 0


def data_fingerprint(args) -> None:
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
