"""``transferbench data check``: everything wrong with a dataset on disk, found before any GPU hour is spent.

Like nnU-Net's dataset integrity check, but reporting *all* problems with the file each concerns: layout,
benchmark split cases that are absent, unreadable or truncated files, image/label shape or affine
mismatches, label values the source does not define, intensities stored neither as HU nor as 0..255.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from transferbench.data.io import inspect_pair
from transferbench.data.sources import create_source
from transferbench.data.splits import benchmark_splits
from transferbench.errors import DataError


def split_case_ids(source: str) -> list[str]:
    """The cases the benchmark's split file expects for ``source`` (none for sources it does not list)."""
    splits = benchmark_splits()
    if source == "covid19_ct_seg":
        return list(splits["covid19_ct_seg"]["cases"])
    split = splits["sources"].get(source)
    return list(split["train"]) + list(split["val"]) if split else []


def expected_case_ids(source: str, root: Path) -> tuple[list[str], bool]:
    """(case ids that should be on disk, whether each is required). The target's fixed folds need all 20
    cases; a lesion source may be a subset (training uses the cases present), so its absent split cases are
    a warning. A synthetic benchmark expects exactly the cases its manifest lists."""
    from transferbench.data.synthetic import MANIFEST

    for folder in (root, root.parent):
        manifest = folder / MANIFEST
        if manifest.is_file():
            return list(json.loads(manifest.read_text())["cases"].get(source, [])), True
    return split_case_ids(source), source == "covid19_ct_seg"


@dataclass
class DatasetReport:
    """The outcome of checking one source under one root; ``ok`` when ``problems`` is empty."""

    source: str
    root: Path
    base: Path | None = None
    cases: list[dict] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # worth knowing, not blocking (``ok`` ignores them)

    @property
    def ok(self) -> bool:
        return not self.problems

    def format(self, per_case: bool = True) -> str:
        lines = [f"{self.source}: {len(self.cases)} case(s) in {self.base or self.root}"]
        if per_case and self.cases:
            lines.append(
                f"  {'case':<28} {'shape':<16} {'spacing (mm)':<20} {'intensity':<18} {'storage':<8} labels"
            )
            for c in self.cases:
                shape = "x".join(map(str, c.get("shape", ()))) or "?"
                spacing = "x".join(f"{v:.3g}" for v in c.get("spacing", ())) or "?"
                lo_hi = c.get("intensity")
                intensity = f"[{lo_hi[0]:.0f}, {lo_hi[1]:.0f}]" if lo_hi else "?"
                labels = ",".join(map(str, c.get("labels", []))) or "?"
                lines.append(
                    f"  {c['case_id']:<28} {shape:<16} {spacing:<20} {intensity:<18} {c.get('storage', '?'):<8} {labels}"
                )
        if self.missing:
            lines.append(f"  benchmark split cases missing ({len(self.missing)}): {', '.join(self.missing)}")
        lines += [f"  warning: {w}" for w in self.warnings]
        if self.problems:
            lines.append(f"  {len(self.problems)} problem(s):")
            lines += [f"  - {path}: {msg}" for path, msg in self.problems]
        else:
            lines.append("  no problems found")
        return "\n".join(lines)


def check_dataset(
    source: str, root: str | Path, label_mode: str = "infection", deep: bool = True
) -> DatasetReport:
    """Check ``source`` under ``root``; ``deep=False`` reads headers only (what a sweep does at planning)."""
    src = create_source(source, **({"label_mode": label_mode} if source == "covid19_ct_seg" else {}))
    report = DatasetReport(source, Path(root))
    try:
        base, cases, problems = src.scan(root)
    except DataError as err:
        path, _, msg = str(err).partition(": ")
        report.problems.append((path, msg))
        return report
    report.base = base
    report.problems += [(str(p), m) for p, m in problems]
    found, listed = {c.case_id for c in cases}, set(src.case_ids(base))
    expected, required = expected_case_ids(source, Path(root))
    for cid in expected:
        if cid in found:
            continue
        report.missing.append(cid)
        if cid in listed:
            continue  # an incomplete listed case already has its missing file reported
        if required:
            report.problems.append((str(base), f"case {cid} of the benchmark split is absent"))
    if report.missing and not required:
        report.warnings.append(
            f"{len(report.missing)} case(s) of the benchmark split are absent; training uses the "
            f"{len(found)} present (the split's assignment of each)"
        )
    for case in cases:
        summary, problems = inspect_pair(case.image, case.label, src.label_values, deep=deep)
        report.cases.append(
            {"case_id": case.case_id, "image": str(case.image), "label": str(case.label), **summary}
        )
        report.problems += [(str(p), m) for p, m in problems]
    return report
