"""The run ledger: one folder and one ``summary.json`` per run.

``<workdir>/runs/<run_id>/`` holds ``summary.json`` (contract documented in the
README), ``stages/<stage>.json`` (what each stage reported, written by the
stage itself so that Airflow tasks in separate processes can contribute) and
the run's intermediate files.  ``summary.json`` is rewritten atomically after
each stage, so a watcher sees progress (``state``: running / succeeded / failed).
"""

from __future__ import annotations

import json
import os
import secrets
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator


class LedgerError(RuntimeError):
    """The run folder is missing or inconsistent."""


def new_run_id(site: str, now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{site}-{secrets.token_hex(3)}"


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


@dataclass(frozen=True)
class Run:
    """A handle on one run folder; cheap to pass between processes as (runs_dir, run_id)."""

    runs_dir: Path
    run_id: str

    @property
    def dir(self) -> Path:
        return self.runs_dir / self.run_id

    @property
    def summary_path(self) -> Path:
        return self.dir / "summary.json"

    def path(self, *parts: str) -> Path:
        return self.dir.joinpath(*parts)

    # ---- lifecycle -----------------------------------------------------------
    @classmethod
    def start(cls, runs_dir: Path, site: str, settings: dict[str, Any], run_id: str | None = None) -> "Run":
        run = cls(Path(runs_dir), run_id or new_run_id(site))
        if run.dir.exists() and (run.dir / "summary.json").exists():
            raise LedgerError(f"run folder {run.dir} already exists")
        run.dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(
            run.summary_path,
            {
                "run_id": run.run_id,
                "site": site,
                "state": "running",
                "started": utc_now(),
                "finished": None,
                "settings": settings,
                "stages": {},
            },
        )
        return run

    @classmethod
    def open(cls, runs_dir: Path, run_id: str) -> "Run":
        run = cls(Path(runs_dir), run_id)
        if not run.summary_path.exists():
            raise LedgerError(f"no run {run_id} under {runs_dir}")
        return run

    def summary(self) -> dict[str, Any]:
        return json.loads(self.summary_path.read_text(encoding="utf-8"))

    def update(self, **fields: Any) -> dict[str, Any]:
        data = self.summary()
        data.update(fields)
        write_json_atomic(self.summary_path, data)
        return data

    def stage_report(self, stage: str) -> dict[str, Any]:
        path = self.path("stages", f"{stage}.json")
        if not path.exists():
            raise LedgerError(f"run {self.run_id} has no report for stage {stage!r}")
        return json.loads(path.read_text(encoding="utf-8"))

    @contextmanager
    def stage(self, name: str) -> Iterator[dict[str, Any]]:
        """Time a stage; the body fills the yielded dict, which is saved as its report.

        On failure the run is marked failed with the error, and the error re-raised.
        """
        report: dict[str, Any] = {}
        t0 = time.perf_counter()
        started = utc_now()
        data = self.summary()
        data["stages"][name] = {"state": "running", "started": started}
        write_json_atomic(self.summary_path, data)
        try:
            yield report
        except BaseException as exc:
            data = self.summary()
            data["stages"][name] = {
                "state": "failed",
                "started": started,
                "seconds": round(time.perf_counter() - t0, 3),
                "error": f"{type(exc).__name__}: {exc}",
            }
            data["state"] = "failed"
            data["finished"] = utc_now()
            write_json_atomic(self.summary_path, data)
            raise
        seconds = round(time.perf_counter() - t0, 3)
        write_json_atomic(self.path("stages", f"{name}.json"), report)
        data = self.summary()
        data["stages"][name] = {"state": "succeeded", "started": started, "seconds": seconds}
        write_json_atomic(self.summary_path, data)


def latest_run(runs_dir: Path, site: str) -> Run | None:
    """The most recent run of a site (by run id, which starts with a UTC timestamp)."""
    if not runs_dir.exists():
        return None
    ids = sorted(p.name for p in runs_dir.iterdir() if p.is_dir() and f"-{site}-" in p.name)
    return Run(runs_dir, ids[-1]) if ids else None
