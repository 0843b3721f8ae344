"""Issue 9 (faults): PostgreSQL restarts in the middle of the warehouse load.

The warehouse is a PostgreSQL server of the test's own (``private_postgres``: the shared server on
5432 serves other test processes), restarted for real (``pg_ctl restart -m fast``, which cuts every
session) while the load COPYs a table.  The load fails loudly; the table being copied keeps its
previous rows (one transaction per table); the retried load, on the restarted server, ends with
exactly the rows of a load that never failed (checksums against a clean load on the shared server).
"""

from __future__ import annotations

import os

import duckdb
import pytest

pytestmark = pytest.mark.services


def _pg_checksums(url: str, tables: list[str]) -> dict[str, tuple[int, str]]:
    """Row count and an order-independent checksum per table (rows read back through COPY TO)."""
    from connectors.warehouse import open_warehouse

    out = {}
    with open_warehouse(url) as wh, duckdb.connect() as con:
        for t in tables:
            data = wh.query(f'SELECT * FROM "{wh.schema}"."{t}"')
            con.register("t", data)
            n, total = con.execute(
                "SELECT count(*), coalesce(sum(CAST(('0x' || substr(md5(CAST(r AS VARCHAR)), 1, 15))::BIGINT "
                "AS HUGEINT)), 0) FROM t r").fetchall()[0]
            con.unregister("t")
            out[t] = (int(n), format(int(total), "x"))
    return out


@pytest.fixture
def private_server():
    from private_postgres import PrivatePostgres, unavailable_reason

    reason = unavailable_reason()
    if reason:
        message = f"a private PostgreSQL server cannot be started here: {reason}"
        if os.environ.get("CROSSBRIDGE_REQUIRE_SERVICES") == "1":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    server = PrivatePostgres()
    try:
        server.start()
        yield server
    finally:
        server.stop()


def test_a_load_cut_by_a_server_restart_is_retried_to_the_rows_of_a_clean_load(tw_run, postgres_url,
                                                                                 private_server, monkeypatch):
    import psycopg

    from connectors.warehouse import postgres_store
    from connectors.warehouse.sources import WarehouseLoadError
    from crossbridge.ledger import Run
    from crossbridge.pipeline import common
    from crossbridge.settings import load_settings

    run = Run(tw_run["dir"].parent, tw_run["dir"].name)
    vocab_path, _ = common.ensure_vocabulary(load_settings({"workdir": tw_run["work"]}))
    clean = common.load_warehouse(run, postgres_url, vocab_path)  # on the shared server, never cut
    tables = sorted(clean["rows_loaded"])

    url = f"{private_server.url}?schema=cdm"
    victim = "drug_exposure"
    assert clean["rows_loaded"][victim] > 1000
    restarted: list[float] = []
    real_batches = postgres_store.cdm_batches

    def batches_then_restart(name, data, batch_rows):
        if name != victim or restarted:
            return real_batches(name, data, batch_rows)
        reader = real_batches(name, data, 500)  # small batches: the COPY is still running when the restart comes

        def gen():
            for i, batch in enumerate(reader):
                if i == 2:
                    with psycopg.connect(private_server.url, autocommit=True) as admin:
                        copying = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE query LIKE %s",
                                                ['COPY "cdm".%']).fetchall()[0][0]
                    assert copying, "the loading session's COPY was not found"
                    restarted.append(private_server.restart())
                yield batch

        import pyarrow as pa

        return pa.RecordBatchReader.from_batches(reader.schema, gen())

    monkeypatch.setattr(postgres_store, "cdm_batches", batches_then_restart)
    with pytest.raises((WarehouseLoadError, psycopg.Error)):
        common.load_warehouse(run, url, vocab_path)
    assert restarted, "the server was not restarted during the load"
    with psycopg.connect(private_server.url) as con:  # the cut table's transaction was rolled back: no partial rows
        n = con.execute(f'SELECT count(*) FROM "cdm"."{victim}"').fetchall()[0][0]
        started = con.execute("SELECT pg_postmaster_start_time() > now() - interval '10 minutes'").fetchall()[0][0]
    assert n == 0 and started

    retried = common.load_warehouse(run, url, vocab_path)  # the task's retry
    assert retried["rows_loaded"] == clean["rows_loaded"]
    assert _pg_checksums(url, tables) == _pg_checksums(postgres_url, tables)
