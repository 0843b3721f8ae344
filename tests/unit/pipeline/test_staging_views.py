"""The pipeline's stg_ views: over consolidated Parquet, or empty with the declared schema."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from connectors.taiwan import layout
from connectors.taiwan.consolidate import table_columns
from crossbridge.pipeline.common import register_staging_views


def test_types_without_files_get_empty_views_with_the_consolidated_schema(tmp_path):
    folder = tmp_path / "tables" / "hosb"
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"HOSP_ID": ["0101010010"], "_row_number": [2]}), folder / "part-0.parquet")
    con = duckdb.connect()
    register_staging_views(con, tmp_path / "tables", layout.FILE_TYPES)
    assert con.execute("SELECT HOSP_ID FROM stg_hosb").fetchall() == [("0101010010",)]
    for ft in layout.FILE_TYPES:
        if ft.key == "hosb":
            continue
        cols = con.execute(f"DESCRIBE stg_{ft.key}").fetchall()
        assert [c[0] for c in cols] == [n for n, _ in table_columns(ft)], ft.key
        assert con.execute(f"SELECT count(*) FROM stg_{ft.key}").fetchone() == (0,)
    types = {c[0]: c[1] for c in con.execute("DESCRIBE stg_ipdte").fetchall()}
    assert types["IN_DATE"] == "DATE" and types["SEQ_NO"] == "BIGINT" and types["stay_key"] == "VARCHAR"
