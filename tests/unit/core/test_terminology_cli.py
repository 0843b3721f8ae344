"""``crossbridge terminology …`` commands against a workdir with fake site runs (no pipeline run)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from crossbridge.cli import main


def _fake_run(workdir: Path, run_id: str, rows: list[tuple]) -> None:
    run = workdir / "runs" / run_id
    (run / "stages").mkdir(parents=True)
    (run / "stages" / "map.json").write_text("{}", encoding="utf-8")
    (run / "summary.json").write_text(json.dumps({"run_id": run_id, "state": "succeeded",
                                                  "finished": "2026-11-21T00:00:00Z"}), encoding="utf-8")
    with duckdb.connect(str(run / "omop.duckdb")) as con:
        con.execute("""CREATE TABLE code_usage (source_table VARCHAR, source_column_group VARCHAR,
                       vocabulary_id VARCHAR, source_code VARCHAR, source_concept_id INTEGER,
                       target_concept_id INTEGER, n_records BIGINT)""")
        con.executemany("INSERT INTO code_usage VALUES (?, ?, ?, ?, ?, ?, ?)", rows)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    w = tmp_path_factory.mktemp("termcli")
    _fake_run(w, "20260101T000000Z-taiwan-aaaaaa", [("cd", "ICD", "ICD10CM", "E11.9", 0, 0, 1)])
    _fake_run(w, "20260102T000000Z-taiwan-bbbbbb", [("cd", "ICD", "ICD10CM", "E11.9", 1, 201826, 9),
                                                    ("cd", "ICD", "ICD10CM", "T88.59", 0, 0, 3)])
    return w


def test_coverage_writes_json_and_html_from_latest_run(workdir, capsys):
    assert main(["terminology", "coverage", "--workdir", str(workdir), "--top", "5"]) == 0
    out = capsys.readouterr()
    assert "finland: no run" in out.err
    assert "taiwan (run 20260102T000000Z-taiwan-bbbbbb): 75.0% of 12 coded records mapped" in out.out
    report = json.loads((workdir / "reports" / "terminology" / "coverage.json").read_text(encoding="utf-8"))
    v = report["sites"]["taiwan"]["vocabularies"]["ICD10CM"]
    assert (v["records"], v["records_mapped"], v["codes"], v["codes_mapped"]) == (12, 9, 2, 1)
    assert v["top_unmapped"][0]["code"] == "T88.59"
    assert report["runs"]["taiwan"]["run_id"] == "20260102T000000Z-taiwan-bbbbbb"
    assert (workdir / "reports" / "terminology" / "coverage.html").read_text(encoding="utf-8").count("T88.59") == 1


def test_coverage_without_runs_fails_clearly(tmp_path, capsys):
    assert main(["terminology", "coverage", "--workdir", str(tmp_path)]) == 1
    assert "no site has a run" in capsys.readouterr().err


def test_missing_store_is_a_usage_error(tmp_path, workdir, capsys):
    assert main(["terminology", "coverage", "--workdir", str(workdir), "--store", str(tmp_path / "no.duckdb")]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """A store built by 'terminology build --store' (the demo vocabulary)."""
    path = tmp_path_factory.mktemp("store") / "vocab.duckdb"
    assert main(["terminology", "build", "--store", str(path)]) == 0
    return path


def test_build_store_and_search_in_three_languages(store, capsys):
    capsys.readouterr()
    assert main(["terminology", "search", "糖尿病", "--store", str(store), "--vocabulary", "ICD10CM"]) == 0
    assert "E11.9" in capsys.readouterr().out
    assert main(["terminology", "search", "Tyypin 2 diabetes", "--store", str(store), "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert any(h["vocabulary_id"] == "ICD10fi" and h["language"] == "fi" for h in hits)
    assert main(["terminology", "search", "zzzzqqq", "--store", str(store)]) == 1


def test_build_with_import_and_bad_spec(tmp_path, store, capsys):
    stcm = tmp_path / "lab.tsv"
    stcm.write_text("source_code\tsource_concept_id\tsource_vocabulary_id\tsource_code_description\t"
                    "target_concept_id\ttarget_vocabulary_id\tvalid_start_date\tvalid_end_date\tinvalid_reason\n"
                    "HBA1C\t0\tLABxb\tGlycated haemoglobin\t0\tNone\t1970-01-01\t2099-12-31\t\n", encoding="utf-8")
    out = tmp_path / "with-lab.duckdb"
    assert main(["terminology", "build", "--store", str(out),
                 "--import", f"stcm={stcm}?offset=2109000000&name=Lab codes"]) == 0
    assert "stcm=" in capsys.readouterr().out
    assert main(["terminology", "search", "HBA1C", "--store", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["concept_id"] == 2109000001
    assert main(["terminology", "build", "--store", str(out), "--import", "xml=foo"]) == 2
    assert "unknown format 'xml'" in capsys.readouterr().err
    bad = tmp_path / "bad.tsv"
    bad.write_text(stcm.read_text(encoding="utf-8").replace("1970-01-01", "1970-13-01"), encoding="utf-8")
    assert main(["terminology", "build", "--store", str(tmp_path / "bad.duckdb"),
                 "--import", f"stcm={bad}?offset=2109000000"]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "line 2" in err
    assert not (tmp_path / "bad.duckdb").exists()  # nothing half-built


def test_export_formats(store, tmp_path, capsys):
    assert main(["terminology", "export", "--store", str(store), "--format", "athena", "--vocabulary-id",
                 "NHI Drug", "--out", str(tmp_path / "nhi")]) == 0
    assert (tmp_path / "nhi" / "CONCEPT.csv").read_text(encoding="utf-8").count("NHI Drug") > 10
    assert main(["terminology", "export", "--store", str(store), "--format", "usagi", "--vocabulary-id",
                 "ICPC", "--out", str(tmp_path / "icpc.csv")]) == 0
    assert "T90" in (tmp_path / "icpc.csv").read_text(encoding="utf-8")
    capsys.readouterr()
    assert main(["terminology", "export", "--store", str(store), "--format", "stcm", "--out",
                 str(tmp_path / "x.tsv")]) == 2
    assert "needs --vocabulary-id" in capsys.readouterr().err
    assert main(["terminology", "export", "--store", str(store), "--format", "usagi", "--vocabulary-id", "Nope",
                 "--out", str(tmp_path / "y.csv")]) == 2
    assert "unknown code system 'Nope'" in capsys.readouterr().err


def test_diff_names_changed_mapping_and_affected_records(tmp_path, capsys):
    import shutil

    from terminology.vocabulary import DEMO_ATHENA_DIR

    new = tmp_path / "new"
    shutil.copytree(DEMO_ATHENA_DIR, new)
    con = duckdb.connect()
    from terminology.athena import load_athena

    load_athena(con, DEMO_ATHENA_DIR)
    e119 = con.execute("SELECT concept_id FROM concept WHERE vocabulary_id = 'ICD10CM' AND concept_code = 'E11.9'"
                       ).fetchall()[0][0]
    rel = new / "CONCEPT_RELATIONSHIP.csv"
    rel.write_text(rel.read_text(encoding="utf-8").replace(f"{e119}\t201826\tMaps to", f"{e119}\t201820\tMaps to"),
                   encoding="utf-8")
    wh = tmp_path / "wh.duckdb"
    with duckdb.connect(str(wh)) as w:
        w.execute("CREATE TABLE condition_occurrence (condition_occurrence_id BIGINT, condition_concept_id INTEGER, "
                  "condition_source_concept_id INTEGER)")
        w.execute(f"INSERT INTO condition_occurrence VALUES (1, 201826, {e119}), (2, 201826, {e119}), (3, 0, 0)")
    report = tmp_path / "diff.json"
    assert main(["terminology", "diff", str(DEMO_ATHENA_DIR), str(new), "--warehouse", f"duckdb:{wh}",
                 "--json", str(report)]) == 0
    out = capsys.readouterr().out
    assert "2 records would change" in out or "affected" in out
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["diff"]["totals"]["maps_to_changed"] == 1
    assert data["warehouse_impact"]["totals"]["affected_records"] == 2


def test_translate_plain_json_fhir_and_exit_status(store, capsys):
    capsys.readouterr()
    assert main(["terminology", "translate", "--store", str(store), "--system", "icd-10-cm-tw", "--code", "E119",
                 "--to", "icd10fi"]) == 0
    out = capsys.readouterr().out
    assert "ICD10CM E11.9 → SNOMED 44054006 ← ICD10fi E11.9" in out
    assert main(["terminology", "translate", "--store", str(store), "--system", "ICD10CM", "--code", "E11.9",
                 "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["result"] is True and d["matches"][0]["concept_id"] == 201826
    assert main(["terminology", "translate", "--store", str(store), "--system", "ICD10CM", "--code", "E11.9",
                 "--fhir"]) == 0
    from fhir.resources.R4B.parameters import Parameters

    Parameters.model_validate(json.loads(capsys.readouterr().out))
    assert main(["terminology", "translate", "--store", str(store), "--system", "ICD10CM", "--code", "ZZZ"]) == 1
    assert main(["terminology", "translate", "--store", str(store), "--system", "ICD-42", "--code", "X"]) == 2
    assert "unknown code system 'ICD-42'" in capsys.readouterr().err


def test_concept_set_lists_every_site_and_what_did_not_translate(store, tmp_path, capsys):
    out_json = tmp_path / "t2d.json"
    assert main(["terminology", "concept-set", "--store", str(store), "--system", "ICD10CM", "--code", "E11%",
                 "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    assert "ICD10fi" in out and "ICPC" in out and "ICD9CM" in out
    d = json.loads(out_json.read_text(encoding="utf-8"))
    assert d["standard_concepts"][0]["concept_id"] == 201826
    assert main(["terminology", "concept-set", "--store", str(store), "--system", "ICD10CM", "--code", "X99%"]) == 1
    assert "X99%" in capsys.readouterr().err


def test_review_export_and_import_round(workdir, store, tmp_path, capsys):
    out = tmp_path / "review.usagi.csv"
    assert main(["terminology", "review-export", "--workdir", str(workdir), "--store", str(store),
                 "--vocabulary-id", "ICD10CM", "--sites", "taiwan", "--out", str(out)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["codes"] == 1 and report["records"] == 3
    assert out.read_text(encoding="utf-8").splitlines()[1].startswith("T88.59,,3,")
    assert main(["terminology", "review-import", str(out), "--store", str(store), "--vocabulary-id", "ICD10CM"]) == 0
    assert json.loads(capsys.readouterr().out)["unchecked_codes"] == 1
    assert main(["terminology", "review-import", str(out), "--store", str(store), "--vocabulary-id", "ICD10CM",
                 "--out", str(tmp_path / "m.csv")]) == 2
    assert "--out needs --base" in capsys.readouterr().err
    assert main(["terminology", "review-export", "--workdir", str(workdir), "--store", str(store),
                 "--vocabulary-id", "ICPC", "--out", str(out)]) == 1


def test_fhir_export_then_import_round_trip(store, tmp_path, capsys):
    from fhir.resources.R4B.codesystem import CodeSystem
    from fhir.resources.R4B.conceptmap import ConceptMap

    cs, cm = tmp_path / "nhi.codesystem.json", tmp_path / "nhi.conceptmap.json"
    assert main(["terminology", "export", "--store", str(store), "--format", "fhir-codesystem",
                 "--vocabulary-id", "NHI Drug", "--out", str(cs)]) == 0
    assert main(["terminology", "export", "--store", str(store), "--format", "fhir-conceptmap",
                 "--vocabulary-id", "NHI Drug", "--out", str(cm)]) == 0
    resource = json.loads(cs.read_text(encoding="utf-8"))
    CodeSystem.model_validate(resource)
    ConceptMap.model_validate(json.loads(cm.read_text(encoding="utf-8")))
    assert resource["url"] == "https://twcore.mohw.gov.tw/ig/twcore/CodeSystem/medication-nhi-tw"
    assert any(d.get("language") == "zh-TW" for c in resource["concept"] for d in c.get("designation", []))
    # the export keeps OMOP ids as properties: importing it into another id block is refused, naming the place
    capsys.readouterr()
    out = tmp_path / "plus.duckdb"
    assert main(["terminology", "build", "--store", str(out),
                 "--import", f"fhir-codesystem={cs}?vocabulary=NHI Drug copy&offset=2109100000"]) == 2
    assert "concept[0].property[0]: concept-id outside the block" in capsys.readouterr().err
    # without the ids, a copy under a new vocabulary id loads as a new vocabulary in that block
    for c in resource["concept"]:
        c["property"] = [p for p in c.get("property", []) if p["code"] != "concept-id"]
    cs.write_text(json.dumps(resource, ensure_ascii=False), encoding="utf-8")
    assert main(["terminology", "build", "--store", str(out),
                 "--import", f"fhir-codesystem={cs}?vocabulary=NHI Drug copy&offset=2109100000"]) == 0
    capsys.readouterr()
    assert main(["terminology", "search", "AC46525100", "--store", str(out), "--vocabulary", "NHI Drug copy",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["concept_id"] > 2109100000


def test_demo_coverage_report_written_for_sites_with_runs(workdir, capsys):
    from crossbridge.terminology_cli import write_coverage_report

    out = write_coverage_report(workdir, ("taiwan", "finland"))
    assert out == workdir / "reports" / "terminology"
    report = json.loads((out / "coverage.json").read_text(encoding="utf-8"))
    assert list(report["sites"]) == ["taiwan"]
    assert "T88.59" in (out / "coverage.html").read_text(encoding="utf-8")
    assert write_coverage_report(workdir / "empty", ("finland",)) is None
