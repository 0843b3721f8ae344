"""stage_finland + consolidate_finland on small hand-written Latin-1 ';' files (and one FinnGen TSV).

Checks the layout check, decoding, line-level reasons, the consolidation rules
of ``connectors.finland.consolidate`` (duplicate_row, episode_update,
duplicate_key, orphan_diagnosis, orphan_visit_code) and that every input line
ends in exactly one place (staged table, stage quarantine, consolidate
quarantine or merged).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from finland_raw import BAD_HETU, HETU, line, row, write_raw

from connectors.finland import layout
from connectors.finland.consolidate import consolidate_finland
from connectors.finland.stage import stage_finland
from connectors.pseudonym import Pseudonymiser
from connectors.quarantine import read_quarantine
from connectors.staging import LayoutMismatch
from connectors.typed_columns import staging_schema

SECRET = "test-site-secret"
KEY = Pseudonymiser(SECRET).one


def _read_dir(folder: Path) -> pa.Table:
    files = sorted(folder.glob("*.parquet"))
    return pa.concat_tables([pq.read_table(f) for f in files])


def _landing(landing: Path) -> dict[str, int]:
    """The shared landing folder; returns data lines per landing file."""
    pop = layout.POPULATION
    files = {
        write_raw(landing, "population", [
            row("population"),  # 2 kept (Jyväskylä in Latin-1)
            row("population", HETU=HETU[1], SUKUPUOLI="2", SYNTYMAPV="1.1.1950", KOTIKUNTA="109",
                KUNTA_NIMI="Hämeenlinna"),  # 3 kept
            line(pop, row("population", HETU=HETU[2], SUKUPUOLI="1", SYNTYMAPV="15.06.1975",
                          KUNTA_NIMI="Hämeenlinna")).encode("utf-8"),  # 4 wrong_encoding
            line(pop, row("population", HETU=HETU[3]))[:25],  # 5 truncated: wrong_field_count
            row("population", KOTIKUNTA="091", KUNTA_NIMI="Helsinki"),  # 6 same person, other values: duplicate_key
            row("population", HETU=HETU[1], SUKUPUOLI="2", SYNTYMAPV="1.1.1950", KOTIKUNTA="109",
                KUNTA_NIMI="Hämeenlinna"),  # 7 exact repeat of 3: duplicate_row
            row("population", HETU=BAD_HETU),  # 8 invalid_national_id
        ]): 7,
        write_raw(landing, "hilmo", [
            row("hilmo", HILMO_ID="H1", TUPVA="20.12.2019 22:10", LPVM=""),  # 2 open at year end: episode_update
            row("hilmo", HILMO_ID="H2"),  # 3 kept
            row("hilmo", HILMO_ID="H2"),  # 4 exact repeat: duplicate_row
            row("hilmo", HILMO_ID="H3", TNRO=BAD_HETU),  # 5 invalid_national_id
        ], year=2019): 4,
        write_raw(landing, "hilmo", [
            row("hilmo", HILMO_ID="H1", TUPVA="20.12.2019 22:10", LPVM="05.01.2020"),  # 2 final report: kept
            row("hilmo", HILMO_ID="H2", TNRO=HETU[1], TUPVA="01.03.2020 09:00", LPVM="02.03.2020"),  # 3 duplicate_key
        ], year=2020): 2,
        write_raw(landing, "hilmo_diag", [
            row("hilmo_diag", HILMO_ID="H2", KENTTA="PDGE", N="0", KOODI="E113"),  # 2 kept
            row("hilmo_diag", HILMO_ID="H2", KENTTA="PDGO", N="0", KOODI="H360"),  # 3 kept
            row("hilmo_diag", HILMO_ID="H3", KENTTA="PDGO", N="0", KOODI="I219"),  # 4 orphan (H3 quarantined)
        ], year=2019): 3,
        write_raw(landing, "hilmo_diag", [
            row("hilmo_diag", HILMO_ID="H1", KENTTA="PDGO", N="0", KOODI="I219"),  # 2 kept
        ], year=2020): 1,
        write_raw(landing, "hilmo_proc", [
            row("hilmo_proc", HILMO_ID="H9", N="0", TOIMP="FNG02"),  # 2 orphan: no episode H9
        ], year=2019): 1,
        write_raw(landing, "avohilmo", [row("avohilmo")], year=2019): 1,  # 2 kept
        write_raw(landing, "avohilmo_icd10", [
            row("avohilmo_icd10"),  # 2 kept
            row("avohilmo_icd10", AVOHILMO_ID="A0000000000099"),  # 3 orphan_visit_code
        ], year=2019): 2,
        write_raw(landing, "avohilmo_icpc2", [
            row("avohilmo_icpc2", JARJESTYS="1", ICPC2="-30"),  # 2 kept
            row("avohilmo_icpc2", AVOHILMO_ID="A0000000000099"),  # 3 orphan_visit_code
        ], year=2019): 2,
        write_raw(landing, "kela_purchase", [row("kela_purchase"), row("kela_purchase", VNRO="")], year=2019): 2,
        write_raw(landing, "finngen", [
            row("finngen"),  # 2 kept, NA codes null
            row("finngen", SOURCE="DEATH", CODE1="I219", CODE4="NA", ICDVER="10", CATEGORY="U",
                INDEX="FG1_DEATH_1"),  # 3 kept
            row("finngen", EVENT_AGE="NA"),  # 4 missing_required
        ]): 3,
    }
    return {p.relative_to(landing).as_posix(): n for p, n in files.items()}


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[Path, Path, dict[str, int], object, object]:
    tmp = tmp_path_factory.mktemp("fi")
    landing, staging = tmp / "landing", tmp / "staging"
    lines = _landing(landing)
    stage_report = stage_finland(landing, staging, SECRET, workers=1)
    cons_report = consolidate_finland(staging, threads=1)
    return landing, staging, lines, stage_report, cons_report


def _placements(staging: Path) -> dict[tuple[str, int], list[str]]:
    """(source file, line) -> where it ended: 'table:<type>', 'stage:<reason>', 'consolidate:<reason>', 'merged:..'."""
    out: dict[tuple[str, int], list[str]] = {}
    for folder in sorted((staging / "tables").iterdir()):
        t = _read_dir(folder)
        for f, r in zip(t.column("_source_file").to_pylist(), t.column("_row_number").to_pylist()):
            out.setdefault((f, r), []).append(f"table:{folder.name}")
    for sub in ("stage", "consolidate"):
        if (staging / "quarantine" / sub).exists():
            q = read_quarantine(staging / "quarantine" / sub)
            for f, r, reason in zip(*(q.column(c).to_pylist() for c in ("source_file", "row_number", "reason"))):
                out.setdefault((f, r), []).append(f"{sub}:{reason}")
    for path in sorted((staging / "merged").glob("*.parquet")):
        m = pq.read_table(path)
        for f, r, reason in zip(*(m.column(c).to_pylist() for c in ("source_file", "row_number", "reason"))):
            out.setdefault((f, r), []).append(f"merged:{reason}")
    return out


def test_header_mismatch_names_the_file(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    cols = layout.HILMO.column_names
    write_raw(landing, "hilmo", [row("hilmo")], header=[c if c != "LPVM" else "LPVM2" for c in cols])
    with pytest.raises(LayoutMismatch, match=r"thl_hilmo_2019\.csv.*THL_HILMO.*missing columns \['LPVM'\]"):
        stage_finland(landing, tmp_path / "staging", SECRET, workers=1)
    assert not (tmp_path / "staging" / "raw").exists()  # nothing written before the check
    landing2 = tmp_path / "landing2"
    write_raw(landing2, "kela_reimb", [row("kela_reimb")], header=cols[:0] + layout.KELA_REIMB.column_names[::-1])
    with pytest.raises(LayoutMismatch, match=r"kela_erko\.csv.*different order"):
        stage_finland(landing2, tmp_path / "staging", SECRET, workers=1)
    landing3 = tmp_path / "landing3"  # a comma-separated file is one unknown column for the ';' layout
    (landing3).mkdir()
    (landing3 / "kela_erko.csv").write_bytes(",".join(layout.KELA_REIMB.column_names).encode() + b"\n")
    with pytest.raises(LayoutMismatch, match=r"kela_erko\.csv"):
        stage_finland(landing3, tmp_path / "staging", SECRET, workers=1)


def test_stage_counts_add_up_per_file_and_reasons(run) -> None:
    _, staging, lines, report, _ = run
    by_file = {f.source_file: f for f in report.files}
    assert {k: v.rows_in for k, v in by_file.items()} == lines
    for f in report.files:
        assert f.rows_in == f.rows_staged + sum(f.quarantined.values()), f.source_file
    assert by_file["dvv_vaesto.csv"].quarantined == {
        "wrong_encoding": 1, "wrong_field_count": 1, "invalid_national_id": 1
    }
    assert by_file["thl_hilmo_2019.csv"].quarantined == {"invalid_national_id": 1}
    assert by_file["finngen_longitudinal.tsv"].quarantined == {"missing_required": 1}
    assert by_file["kela_ostot_2019.csv"].quarantined == {"missing_required": 1}
    assert report.unrecognised_files == []
    q = read_quarantine(staging / "quarantine" / "stage")
    pop = q.filter(pc.equal(q.column("file_type"), "population"))
    assert dict(zip(pop.column("row_number").to_pylist(), pop.column("reason").to_pylist())) == {
        4: "wrong_encoding", 5: "wrong_field_count", 8: "invalid_national_id"
    }
    everything = " ".join(str(v) for col in q.columns for v in col.to_pylist())
    assert BAD_HETU not in everything and HETU[2] not in everything  # not even from the UTF-8 or truncated line


def test_latin1_text_is_decoded(run) -> None:
    _, staging, _, _, _ = run
    pop = pq.read_table(staging / "tables" / "population" / "part-0.parquet")
    assert staging_schema(layout.POPULATION).names == pop.column_names
    assert sorted(pop.column("KUNTA_NIMI").to_pylist()) == ["Hämeenlinna", "Jyväskylä"]
    assert sorted(pop.column("person_key").to_pylist()) == sorted([KEY(HETU[0]), KEY(HETU[1])])


def test_every_line_ends_in_exactly_one_place(run) -> None:
    _, staging, lines, _, cons = run
    placed = _placements(staging)
    expected = {(f, r) for f, n in lines.items() for r in range(2, n + 2)}
    assert set(placed) == expected
    assert {k: v for k, v in placed.items() if len(v) != 1} == {}
    for t, entry in cons.tables.items():
        assert entry.rows_in == entry.rows_out + sum(entry.quarantined.values()) + sum(entry.merged.values()), t


def test_consolidation_rules(run) -> None:
    _, staging, _, _, cons = run
    placed = {k: v[0] for k, v in _placements(staging).items()}
    assert placed[("thl_hilmo_2019.csv", 2)] == "merged:episode_update"  # open at year end
    assert placed[("thl_hilmo_2020.csv", 2)] == "table:hilmo"  # the report with LPVM is kept
    assert placed[("thl_hilmo_2019.csv", 3)] == "table:hilmo"
    assert placed[("thl_hilmo_2019.csv", 4)] == "consolidate:duplicate_row"
    assert placed[("thl_hilmo_2019.csv", 5)] == "stage:invalid_national_id"
    assert placed[("thl_hilmo_2020.csv", 3)] == "consolidate:duplicate_key"  # H2 of another person
    assert placed[("thl_hilmo_dg_2019.csv", 4)] == "consolidate:orphan_diagnosis"  # H3 quarantined
    assert placed[("thl_hilmo_dg_2019.csv", 2)] == placed[("thl_hilmo_dg_2020.csv", 2)] == "table:hilmo_diag"
    assert placed[("thl_hilmo_toimp_2019.csv", 2)] == "consolidate:orphan_diagnosis"
    assert placed[("thl_avohilmo_icd10_2019.csv", 3)] == "consolidate:orphan_visit_code"
    assert placed[("thl_avohilmo_icpc2_2019.csv", 3)] == "consolidate:orphan_visit_code"
    assert placed[("dvv_vaesto.csv", 6)] == "consolidate:duplicate_key"
    assert placed[("dvv_vaesto.csv", 7)] == "consolidate:duplicate_row"
    assert cons.tables["hilmo"].merged == {"episode_update": 1}
    assert cons.tables["hilmo"].quarantined == {"duplicate_row": 1, "duplicate_key": 1}
    assert cons.tables["population"].quarantined == {"duplicate_key": 1, "duplicate_row": 1}
    merged = pq.read_table(staging / "merged" / "hilmo.parquet").to_pylist()
    assert merged == [{"source_file": "thl_hilmo_2019.csv", "row_number": 2, "reason": "episode_update",
                       "kept_source_file": "thl_hilmo_2020.csv", "kept_row_number": 2}]
    hilmo = pq.read_table(staging / "tables" / "hilmo" / "part-0.parquet").to_pylist()
    h1 = [r for r in hilmo if r["HILMO_ID"] == "H1"]
    assert len(h1) == 1 and str(h1[0]["LPVM"]) == "2020-01-05" and str(h1[0]["TUPVA"]) == "2019-12-20"
    q = pq.read_table(staging / "quarantine" / "consolidate" / "hilmo_diag.parquet").to_pylist()
    assert q[0]["detail"] == "HILMO_ID H3 matches no kept hilmo row" and q[0]["column"] == "HILMO_ID"
    qp = pq.read_table(staging / "quarantine" / "consolidate" / "population.parquet").to_pylist()
    assert {r["reason"]: r["detail"] for r in qp} == {
        "duplicate_key": "person already given by dvv_vaesto.csv line 2",
        "duplicate_row": "exact repeat of dvv_vaesto.csv line 3",
    }


def test_finngen_tsv_with_na_is_staged(run) -> None:
    _, staging, _, _, _ = run
    fg = pq.read_table(staging / "tables" / "finngen" / "part-0.parquet")
    assert fg.column("_row_number").to_pylist() == [2, 3]
    assert fg.column("CODE2").to_pylist() == [None, None] and fg.column("CODE4").to_pylist() == ["3", None]
    assert fg.column("CATEGORY").to_pylist() == ["0", "U"]
    assert set(fg.column("person_key").to_pylist()) == {KEY("FG00000001")}


def test_an_episode_reported_twice_both_open_keeps_the_later_file(tmp_path: Path) -> None:
    landing, staging = tmp_path / "landing", tmp_path / "staging"
    write_raw(landing, "hilmo", [row("hilmo", LPVM="")], year=2019)
    write_raw(landing, "hilmo", [row("hilmo", LPVM="", PALTU="10999")], year=2020)
    stage_finland(landing, staging, SECRET, workers=1)
    cons = consolidate_finland(staging, threads=1)
    assert cons.tables["hilmo"].merged == {"episode_update": 1}
    kept = pq.read_table(staging / "tables" / "hilmo" / "part-0.parquet").to_pylist()
    assert [(r["_source_file"], r["PALTU"]) for r in kept] == [("thl_hilmo_2020.csv", "10999")]


def _outputs(staging: Path) -> dict[str, list[dict]]:
    out = {}
    for path in sorted(staging.rglob("*.parquet")):
        t = pq.read_table(path)
        out[path.relative_to(staging).as_posix()] = t.to_pylist()
    return out


def test_workers_1_and_2_give_identical_outputs(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    _landing(landing)
    results = {}
    for workers in (1, 2):
        staging = tmp_path / f"staging{workers}"
        rep = stage_finland(landing, staging, SECRET, chunk_bytes=256, workers=workers)
        cons = consolidate_finland(staging, threads=1)
        results[workers] = (rep.to_dict(), cons.to_dict(), _outputs(staging))
    assert max(f["chunks"] for f in results[1][0]["files"]) > 1  # several chunks per file were really used
    assert results[1] == results[2]
