"""stage_taiwan: landing CSV -> staged Parquet + quarantine, with reasons, bounded chunks, no raw IDs."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from taiwan_raw import PID, line, row, write_raw

from connectors.pseudonym import Pseudonymiser
from connectors.quarantine import QUARANTINE_SCHEMA, read_quarantine
from connectors.taiwan import layout
from connectors.taiwan.stage import LayoutMismatch, stage_taiwan
from connectors.typed_columns import staging_schema

SECRET = "test-site-secret"
BAD_ID = "A123456788"  # fails the check digit


def _read_dir(folder: Path) -> pa.Table:
    files = sorted(folder.glob("*.parquet"))
    return pa.concat_tables([pq.read_table(f) for f in files])


def _landing_with_every_reason(landing: Path) -> None:
    op = layout.OPDTE
    good = row("opdte")
    write_raw(
        landing,
        "opdte",
        [
            good,  # 2
            row("opdte", ID=BAD_ID),  # 3 invalid_national_id
            row("opdte", SEQ_NO="2", FUNC_DATE="20140231"),  # 4 impossible_date
            row("opdte", SEQ_NO="3", T_DOT="12a"),  # 5 bad_number
            row("opdte", SEQ_NO="4", HOSP_ID="   "),  # 6 missing_required
            line(op, row("opdte", SEQ_NO="5"))[:40],  # 7 truncated: wrong_field_count
            line(op, row("opdte", SEQ_NO="6", FUNC_TYPE="許育")).encode("cp950")[:-1] + b"\xff",  # 8 undecodable
            line(op, row("opdte", SEQ_NO="7", FUNC_TYPE="中文")).encode("utf-8"),  # 9 wrong_encoding
            row("opdte", SEQ_NO="8", ID=PID[1]),  # 10 good
        ],
    )


def test_every_stage_reason_is_produced_and_good_rows_kept(tmp_path: Path) -> None:
    landing, staging = tmp_path / "landing", tmp_path / "staging"
    _landing_with_every_reason(landing)
    report = stage_taiwan(landing, staging, SECRET)
    (f,) = report.files
    assert f.rows_in == 9 and f.rows_staged == 2
    assert f.quarantined == {
        "invalid_national_id": 1, "impossible_date": 1, "bad_number": 1, "missing_required": 1,
        "wrong_field_count": 1, "undecodable": 1, "wrong_encoding": 1,
    }
    staged = _read_dir(staging / "raw" / "opdte")
    assert staged.schema == staging_schema(layout.OPDTE)
    assert staged.column("_row_number").to_pylist() == [2, 10]
    p = Pseudonymiser(SECRET)
    assert staged.column("person_key").to_pylist() == [p.one(PID[0]), p.one(PID[1])]
    assert staged.column("_source_file").to_pylist() == ["h_nhi_opdte10301.csv"] * 2
    q = read_quarantine(staging / "quarantine")
    assert q.schema == QUARANTINE_SCHEMA
    by_row = {r["row_number"]: (r["reason"], r["column"]) for r in q.to_pylist()}
    assert by_row == {
        3: ("invalid_national_id", "ID"), 4: ("impossible_date", "FUNC_DATE"), 5: ("bad_number", "T_DOT"),
        6: ("missing_required", "HOSP_ID"), 7: ("wrong_field_count", None), 8: ("undecodable", None),
        9: ("wrong_encoding", None),
    }
    d = report.to_dict()
    assert d["rows_in"] == 9 and d["rows_staged"] == 2 and sum(d["quarantined"].values()) == 7


def test_no_raw_identifier_anywhere_in_the_output(tmp_path: Path) -> None:
    landing, staging = tmp_path / "landing", tmp_path / "staging"
    _landing_with_every_reason(landing)
    write_raw(landing, "enrol", [row("enrol"), row("enrol", ID=PID[2]), row("enrol", ID=BAD_ID)])
    write_raw(landing, "cancer", [row("cancer"), row("cancer", ID="a1234")])
    stage_taiwan(landing, staging, SECRET)
    raw_ids = set(PID) | {BAD_ID, "a1234"}
    files = list(staging.rglob("*.parquet"))
    assert len(files) >= 4
    for f in files:
        blob = f.read_bytes()
        assert not any(i.encode() in blob for i in raw_ids), f
        table = pq.read_table(f)
        for col in table.columns:
            if pa.types.is_string(col.type):
                text = "\n".join(v for v in col.to_pylist() if v is not None)
                assert not any(i in text for i in raw_ids), (f, col)


def test_chinese_text_survives_and_chunking_does_not_change_the_result(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    names = ["許功蓋育", "育許", "蓋", "台北市立醫院"]
    write_raw(landing, "hosb", [row("hosb", HOSP_ID=f"{i:010d}", HOSP_NAME=n) for i, n in enumerate(names)],
              newline="\r\n")
    write_raw(landing, "drug", [row("drug", DRUG_NAME_C="許功蓋育")])
    results = []
    for chunk_bytes in (16, 1 << 20):
        staging = tmp_path / f"s{chunk_bytes}"
        rep = stage_taiwan(landing, staging, SECRET, chunk_bytes=chunk_bytes)
        results.append(_read_dir(staging / "raw" / "hosb"))
        assert rep.quarantined == {}
    assert results[0].equals(results[1])
    assert results[0].column("HOSP_NAME").to_pylist() == names
    assert len(list((tmp_path / "s16" / "raw" / "hosb").glob("*.parquet"))) > 1


def test_utf8_landing(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    write_raw(landing, "hosb", [row("hosb", HOSP_NAME="許功蓋育")], encoding="utf-8")
    rep = stage_taiwan(landing, tmp_path / "s", SECRET, encoding="utf-8")
    assert rep.rows_staged == 1
    assert _read_dir(tmp_path / "s" / "raw" / "hosb").column("HOSP_NAME").to_pylist() == ["許功蓋育"]


def test_layout_mismatch_names_file_and_columns(tmp_path: Path) -> None:
    landing, staging = tmp_path / "landing", tmp_path / "staging"
    write_raw(landing, "hosb", [row("hosb")])
    stage_taiwan(landing, staging, SECRET)
    bad = landing / "h_nhi_opdte10301.csv"
    cols = layout.OPDTE.column_names
    bad.write_text(",".join([c for c in cols if c != "T_DOT"] + ["EXTRA"]) + "\n")
    with pytest.raises(LayoutMismatch, match=r"h_nhi_opdte10301\.csv.*missing columns \['T_DOT'\].*EXTRA"):
        stage_taiwan(landing, staging, SECRET)
    assert list((staging / "raw" / "hosb").glob("*.parquet")), "a failed run must not wipe the previous staging"
    bad.write_text(",".join(reversed(cols)) + "\n")
    with pytest.raises(LayoutMismatch, match="different order"):
        stage_taiwan(landing, staging, SECRET)
    bad.write_bytes(b"")
    with pytest.raises(LayoutMismatch, match="no header"):
        stage_taiwan(landing, staging, SECRET)


def test_header_only_unrecognised_and_skipped_files(tmp_path: Path) -> None:
    landing, staging = tmp_path / "landing", tmp_path / "staging"
    write_raw(landing, "opdto", [])
    (landing / "notes.txt").write_text("hello")
    (landing / "sub").mkdir()
    (landing / "sub" / "h_nhi_opdte10399.csv").write_text("x")  # month 99: not a valid name
    (landing / "_manifest.json").write_text("{}")
    (landing / ".hidden").mkdir()
    write_raw(landing / ".hidden", "opdte", [row("opdte")])
    seen = []
    rep = stage_taiwan(landing, staging, SECRET, progress=lambda f, done, total: seen.append((f, done, total)))
    assert rep.unrecognised_files == ["notes.txt", "sub/h_nhi_opdte10399.csv"]
    assert [f.source_file for f in rep.files] == ["h_nhi_opdto10301.csv"]
    (f,) = rep.files
    assert f.rows_in == 0 and f.rows_staged == 0
    empty = _read_dir(staging / "raw" / "opdto")
    assert empty.num_rows == 0 and empty.schema == staging_schema(layout.OPDTO)
    assert seen and seen[-1][1] == seen[-1][2]


def test_rerun_overwrites_instead_of_appending(tmp_path: Path) -> None:
    landing, staging = tmp_path / "landing", tmp_path / "staging"
    _landing_with_every_reason(landing)
    write_raw(landing, "hosb", [row("hosb")])
    first = stage_taiwan(landing, staging, SECRET).to_dict()
    listing = sorted(p.relative_to(staging) for p in staging.rglob("*.parquet"))
    second = stage_taiwan(landing, staging, SECRET).to_dict()
    assert first == second
    assert sorted(p.relative_to(staging) for p in staging.rglob("*.parquet")) == listing
    assert _read_dir(staging / "raw" / "opdte").num_rows == 2
    (landing / "h_nhi_hosb.csv").unlink()
    stage_taiwan(landing, staging, SECRET)
    assert not list((staging / "raw").glob("hosb/*.parquet"))


def _multi_file_landing(landing: Path) -> None:
    _landing_with_every_reason(landing)
    for month in (2, 3):
        write_raw(landing, "opdte", [row("opdte", SEQ_NO=str(i), ID=PID[i % 4]) for i in range(1, 40)]
                  + [row("opdte", SEQ_NO="99", FUNC_DATE="20140231")], name=f"h_nhi_opdte1030{month}.csv")
    write_raw(landing, "opdto", [row("opdto", SEQ_NO=str(i)) for i in range(1, 60)])
    write_raw(landing, "hosb", [row("hosb"), row("hosb", HOSP_ID="2")])
    write_raw(landing, "death", [])  # header only


def _outputs(staging: Path) -> dict[str, pa.Table]:
    return {p.relative_to(staging).as_posix(): pq.read_table(p) for p in sorted(staging.rglob("*.parquet"))}


def test_worker_processes_give_the_same_files_reports_and_progress(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    _multi_file_landing(landing)
    results = {}
    for workers in (1, 2, 3):
        staging = tmp_path / f"staging{workers}"
        seen: list[tuple[str, int, int]] = []
        rep = stage_taiwan(landing, staging, SECRET, chunk_bytes=700, workers=workers,
                           progress=lambda f, done, total: seen.append((f, done, total)))
        results[workers] = (rep.to_dict(), _outputs(staging), seen)
    report1, files1, seen1 = results[1]
    assert sum(f["chunks"] for f in report1["files"]) > len(report1["files"])  # several chunks per file
    for workers in (2, 3):
        report, files, seen = results[workers]
        assert report == report1
        assert files.keys() == files1.keys()
        assert all(files[k].equals(files1[k]) for k in files)
        # progress is reported in this process, per chunk, never backwards, ending at the file size
        assert len(seen) == len(seen1)
        for f in {s[0] for s in seen}:
            done = [d for name, d, _ in seen if name == f]
            total = {t for name, _, t in seen if name == f}
            assert done == sorted(done) and len(total) == 1 and done[-1] == total.pop()


def test_a_worker_error_reaches_the_caller(tmp_path: Path, monkeypatch) -> None:
    import connectors.staging as stage

    def broken(*args, **kwargs):
        raise stage.StageInvariantError("boom in a worker")

    landing = tmp_path / "landing"
    _multi_file_landing(landing)
    monkeypatch.setattr(stage, "type_chunk", broken)  # inherited by the forked workers
    with pytest.raises(stage.StageInvariantError, match="boom in a worker"):
        stage_taiwan(landing, tmp_path / "staging", SECRET, workers=2)
