"""consolidate_taiwan: duplicates, visit keys, supplementary claims, orphans, split admissions, reconciliation."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from taiwan_raw import PID, row, write_raw

from connectors.pseudonym import Pseudonymiser
from connectors.quarantine import read_quarantine
from connectors.taiwan import layout
from connectors.taiwan.consolidate import MERGE_REASONS, consolidate_taiwan
from connectors.taiwan.stage import stage_taiwan

SECRET = "s3cret"
OPDTE = "h_nhi_opdte10301.csv"
IPDTE = "h_nhi_ipdte10301.csv"


def _landing(landing: Path) -> None:
    sup = {"APPL_TYPE": "2", "APPL_DATE": "20140301"}
    write_raw(landing, "opdte", [
        row("opdte"),  # 2 original V1
        row("opdte"),  # 3 exact duplicate of 2
        row("opdte", **sup, T_DOT="40"),  # 4 supplementary of V1 -> merged into 2
        row("opdte", SEQ_NO="5", APPL_TYPE="2"),  # 5 supplementary without original -> kept
        row("opdte", SEQ_NO="6", FUNC_DATE="20140111"),  # 6 original
        row("opdte", SEQ_NO="6", **sup, FUNC_DATE="20140112"),  # 7 different service date -> kept
        row("opdte", SEQ_NO="8", ID="A123456788"),  # 8 invalid ID: quarantined at stage
    ])
    write_raw(landing, "opdte", [row("opdte")], name="h_nhi_opdte10302.csv")  # duplicate across files
    write_raw(landing, "opdto", [
        row("opdto"),  # 2 order of V1
        row("opdto"),  # 3 duplicate
        row("opdto", **sup),  # 4 order of the merged supplementary claim
        row("opdto", SEQ_NO="5", APPL_TYPE="2"),  # 5 order of the kept supplementary claim
        row("opdto", SEQ_NO="8"),  # 6 order of a quarantined visit -> orphan
        row("opdto", SEQ_NO="99"),  # 7 no such visit -> orphan
        row("opdto", ORDER_SEQ_NO="2"),  # 8 second order of V1
    ])
    seg2 = {"SEQ_NO": "2", "FEE_YM": "201402", "APPL_DATE": "20140315"}
    write_raw(landing, "ipdte", [
        row("ipdte", OUT_DATE="", APPL_END_DATE="20140131"),  # 2 segment 1 of a long stay
        row("ipdte", **seg2, APPL_BEG_DATE="20140201", APPL_END_DATE="20140210", OUT_DATE="20140210"),  # 3 segment 2
        row("ipdte", SEQ_NO="3", ID=PID[1], IN_DATE="20140120", APPL_BEG_DATE="20140120"),  # 4 another stay
        row("ipdte", APPL_TYPE="2", APPL_DATE="20140401", OUT_DATE="", APPL_END_DATE="20140131"),  # 5 supplement of 2
    ])
    write_raw(landing, "ipdto", [
        row("ipdto"),  # 2 -> segment 1
        row("ipdto", **seg2),  # 3 -> segment 2
        row("ipdto", SEQ_NO="3"),  # 4 -> other stay
        row("ipdto", APPL_TYPE="2", APPL_DATE="20140401"),  # 5 -> merged with its supplementary visit
    ])
    write_raw(landing, "druge", [row("druge")])
    write_raw(landing, "drugo", [row("drugo"), row("drugo", SEQ_NO="7")])
    write_raw(landing, "hosb", [row("hosb"), row("hosb"), row("hosb", HOSP_ID="2")])


def _table(staging: Path, key: str) -> pa.Table:
    """The consolidated rows of a file type, in source order (the files promise no row order)."""
    t = pa.concat_tables([pq.read_table(f) for f in sorted((staging / "tables" / key).glob("*.parquet"))])
    return t.sort_by([("_source_file", "ascending"), ("_row_number", "ascending")])


def _rows(t: pa.Table, *cols: str) -> list[tuple]:
    return [tuple(r[c] for c in cols) for r in t.to_pylist()]


@pytest.fixture(scope="module")
def consolidated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, dict]:
    tmp = tmp_path_factory.mktemp("consolidate")
    landing, staging = tmp / "landing", tmp / "staging"
    _landing(landing)
    staged = stage_taiwan(landing, staging, SECRET).to_dict()
    report = consolidate_taiwan(staging, memory_limit="256MB", threads=1).to_dict()
    return staging, staged, report


def test_duplicates_keep_the_first_copy(consolidated) -> None:
    staging, _, report = consolidated
    q = read_quarantine(staging / "quarantine" / "consolidate")
    dups = sorted(_rows(q.filter(pa.compute.equal(q.column("reason"), "duplicate_row")), "file_type", "source_file",
                        "row_number"))
    assert dups == [("hosb", "h_nhi_hosb.csv", 3), ("opdte", OPDTE, 3), ("opdte", "h_nhi_opdte10302.csv", 2),
                    ("opdto", "h_nhi_opdto10301.csv", 3)]
    assert "exact repeat of h_nhi_opdte10301.csv line 2" in q.column("detail").to_pylist()
    assert report["tables"]["hosb"]["rows_out"] == 2


def test_supplementary_claims_are_merged_with_their_orders(consolidated) -> None:
    staging, _, report = consolidated
    opdte = _table(staging, "opdte")
    assert _rows(opdte, "_row_number", "APPL_TYPE", "SEQ_NO") == [(2, "1", 1), (5, "2", 5), (6, "1", 6), (7, "2", 6)]
    assert opdte.column("visit_key").to_pylist()[0] == "201401|1|1101010012|20140215|01|1"
    merged = pq.read_table(staging / "merged" / "opdte.parquet")
    assert merged.column_names == ["source_file", "row_number", "reason", "kept_source_file", "kept_row_number"]
    assert _rows(merged, "row_number", "reason", "kept_source_file", "kept_row_number") == [
        (4, "supplementary_claim", OPDTE, 2)
    ]
    merged_o = pq.read_table(staging / "merged" / "opdto.parquet")
    assert _rows(merged_o, "row_number", "reason", "kept_source_file", "kept_row_number") == [
        (4, "supplementary_claim_order", OPDTE, 2)
    ]
    assert set(MERGE_REASONS) == {"supplementary_claim", "supplementary_claim_order"}
    assert not set(MERGE_REASONS) & set(layout.QUARANTINE_REASONS)
    assert report["tables"]["ipdte"]["merged"] == {"supplementary_claim": 1}
    assert report["tables"]["ipdto"]["merged"] == {"supplementary_claim_order": 1}


def test_orphan_orders(consolidated) -> None:
    staging, _, report = consolidated
    opdto = _table(staging, "opdto")
    assert _rows(opdto, "_row_number", "SEQ_NO", "ORDER_SEQ_NO") == [(2, 1, 1), (5, 5, 1), (8, 1, 2)]
    q = read_quarantine(staging / "quarantine" / "consolidate")
    orphans = q.filter(pa.compute.equal(q.column("reason"), "orphan_order"))
    assert sorted(_rows(orphans, "file_type", "row_number", "column")) == [
        ("drugo", 3, "visit_key"), ("opdto", 6, "visit_key"), ("opdto", 7, "visit_key")
    ]
    assert _rows(_table(staging, "drugo"), "_row_number") == [(2,)]
    assert report["tables"]["opdto"]["quarantined"] == {"duplicate_row": 1, "orphan_order": 2}


def test_split_admissions_share_a_stay_key(consolidated) -> None:
    staging, _, _ = consolidated
    pk = Pseudonymiser(SECRET)
    ipdte = _table(staging, "ipdte")
    stay1 = f"{pk.one(PID[0])}|1101010012|20140105"
    stay2 = f"{pk.one(PID[1])}|1101010012|20140120"
    assert _rows(ipdte, "_row_number", "stay_key") == [(2, stay1), (3, stay1), (4, stay2)]
    ipdto = _table(staging, "ipdto")
    assert _rows(ipdto, "_row_number", "stay_key") == [(2, stay1), (3, stay1), (4, stay2)]
    assert ipdto.column("visit_key").to_pylist() == ipdte.column("visit_key").to_pylist()
    cols = ipdte.column_names
    assert cols[-4:] == ["visit_key", "stay_key", "_source_file", "_row_number"]
    assert "stay_key" not in _table(staging, "opdte").column_names


def test_every_row_is_accounted_for(consolidated) -> None:
    staging, staged, report = consolidated
    q = read_quarantine(staging / "quarantine" / "consolidate")
    for key, entry in report["tables"].items():
        raw = sum(pq.read_metadata(f).num_rows for f in (staging / "raw" / key).glob("*.parquet"))
        out = _table(staging, key).num_rows
        quarantined = pa.compute.sum(pa.compute.equal(q.column("file_type"), key)).as_py() or 0
        merged_file = staging / "merged" / f"{key}.parquet"
        merged = pq.read_metadata(merged_file).num_rows if merged_file.exists() else 0
        assert raw == entry["rows_in"] == out + quarantined + merged, key
    all_q = read_quarantine(staging / "quarantine").num_rows
    tables = sum(_table(staging, k).num_rows for k in report["tables"])
    merged_all = sum(pq.read_metadata(f).num_rows for f in (staging / "merged").glob("*.parquet"))
    assert staged["rows_in"] == tables + all_q + merged_all


def test_orders_without_any_visit_table_are_orphans_and_rerun_is_idempotent(tmp_path: Path) -> None:
    landing, staging = tmp_path / "landing", tmp_path / "staging"
    write_raw(landing, "drugo", [row("drugo"), row("drugo", SEQ_NO="2")])
    write_raw(landing, "enrol", [row("enrol")])
    stage_taiwan(landing, staging, SECRET)
    first = consolidate_taiwan(staging).to_dict()
    assert first["tables"]["drugo"]["quarantined"] == {"orphan_order": 2}
    assert _table(staging, "drugo").num_rows == 0
    listing = sorted(p.relative_to(staging) for p in staging.rglob("*") if p.is_file())
    assert consolidate_taiwan(staging).to_dict() == first
    assert sorted(p.relative_to(staging) for p in staging.rglob("*") if p.is_file()) == listing
    assert not (staging / "_duckdb_tmp").exists()
    # re-staging clears the consolidated outputs that depended on the old staging
    stage_taiwan(landing, staging, SECRET)
    assert not (staging / "tables").exists() or not any((staging / "tables").rglob("*.parquet"))


def test_specimens_of_unknown_or_quarantined_participants_are_orphans(tmp_path: Path) -> None:
    landing, staging = tmp_path / "landing", tmp_path / "staging"
    write_raw(landing, "bb_participant", [
        row("bb_participant"),  # 2 kept: P00000000001
        row("bb_participant", PARTICIPANT_ID="P00000000002", ID="A123456788"),  # 3 invalid ID -> quarantined
    ])
    spec = {"SPECIMEN_TYPE": "BLOOD", "COLLECT_DATE": "103/02/03", "BIOBANK_ID": "TWB1"}
    write_raw(landing, "bb_specimen", [
        row("bb_specimen", SPECIMEN_ID="S1", PARTICIPANT_ID="P00000000001", **spec),  # 2 kept
        row("bb_specimen", SPECIMEN_ID="S2", PARTICIPANT_ID="P00000000002", **spec),  # 3 participant quarantined
        row("bb_specimen", SPECIMEN_ID="S3", PARTICIPANT_ID="P00000000009", **spec),  # 4 unknown participant
    ])
    stage_taiwan(landing, staging, SECRET)
    report = consolidate_taiwan(staging)
    kept = _table(staging, "bb_specimen")
    assert kept.column("_row_number").to_pylist() == [2]
    q = read_quarantine(staging / "quarantine" / "consolidate")
    assert sorted(zip(q.column("row_number").to_pylist(), q.column("reason").to_pylist())) == [
        (3, "orphan_specimen"), (4, "orphan_specimen")]
    assert report.tables["bb_specimen"].quarantined == {"orphan_specimen": 2}


def test_duplicates_need_every_column_equal(tmp_path: Path) -> None:
    landing, staging = tmp_path / "landing", tmp_path / "staging"
    write_raw(landing, "hosb", [
        row("hosb"),  # 2 kept
        row("hosb", HOSP_NAME="醫院"),  # 3 differs in one column: kept
        row("hosb", AREA_NO_H=""),  # 4 null in one column: kept
        row("hosb", AREA_NO_H=" "),  # 5 same as 4 once blanks are stripped (null = null): duplicate of 4
        row("hosb"),  # 6 duplicate of 2
        row("hosb", HOSP_NAME="醫院"),  # 7 duplicate of 3
    ])
    stage_taiwan(landing, staging, SECRET)
    report = consolidate_taiwan(staging, threads=2)
    assert _table(staging, "hosb").column("_row_number").to_pylist() == [2, 3, 4]
    q = read_quarantine(staging / "quarantine" / "consolidate")
    assert sorted(zip(q.column("row_number").to_pylist(), q.column("detail").to_pylist())) == [
        (5, "exact repeat of h_nhi_hosb.csv line 4"), (6, "exact repeat of h_nhi_hosb.csv line 2"),
        (7, "exact repeat of h_nhi_hosb.csv line 3")]
    assert report.tables["hosb"].quarantined == {"duplicate_row": 3}


def test_consolidation_is_the_same_whatever_the_staging_workers(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    _landing(landing)
    outs = []
    for workers in (1, 2):
        staging = tmp_path / f"staging{workers}"
        stage_taiwan(landing, staging, SECRET, workers=workers, chunk_bytes=300)
        report = consolidate_taiwan(staging, threads=2).to_dict()
        tables = {k: _table(staging, k) for k in report["tables"]}
        q = read_quarantine(staging / "quarantine").sort_by([("source_file", "ascending"), ("row_number", "ascending")])
        outs.append((report, tables, q))
    assert outs[0][0] == outs[1][0]
    assert all(outs[0][1][k].equals(outs[1][1][k]) for k in outs[0][1])
    assert outs[0][2].equals(outs[1][2])


def test_table_columns_declare_what_consolidation_writes(consolidated) -> None:
    """register_staging_views builds empty views from table_columns: it must match the files."""
    from connectors.taiwan.consolidate import table_columns

    staging = consolidated[0]
    written = 0
    for ft in layout.FILE_TYPES:
        files = sorted((staging / "tables" / ft.key).glob("*.parquet"))
        if not files:
            continue
        schema = pq.read_schema(files[0])
        names = {"date32[day]": "date32", "double": "float64"}
        assert [(f.name, names.get(str(f.type), str(f.type))) for f in schema] == table_columns(ft), ft.key
        written += 1
    assert written >= 6
