"""The data checks a sweep runs at planning time, before any training: every dataset it reads, headers only."""

from __future__ import annotations

from transferbench.data.check import DatasetReport, check_dataset
from transferbench.data.leakage import check_no_test_cases
from transferbench.data.sources import create_source
from transferbench.data.splits import covid_fold
from transferbench.errors import DataError
from transferbench.sweep.spec import SweepSpec


def datasets_of(spec: SweepSpec) -> dict[str, tuple[str, str]]:
    """``{spec key: (source, label_mode)}`` of the target and every source the sweep names."""
    out = {"target.dataset": (spec.target["dataset"], spec.target.get("label_mode", "infection"))}
    out.update({f"sources.{label}": (src, "infection") for label, src in spec.sources.items()})
    out.update(
        {f"target.extra_test.{name}": (name, "infection") for name in spec.target.get("extra_test", [])}
    )
    if spec.target.get("val_source"):
        out["target.val_source"] = (spec.target["val_source"], "infection")
    return out


def check_sweep_data(spec: SweepSpec) -> list[DatasetReport]:
    """Headers of every case (layout, split cases present, shapes and affines agree; one error lists all),
    then that no pretraining source holds a test case."""
    reports, lines = [], []
    for key, (source, label_mode) in datasets_of(spec).items():
        report = check_dataset(source, spec.data_root, label_mode, deep=False)
        reports.append(report)
        lines += [f"  - {key} ({source}): {path}: {msg}" for path, msg in report.problems]
    if lines:
        raise DataError(
            f"{spec.path}: {len(lines)} data problem(s) under data_root {spec.data_root}; nothing was run "
            f"(`transferbench data check NAME --root {spec.data_root}` reports each dataset in full):\n"
            + "\n".join(lines)
        )
    check_no_leakage(spec)
    return reports


def check_no_leakage(spec: SweepSpec) -> None:
    """No source a sweep pretrains on (labelled or a pool) holds a test case of any of its target folds."""
    target = create_source(spec.target["dataset"], label_mode=spec.target.get("label_mode", "infection"))
    cases = {c.case_id: c for c in target.find_cases(spec.data_root)}
    test = [
        cases[cid]
        for fold in spec.folds
        for cid in covid_fold(fold, spec.target["fold_scheme"])["test"]
        if cid in cases
    ]
    for label, name in spec.sources.items():
        pool = create_source(name).find_cases(spec.data_root)
        check_no_test_cases(pool, test, f"{spec.path}: sources.{label} ({name})")
