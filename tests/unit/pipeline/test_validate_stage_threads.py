"""The validate stage runs the staging suites in a second thread: an error on either side is raised,
and only after the other side has finished (no thread left running on a closed session)."""

from __future__ import annotations

import threading
import time

import duckdb
import pytest

from crossbridge.ledger import Run, write_json_atomic
from crossbridge.pipeline import common
from crossbridge.pipeline.quality import validate_run
from crossbridge.settings import load_settings


@pytest.fixture
def run_and_settings(tmp_path, monkeypatch):
    settings = load_settings({"workdir": tmp_path / "work"})
    run = Run.start(tmp_path / "work" / "runs", "taiwan", {})
    run.path("stages").mkdir(parents=True, exist_ok=True)
    write_json_atomic(run.path("stages", "stage.json"), {"partitions": 1})
    write_json_atomic(run.path("stages", "map.json"), {"rows_out": {"person": 0}})
    duckdb.connect(str(run.path("omop.duckdb"))).close()
    vocab = tmp_path / "vocab.duckdb"
    duckdb.connect(str(vocab)).close()
    monkeypatch.setattr(common, "ensure_vocabulary", lambda s: (vocab, {}))
    return run, settings


def _slow_staging(log, error=None):
    def run_staging_suites(session, file_types, table_columns, **kwargs):
        assert threading.current_thread() is not threading.main_thread()
        assert session.execute("SELECT 1") == [(1,)]  # its own connection works
        time.sleep(0.5)
        log.append("staging finished")
        if error:
            raise error
        return []
    return run_staging_suites


def test_an_omop_error_is_raised_after_the_staging_thread_finished(run_and_settings, monkeypatch):
    import validators.omop_run
    import validators.staging_suites

    run, settings = run_and_settings
    log: list[str] = []
    monkeypatch.setattr(validators.staging_suites, "run_staging_suites", _slow_staging(log))

    def broken(session, **kwargs):
        assert kwargs["build_data_docs"] is False  # built once staging results are in
        raise RuntimeError("omop checks broke")

    monkeypatch.setattr(validators.omop_run, "validate_omop", broken)
    with pytest.raises(RuntimeError, match="omop checks broke"):
        validate_run(run, settings, "taiwan", [], lambda ft: [])
    assert log == ["staging finished"]
    duckdb.connect(str(run.path("omop.duckdb"))).close()  # read-write: both sessions were closed


def test_a_staging_error_is_raised(run_and_settings, monkeypatch):
    import validators.omop_run
    import validators.staging_suites

    run, settings = run_and_settings
    log: list[str] = []
    monkeypatch.setattr(validators.staging_suites, "run_staging_suites",
                        _slow_staging(log, error=ValueError("staging suite broke")))

    monkeypatch.setattr(validators.omop_run, "validate_omop", lambda session, **kw: log.append("omop finished"))
    with pytest.raises(ValueError, match="staging suite broke"):
        validate_run(run, settings, "taiwan", [], lambda ft: [])
    assert sorted(log) == ["omop finished", "staging finished"]
    duckdb.connect(str(run.path("omop.duckdb"))).close()
