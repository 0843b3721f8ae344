"""Coverage report: shares per site and vocabulary, top unmapped codes with names, HTML page."""

from __future__ import annotations

import pyarrow as pa
import pytest

from terminology.coverage import coverage_html, coverage_report


def _usage(rows):
    cols = ["source_table", "source_column_group", "vocabulary_id", "source_code", "source_concept_id",
            "target_concept_id", "n_records"]
    return pa.table({c: [r[i] for r in rows] for i, c in enumerate(cols)},
                    schema=pa.schema([(c, pa.int64() if c in ("source_concept_id", "target_concept_id",
                                                              "n_records") else pa.string()) for c in cols]))


def _ids(con, vocab, code):
    return con.execute("SELECT concept_id FROM concept WHERE vocabulary_id = ? AND concept_code = ?",
                       [vocab, code]).fetchall()[0][0]


def test_shares_and_top_unmapped(demo_con):
    icpc = _ids(demo_con, "ICPC", "-50")
    t90 = _ids(demo_con, "ICPC", "T90")
    usage = {
        "finland": _usage([
            ("avohilmo_icpc2", "ICPC2", "ICPC", "T90", t90, 201826, 70),
            ("avohilmo_icpc2", "ICPC2", "ICPC", "-50", icpc, 0, 25),
            ("kela_purchase", "x", "ICPC", "-50", icpc, 0, 5),       # same code from a second table
            ("hilmo_diag", "DG", "ICD10fi", "Q87.8", 0, 0, 3),        # not in the vocabulary at all
        ]),
        "taiwan": _usage([("cd", "ICD", "ICD10CM", "E11.9", 1, 201826, 10)]),
    }
    r = coverage_report(demo_con, usage, top=5)
    icpc_cov = r["sites"]["finland"]["vocabularies"]["ICPC"]
    assert (icpc_cov["records"], icpc_cov["records_mapped"], icpc_cov["codes"], icpc_cov["codes_mapped"]) == \
        (100, 70, 2, 1)
    assert icpc_cov["record_share"] == 0.7 and icpc_cov["code_share"] == 0.5
    top = icpc_cov["top_unmapped"]
    assert [(u["code"], u["records"], u["in_vocabulary"]) for u in top] == [("-50", 30, True)]
    assert top[0]["source_tables"] == ["avohilmo_icpc2", "kela_purchase"]
    assert top[0]["name"] and top[0]["name_fi"]  # English and Finnish names from the store
    q = r["sites"]["finland"]["vocabularies"]["ICD10fi"]["top_unmapped"][0]
    assert (q["code"], q["in_vocabulary"], q["name"]) == ("Q87.8", False, None)
    assert r["sites"]["finland"]["records"] == 103 and r["sites"]["finland"]["record_share"] == round(70 / 103, 4)
    assert r["sites"]["taiwan"]["vocabularies"]["ICD10CM"]["top_unmapped"] == []
    assert list(r["sites"]) == ["finland", "taiwan"]


def test_top_limits_and_orders_by_records_then_code(demo_con):
    rows = [("t", "g", "NHI Drug", f"X{i:03d}", 0, 0, 10 - i // 2) for i in range(8)]
    r = coverage_report(demo_con, {"taiwan": _usage(rows)}, top=3)
    top = r["sites"]["taiwan"]["vocabularies"]["NHI Drug"]["top_unmapped"]
    assert [u["code"] for u in top] == ["X000", "X001", "X002"]
    assert r["sites"]["taiwan"]["vocabularies"]["NHI Drug"]["codes_unmapped"] == 8


def test_html_is_self_contained_and_escaped(demo_con):
    rows = [("t<script>", "g", "ICD10CM", "<b>X</b>", 0, 0, 4)]
    page = coverage_html(coverage_report(demo_con, {"taiwan": _usage(rows)}))
    assert page.startswith("<!doctype html>") and "<script" not in page
    assert "&lt;b&gt;X&lt;/b&gt;" in page and "http" not in page


def test_bad_input(demo_con):
    with pytest.raises(ValueError, match="no site usage"):
        coverage_report(demo_con, {})
    with pytest.raises(ValueError, match="lacks column"):
        coverage_report(demo_con, {"taiwan": pa.table({"vocabulary_id": ["x"]})})
