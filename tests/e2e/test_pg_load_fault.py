"""Issue 9 (faults): PostgreSQL goes away in the middle of the warehouse load.

The loading session's backend is terminated by the server (``pg_terminate_backend``,
what a restart does to every session) while it COPYs a table.  The load fails
loudly; the table being copied keeps its previous rows (one transaction per
table); the retried load ends with exactly the rows of a load that never failed.
A real ``pg_ctl restart`` would also cut the other test processes sharing the
server, so the test cuts only the loading session.
"""

from __future__ import annotations

import threading
import uuid

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
def second_schema(postgres_url):
    import psycopg

    base = postgres_url.split("?")[0]
    schema = f"cb_fault_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{base}?schema={schema}", schema
    finally:
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_a_load_cut_by_the_server_is_retried_to_the_rows_of_a_clean_load(tw_run, postgres_url, second_schema,
                                                                          monkeypatch):
    import psycopg

    from connectors.warehouse import postgres_store
    from connectors.warehouse.sources import WarehouseLoadError
    from crossbridge.ledger import Run
    from crossbridge.pipeline import common
    from crossbridge.settings import load_settings

    run = Run(tw_run["dir"].parent, tw_run["dir"].name)
    vocab_path, _ = common.ensure_vocabulary(load_settings({"workdir": tw_run["work"]}))
    clean = common.load_warehouse(run, postgres_url, vocab_path)
    tables = sorted(clean["rows_loaded"])

    url, schema = second_schema
    victim = "drug_exposure"
    assert clean["rows_loaded"][victim] > 1000
    base = url.split("?")[0]
    cut = threading.Event()
    real_batches = postgres_store.cdm_batches

    def batches_then_cut(name, data, batch_rows):
        if name != victim or cut.is_set():
            return real_batches(name, data, batch_rows)
        reader = real_batches(name, data, 500)  # small batches: the COPY is still running when the cut comes

        def gen():
            for i, batch in enumerate(reader):
                if i == 2:
                    with psycopg.connect(base, autocommit=True) as admin:
                        pids = [r[0] for r in admin.execute(
                            "SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND query LIKE %s",
                            [f'COPY "{schema}".%']).fetchall()]
                        assert pids, "the loading session's COPY was not found"
                        for pid in pids:
                            admin.execute("SELECT pg_terminate_backend(%s)", [pid])
                    cut.set()
                yield batch

        import pyarrow as pa

        return pa.RecordBatchReader.from_batches(reader.schema, gen())

    monkeypatch.setattr(postgres_store, "cdm_batches", batches_then_cut)
    with pytest.raises((WarehouseLoadError, psycopg.Error)):
        common.load_warehouse(run, url, vocab_path)
    assert cut.is_set()
    with psycopg.connect(base) as con:  # the cut table's transaction was rolled back: no partial rows
        n = con.execute(f'SELECT count(*) FROM "{schema}"."{victim}"').fetchall()[0][0]
    assert n in (0, clean["rows_loaded"][victim])

    retried = common.load_warehouse(run, url, vocab_path)  # the task's retry
    assert retried["rows_loaded"] == clean["rows_loaded"]
    assert _pg_checksums(url, tables) == _pg_checksums(postgres_url, tables)
