"""Bulk translation: validity dates, unmapped policy, one-to-many, order, coverage."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from terminology.athena import load_athena
from terminology.translate import mapping_coverage, translate_column, unmapped_codes

HEAD = {
    "CONCEPT": "concept_id\tconcept_name\tdomain_id\tvocabulary_id\tconcept_class_id\tstandard_concept\t"
               "concept_code\tvalid_start_date\tvalid_end_date\tinvalid_reason",
    "CONCEPT_RELATIONSHIP": "concept_id_1\tconcept_id_2\trelationship_id\tvalid_start_date\tvalid_end_date\t"
                            "invalid_reason",
    "VOCABULARY": "vocabulary_id\tvocabulary_name\tvocabulary_reference\tvocabulary_version\tvocabulary_concept_id",
}


def _write(folder: Path, name: str, rows: list[str]) -> None:
    (folder / f"{name}.csv").write_text("\n".join([HEAD[name], *rows]) + "\n", encoding="utf-8")


@pytest.fixture()
def dated_con(tmp_path):
    """A tiny vocabulary: code 'X1' changes meaning on 2016-01-01; 'X2' maps to two concepts."""
    _write(tmp_path, "CONCEPT", [
        "10\tOld meaning\tCondition\tTEST\tCode\t\tX1\t19700101\t20151231\tD",
        "11\tNew meaning\tCondition\tTEST\tCode\t\tX1\t20160101\t20991231\t",
        "12\tCombination\tCondition\tTEST\tCode\t\tX2\t19700101\t20991231\t",
        "13\tNo map\tCondition\tTEST\tCode\t\tX3\t19700101\t20991231\t",
        "100\tTarget A\tCondition\tSNOMED\tClinical Finding\tS\tA\t19700101\t20991231\t",
        "101\tTarget B\tCondition\tSNOMED\tClinical Finding\tS\tB\t19700101\t20991231\t",
        "102\tTarget C\tObservation\tSNOMED\tClinical Finding\tS\tC\t19700101\t20991231\t",
    ])
    _write(tmp_path, "CONCEPT_RELATIONSHIP", [
        "10\t100\tMaps to\t19700101\t20991231\t",
        "11\t101\tMaps to\t19700101\t20991231\t",
        "12\t101\tMaps to\t19700101\t20991231\t",
        "12\t102\tMaps to\t19700101\t20991231\t",
        "13\t100\tMaps to\t19700101\t20151231\tD",  # retired mapping
        "100\t100\tMaps to\t19700101\t20991231\t",
    ])
    _write(tmp_path, "VOCABULARY", ["TEST\tTest\t\tv1\t0", "SNOMED\tSNOMED\t\tv2\t0"])
    con = duckdb.connect()
    load_athena(con, tmp_path)
    return con


def test_validity_dates_pick_the_concept_valid_on_the_event_date(dated_con):
    codes = pa.table({
        "vocabulary_id": ["TEST", "TEST", "TEST"],
        "source_code": ["X1", "X1", "X1"],
        "event_date": pa.array([dt.date(2015, 12, 31), dt.date(2016, 1, 1), None], type=pa.date32()),
    })
    out = translate_column(dated_con, codes)
    assert out["source_concept_id"].to_pylist()[:2] == [10, 11]
    assert out["concept_id"].to_pylist()[:2] == [100, 101]
    # a null date matches any validity range: both concepts, one row each
    assert sorted(out["concept_id"].to_pylist()[2:]) == [100, 101]


def test_code_outside_any_validity_range_is_unmapped(dated_con):
    codes = pa.table({"vocabulary_id": ["TEST"], "source_code": ["X1"],
                      "event_date": pa.array([dt.date(1960, 1, 1)], type=pa.date32())})
    out = translate_column(dated_con, codes)
    assert out.to_pylist() == [{"vocabulary_id": "TEST", "source_code": "X1", "event_date": dt.date(1960, 1, 1),
                                "source_concept_id": 0, "concept_id": 0, "domain_id": None}]


def test_unmapped_one_to_many_order_and_passthrough(dated_con):
    codes = pa.table({
        "vocabulary_id": ["TEST", "TEST", "TEST", "TEST", "SNOMED"],
        "source_code": ["NOPE", "X2", "X3", None, "A"],
        "row": [1, 2, 3, 4, 5],
    })
    out = translate_column(dated_con, codes).to_pylist()
    assert [r["row"] for r in out] == [1, 2, 2, 3, 4, 5]
    assert [(r["source_concept_id"], r["concept_id"], r["domain_id"]) for r in out] == [
        (0, 0, None),  # unknown code
        (12, 101, "Condition"), (12, 102, "Observation"),  # one row per target
        (13, 0, None),  # known source concept, retired mapping: source id kept, concept 0
        (0, 0, None),  # null code
        (100, 100, "Condition"),  # standard concepts map to themselves
    ]
    assert [r["source_code"] for r in out][:2] == ["NOPE", "X2"]  # source value kept


def test_timestamps_are_accepted_as_event_dates(dated_con):
    codes = pa.table({"vocabulary_id": ["TEST"], "source_code": ["X1"],
                      "event_date": pa.array([dt.datetime(2016, 6, 1, 12)], type=pa.timestamp("us"))})
    assert translate_column(dated_con, codes)["concept_id"].to_pylist() == [101]


def test_input_validation(dated_con):
    with pytest.raises(ValueError, match="missing"):
        translate_column(dated_con, pa.table({"source_code": ["X1"]}))
    with pytest.raises(ValueError, match="already has"):
        translate_column(dated_con, pa.table({"vocabulary_id": ["TEST"], "source_code": ["X1"], "concept_id": [1]}))


def test_coverage_and_unmapped_reports(dated_con):
    codes = pa.table({"vocabulary_id": ["TEST"] * 4, "source_code": ["X2", "NOPE", "NOPE", "X3"]})
    out = translate_column(dated_con, codes)
    cov = mapping_coverage(dated_con, out).to_pylist()
    assert cov == [{"vocabulary_id": "TEST", "n_rows": 5, "n_mapped": 2, "share_mapped": 0.4, "n_codes": 3,
                    "n_unmapped_codes": 2}]
    un = unmapped_codes(dated_con, out).to_pylist()
    assert un == [{"vocabulary_id": "TEST", "source_code": "NOPE", "n_rows": 2},
                  {"vocabulary_id": "TEST", "source_code": "X3", "n_rows": 1}]
