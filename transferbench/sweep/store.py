"""The results store: owns ``<results_dir>/`` (``plan.json`` and ``runs/<id>/``) for launchers, aggregation
and figures; they read and write a run's records through it and never spell a path themselves.

A run is finished when its ``result.json`` exists (written last, atomically); a run that raised leaves
``failed.json`` with the error instead and is retried by the next invocation.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from transferbench.files import atomic_write_text
from transferbench.run_folder import RunFolder
from transferbench.sweep.runs import Run


class ResultsStore:
    """One sweep's results folder."""

    PLAN = "plan.json"

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def folder(self, run: Run | str) -> RunFolder:
        return RunFolder(self.root / "runs" / (run if isinstance(run, str) else run.id))

    # ---------------------------------------------------------------- state
    def result(self, run: Run | str) -> dict | None:
        """The finished run's record, or ``None`` while it has not finished."""
        return self.folder(run).read_json(RunFolder.RESULT)

    def failure(self, run: Run | str) -> dict | None:
        return self.folder(run).read_json(RunFolder.FAILED)

    def status(self, run: Run | str) -> str:
        """done, failed, interrupted (stopped by the user; resumed next time) or not run."""
        if self.result(run) is not None:
            return "done"
        failure = self.failure(run)
        return "not run" if failure is None else failure.get("status", "failed")

    # ---------------------------------------------------------------- write
    def record_done(self, run: Run, record: dict[str, Any]) -> dict:
        self.folder(run).write_json(RunFolder.RESULT, record)  # the last write: marks the run finished
        return record

    def record_failed(self, run: Run, error: str, attempt_s: float = 0.0, tb: str = "") -> dict:
        """Record why ``run`` did not finish (``failed.json``); returns the record (without traceback)."""
        record = {**run.record("failed"), "error": error, "attempt_s": round(attempt_s, 2)}
        self.folder(run).write_json(RunFolder.FAILED, {**record, "traceback": tb})
        return record

    def record_interrupted(self, run: Run, attempt_s: float = 0.0) -> dict:
        """Record that the user stopped ``run`` (Ctrl-C): not a failure; the next invocation resumes it."""
        record = {**run.record("interrupted"), "error": "interrupted by the user; the next invocation resumes it",
                  "attempt_s": round(attempt_s, 2)}  # fmt: skip
        self.folder(run).write_json(RunFolder.FAILED, record)
        return record

    # ----------------------------------------------------------------- plan
    def write_plan(self, info: dict[str, Any]) -> None:
        atomic_write_text(self.root / self.PLAN, json.dumps(info, indent=1))

    def read_plan(self) -> dict[str, Any]:
        path = self.root / self.PLAN
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: not a sweep results folder (no {self.PLAN}; run `transferbench sweep`)"
            )
        return json.loads(path.read_text())
