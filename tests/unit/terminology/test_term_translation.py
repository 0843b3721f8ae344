"""$translate semantics: standard and cross-vocabulary targets, equivalence, hierarchy, dates, bulk = single, FHIR."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from fhir.resources.R4B.parameters import Parameters
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from terminology.athena import load_athena
from terminology.errors import UnknownCodeSystem
from terminology.overlay import FHIR_EQUIVALENCES
from terminology.translation import (
    BULK_COLUMNS, PathStep, compose, has_equivalence_table, inverse, render_path, to_dict, to_parameters, translate,
    translate_bulk,
)

# ---------------------------------------------------------------- a tiny store

HEAD = {
    "CONCEPT": "concept_id\tconcept_name\tdomain_id\tvocabulary_id\tconcept_class_id\tstandard_concept\t"
               "concept_code\tvalid_start_date\tvalid_end_date\tinvalid_reason",
    "CONCEPT_RELATIONSHIP": "concept_id_1\tconcept_id_2\trelationship_id\tvalid_start_date\tvalid_end_date\t"
                            "invalid_reason",
    "CONCEPT_ANCESTOR": "ancestor_concept_id\tdescendant_concept_id\tmin_levels_of_separation\t"
                        "max_levels_of_separation",
    "VOCABULARY": "vocabulary_id\tvocabulary_name\tvocabulary_reference\tvocabulary_version\tvocabulary_concept_id",
    "MAPPING_EQUIVALENCE": "concept_id_1\tconcept_id_2\trelationship_id\tequivalence\tsource",
}
ALWAYS = "19700101\t20991231\t"


def _write(folder: Path, name: str, rows: list[str]) -> None:
    (folder / f"{name}.csv").write_text("\n".join([HEAD[name], *rows]) + "\n", encoding="utf-8")


def _tiny_store(folder: Path, *, equivalences: bool = True):
    """TEST/OLD source codes, SNOMED, RxNorm and ATC as a classification (as in a real Athena download)."""
    _write(folder, "CONCEPT", [
        "10\tRetired\tCondition\tTEST\tCode\t\tV1\t20000101\t20091231\tD",
        "11\tUpgraded\tCondition\tTEST\tCode\t\tR1\t19700101\t20151231\tU",
        "12\tUpgrade\tCondition\tTEST\tCode\t\tR2\t20160101\t20991231\t",
        "13\tLate map\tCondition\tTEST\tCode\t\tM1\t" + ALWAYS,
        "14\tWide\tCondition\tTEST\tCode\t\tW1\t" + ALWAYS,
        "20\tOld broad\tCondition\tOLD\tCode\t\tO1\t" + ALWAYS,
        "21\tOld narrow\tCondition\tOLD\tCode\t\tO2\t" + ALWAYS,
        "30\tMetformin 500 tablet\tDrug\tDRUG\tCode\t\tD1\t" + ALWAYS,
        "100\tFinding A\tCondition\tSNOMED\tClinical Finding\tS\tA\t" + ALWAYS,
        "101\tFinding B\tCondition\tSNOMED\tClinical Finding\tS\tB\t" + ALWAYS,
        "300\tmetformin\tDrug\tRxNorm\tIngredient\tS\t6809\t" + ALWAYS,
        "301\tmetformin 500 MG Oral Tablet\tDrug\tRxNorm\tClinical Drug\tS\t861007\t" + ALWAYS,
        "400\tmetformin\tDrug\tATC\tATC 5th\tC\tA10BA02\t" + ALWAYS,
        "401\tBiguanides\tDrug\tATC\tATC 4th\tC\tA10BA\t" + ALWAYS,
    ])
    _write(folder, "CONCEPT_RELATIONSHIP", [
        "10\t100\tMaps to\t20000101\t20091231\tD",
        "11\t100\tMaps to\t19700101\t20151231\tD",
        "11\t12\tConcept replaced by\t20160101\t20991231\t",
        "12\t101\tMaps to\t20160101\t20991231\t",
        "13\t101\tMaps to\t20160101\t20991231\t",
        "14\t100\tMaps to\t" + ALWAYS,
        "20\t100\tMaps to\t" + ALWAYS,
        "21\t100\tMaps to\t" + ALWAYS,
        "30\t301\tMaps to\t" + ALWAYS,
        *(f"{i}\t{i}\tMaps to\t" + ALWAYS for i in (100, 101, 300, 301)),
    ])
    _write(folder, "CONCEPT_ANCESTOR", [
        *(f"{i}\t{i}\t0\t0" for i in (100, 101, 300, 301, 400, 401)),
        "300\t301\t1\t1", "400\t300\t1\t1", "400\t301\t2\t2", "401\t400\t1\t1", "401\t300\t2\t2", "401\t301\t3\t3",
    ])
    _write(folder, "VOCABULARY", [f"{v}\t{v}\t\tv1\t0" for v in ("TEST", "OLD", "DRUG", "SNOMED", "RxNorm", "ATC")])
    if equivalences:
        _write(folder, "MAPPING_EQUIVALENCE", [
            "14\t100\tMaps to\twider\tw.csv", "20\t100\tMaps to\tnarrower\to.csv", "21\t100\tMaps to\twider\to.csv",
        ])
    con = duckdb.connect()
    load_athena(con, folder)
    return con


@pytest.fixture(scope="module")
def tiny_con(tmp_path_factory):
    con = _tiny_store(tmp_path_factory.mktemp("tiny"))
    yield con
    con.close()


# ---------------------------------------------------------------- equivalence algebra


def test_composition_table_rows():
    assert compose("equal", "equal") == "equal"
    assert compose("equal", "equivalent") == compose("equivalent", "equivalent") == "equivalent"
    assert compose("equivalent", "wider") == compose("wider", "equal") == "wider"
    assert compose("wider", "subsumes") == "wider" and compose("subsumes", "subsumes") == "subsumes"
    assert compose("narrower", "narrower") == "narrower"
    assert compose("wider", "narrower") == compose("narrower", "wider") == "inexact"
    assert compose("inexact", "equal") == "inexact"
    assert compose("relatedto", "inexact") == "relatedto"
    assert compose("disjoint", "unmatched") == "disjoint"
    assert inverse("wider") == "narrower" and inverse("specializes") == "subsumes" and inverse("equal") == "equal"


@given(st.sampled_from(FHIR_EQUIVALENCES), st.sampled_from(FHIR_EQUIVALENCES))
def test_composition_is_closed_has_identity_and_reverses(a, b):
    assert compose(a, b) in FHIR_EQUIVALENCES
    assert compose("equal", a) == compose(a, "equal") == a
    assert inverse(inverse(a)) == a
    assert inverse(compose(a, b)) == compose(inverse(b), inverse(a))


def test_render_path():
    steps = [PathStep("ICD10CM", "E11.9", "Maps to"), PathStep("SNOMED", "44054006", "Mapped from"),
             PathStep("ICD10fi", "E11.9", None)]
    assert render_path(steps) == "ICD10CM E11.9 → SNOMED 44054006 ← ICD10fi E11.9"


# ---------------------------------------------------------------- the demo store


def test_to_standard_normalises_the_code(demo_con):
    a = translate(demo_con, "ICD10CM", "E119")
    b = translate(demo_con, "icd-10-cm-tw", " e11.9 ")
    assert a.matches == b.matches and a.result and a.target == "standard"
    assert (a.source.normalised_code, a.source.concept_id, a.source.valid_start) == (
        "E11.9", 2100400001, dt.date(1970, 1, 1))
    (m,) = a.matches
    assert (m.concept_id, m.vocabulary_id, m.code, m.name, m.standard) == (
        201826, "SNOMED", "44054006", "Type 2 diabetes mellitus", True)
    assert (m.equivalence, m.equivalence_source) == ("equivalent", "assumed from OMOP Maps to")
    assert m.path == (("ICD10CM", "E11.9", "Maps to"), ("SNOMED", "44054006", None))
    assert m.path_string == "ICD10CM E11.9 → SNOMED 44054006"
    assert a.message == "ICD10CM E11.9: 1 match in standard"


def test_finnish_combination_code_uses_the_stated_equivalence(demo_con):
    t = translate(demo_con, "urn:oid:1.2.246.537.6.1", "E113+H360")
    assert t.source.normalised_code == "E11.3+H36.0"
    assert [(m.concept_id, m.equivalence, m.equivalence_source) for m in t.matches] == [(4226121, "equal", "stated")]


def test_standard_concept_is_equal_to_itself(demo_con):
    (m,) = translate(demo_con, "SNOMED", "44054006").matches
    assert (m.concept_id, m.equivalence, m.equivalence_source, m.path_string) == (
        201826, "equal", "same concept", "SNOMED 44054006")


def test_one_code_to_two_standard_concepts(demo_con):
    t = translate(demo_con, "ICD10fi", "S7200&W19")
    assert [(m.concept_id, m.vocabulary_id) for m in t.matches] == [(2000000021, "Crossbridge"), (436583, "SNOMED")]


def test_cross_border_icd10cm_to_finnish_icd10(demo_con):
    t = translate(demo_con, "ICD10CM", "E11.9", target="ICD10fi")
    assert [(m.code, m.equivalence) for m in t.matches] == [
        ("E11.9", "equivalent"), ("E11.2", "narrower"), ("E11.3", "narrower")]
    assert t.matches[0].path_string == "ICD10CM E11.9 → SNOMED 44054006 ← ICD10fi E11.9"
    assert t.matches[0].path == (("ICD10CM", "E11.9", "Maps to"), ("SNOMED", "44054006", "Mapped from"),
                                 ("ICD10fi", "E11.9", None))
    # stated 'wider' for E11.2 -> T2DM, read back: E11.2 is narrower; one hop assumed -> assumed
    assert t.matches[1].equivalence_source == "assumed from OMOP Maps to"


def test_stated_equivalences_compose(demo_con):
    t = translate(demo_con, "ICD10fi", "E11.9", target="ICD8fi")  # equal o inverse(narrower) = wider
    assert [(m.code, m.equivalence, m.equivalence_source) for m in t.matches] == [("25000", "wider", "stated")]
    t = translate(demo_con, "ICD9fi", "2500B", target="ICPC")
    assert [(m.code, m.equivalence) for m in t.matches] == [("T90", "equal")]
    t = translate(demo_con, "SNOMED", "44054006", target="ICD10fi")
    assert [(m.code, m.equivalence) for m in t.matches] == [("E11.9", "equal"), ("E11.2", "narrower"),
                                                           ("E11.3", "narrower")]


def test_target_code_equal_to_the_source_is_equal(demo_con):
    t = translate(demo_con, "ICD10CM", "E11.9", target="ICD10CM")
    assert [(m.code, m.equivalence, m.equivalence_source) for m in t.matches] == [("E11.9", "equal", "same concept")]


def test_hierarchy_closest_descendant_is_narrower(demo_con):
    t = translate(demo_con, "ICD9CM", "162", target="ICD10CM")  # malignant tumour of lung: no ICD10CM code
    (m,) = t.matches
    assert (m.code, m.equivalence, m.equivalence_source) == (
        "C34.90", "narrower", "assumed from OMOP Maps to + concept_ancestor")
    assert m.path_string == "ICD9CM 162 → SNOMED 363358000 subsumes SNOMED 93880001 ← ICD10CM C34.90"


def test_hierarchy_closest_ancestor_is_wider(demo_con):
    t = translate(demo_con, "ICDO3", "8140/3-C34.9", target="ICD9CM")
    # ancestors at level 1 (162.9) and level 2 (162): only the closest
    assert [(m.code, m.equivalence) for m in t.matches] == [("162.9", "wider")]
    assert t.matches[0].path_string == "ICDO3 8140/3-C34.9 → SNOMED 707451005 is a SNOMED 93880001 ← ICD9CM 162.9"


def test_exact_match_wins_over_the_hierarchy(demo_con):
    t = translate(demo_con, "ICD10CM", "C34.90", target="ICD9CM")
    assert [(m.code, m.equivalence) for m in t.matches] == [("162.9", "equivalent")]


def test_drugs_across_borders_and_to_atc(demo_con):
    t = translate(demo_con, "nhi-drug", "AC46525100", target="VNRfi")
    assert [(m.code, m.equivalence) for m in t.matches] == [("012345", "narrower"), ("012346", "narrower")]
    t = translate(demo_con, "RxNorm", "6809", target="ATC")  # demo ATC codes map to RxNorm
    assert [(m.code, m.equivalence, m.path_string) for m in t.matches] == [
        ("A10BA02", "equivalent", "RxNorm 6809 ← ATC A10BA02")]


def test_standard_vocabulary_as_target(demo_con):
    t = translate(demo_con, "ICD10fi", "E11.9", target="SNOMED")
    assert [(m.code, m.equivalence, m.path_string) for m in t.matches] == [
        ("44054006", "equal", "ICD10fi E11.9 → SNOMED 44054006")]


def test_unknown_code_and_invalid_form(demo_con):
    t = translate(demo_con, "ICD10CM", "E11.99")
    assert (t.result, t.message, t.matches, t.source.concept_id) == (False, "code 'E11.99' not in ICD10CM", (), None)
    t = translate(demo_con, "ICD10fi", "not a code")
    assert (t.result, t.message, t.source.normalised_code) == (False, "code 'not a code' not in ICD10fi", None)


def test_no_code_in_the_target_vocabulary(demo_con):
    t = translate(demo_con, "ICD10fi", "E11.3+H36.0", target="ICD9CM")
    assert not t.result and t.matches == ()
    assert t.message == ("no ICD9CM code maps to the standard concept of ICD10fi E11.3+H36.0, "
                         "nor to its closest ancestors or descendants")
    t = translate(demo_con, "ICPC", "-30")
    assert (t.result, t.message) == (False, "ICPC -30 has no standard concept ('Maps to')")


def test_unknown_systems_raise(demo_con):
    with pytest.raises(UnknownCodeSystem, match="unknown code system 'ICD-11'"):
        translate(demo_con, "ICD-11", "5A11")
    with pytest.raises(UnknownCodeSystem, match="'nope'"):
        translate(demo_con, "ICD10CM", "E11.9", target="nope")


def test_fhir_parameters_are_valid_r4(demo_con):
    t = translate(demo_con, "ICD10CM", "E11.9", target="ICD10fi")
    p = to_parameters(t)
    Parameters.model_validate(p)
    assert p["parameter"][0] == {"name": "result", "valueBoolean": True}
    assert p["parameter"][1]["valueString"].startswith("ICD10CM E11.9: 3 matches in ICD10fi. Paths: ICD10CM E11.9 →")
    first = p["parameter"][2]["part"]
    assert first == [{"name": "equivalence", "valueCode": "equivalent"},
                     {"name": "concept", "valueCoding": {
                         "system": "urn:oid:1.2.246.537.6.1", "code": "E11.9",
                         "display": "Non-insulin-dependent diabetes mellitus without complications"}}]
    failed = to_parameters(translate(demo_con, "ICD10CM", "E11.99"))
    Parameters.model_validate(failed)
    assert [x["name"] for x in failed["parameter"]] == ["result", "message"]


def test_to_dict_is_stable_json(demo_con):
    t = translate(demo_con, "ICD9CM", "162", target="ICD10CM", date=dt.date(2010, 5, 1))
    d = to_dict(t)
    assert list(d) == ["result", "message", "target", "date", "source", "matches"]
    assert d["date"] == "2010-05-01" and d["source"]["valid_end"] == "2099-12-31"
    assert d["matches"][0]["path"][0] == ["ICD9CM", "162", "Maps to"]
    assert d["matches"][0]["system"] == "https://twcore.mohw.gov.tw/ig/twcore/CodeSystem/icd-10-cm-2014-tw"
    assert json.dumps(d, sort_keys=True) == json.dumps(to_dict(t), sort_keys=True)


# ---------------------------------------------------------------- dates, replacements, classification (tiny store)


def test_code_not_valid_on_the_date(tiny_con):
    t = translate(tiny_con, "TEST", "V1", date=dt.date(2012, 6, 1))
    assert (t.result, t.message) == (False, "TEST V1 is valid 2000-01-01 to 2009-12-31, not on 2012-06-01")
    assert t.source.concept_id == 10 and t.source.invalid_reason == "D"


def test_retired_mapping_is_not_used(tiny_con):
    t = translate(tiny_con, "TEST", "V1", date=dt.date(2005, 1, 1))
    assert (t.result, t.message) == (False, "TEST V1 has no standard concept ('Maps to')")


def test_deprecated_code_is_followed_to_its_replacement(tiny_con):
    for date in (None, dt.date(2010, 1, 1)):
        t = translate(tiny_con, "TEST", "R1", date=date)
        assert t.result
        assert t.message == "TEST R1 is deprecated (U) and replaced by TEST R2; TEST R1: 1 match in standard"
        (m,) = t.matches
        assert m.concept_id == 101
        assert m.path_string == "TEST R1 replaced by TEST R2 → SNOMED B"
    t = translate(tiny_con, "TEST", "R1", date=dt.date(2020, 1, 1))
    assert (t.result, t.message) == (
        False, "TEST R1 is valid 1970-01-01 to 2015-12-31, not on 2020-01-01; replaced by TEST R2")


def test_relationship_must_be_valid_on_the_date(tiny_con):
    assert not translate(tiny_con, "TEST", "M1", date=dt.date(2015, 12, 31)).result
    assert [m.concept_id for m in translate(tiny_con, "TEST", "M1", date=dt.date(2016, 1, 1)).matches] == [101]
    assert [m.concept_id for m in translate(tiny_con, "TEST", "M1").matches] == [101]


def test_stated_equivalence_and_composition(tiny_con):
    assert has_equivalence_table(tiny_con)
    (m,) = translate(tiny_con, "TEST", "W1").matches
    assert (m.equivalence, m.equivalence_source) == ("wider", "stated")
    t = translate(tiny_con, "TEST", "W1", target="OLD")
    # W1 -> A wider; O1 -> A narrower, read back wider: wider; O2 -> A wider, read back narrower: inexact
    assert [(m.code, m.equivalence) for m in t.matches] == [("O1", "wider"), ("O2", "inexact")]


def test_without_the_equivalence_table(tmp_path):
    con = _tiny_store(tmp_path, equivalences=False)
    con.execute("DROP TABLE mapping_equivalence")
    assert not has_equivalence_table(con)
    (m,) = translate(con, "TEST", "W1").matches
    assert (m.equivalence, m.equivalence_source) == ("equivalent", "assumed from OMOP Maps to")
    out = translate_bulk(con, pa.table({"vocabulary_id": ["TEST"], "source_code": ["W1"]}), target="OLD")
    assert out.column("equivalence").to_pylist() == ["equivalent", "equivalent"]


def test_atc_classification_through_the_hierarchy(tiny_con):
    t = translate(tiny_con, "DRUG", "D1", target="ATC")
    assert [(m.code, m.equivalence, m.standard) for m in t.matches] == [("A10BA02", "wider", False)]
    assert t.matches[0].path_string == "DRUG D1 → RxNorm 861007 is a ATC A10BA02"
    t = translate(tiny_con, "RxNorm", "6809", target="ATC")
    assert [(m.code, m.equivalence, m.path_string) for m in t.matches] == [
        ("A10BA02", "wider", "RxNorm 6809 is a ATC A10BA02")]


@pytest.mark.parametrize("target", ["standard", "OLD", "ATC"])
def test_bulk_with_dates_agrees_with_single(tiny_con, target):
    dates = [None, dt.date(2005, 1, 1), dt.date(2012, 6, 1), dt.date(2015, 12, 31), dt.date(2016, 1, 1)]
    rows = [(v, c, d) for v, c in (("TEST", "V1"), ("TEST", "R1"), ("TEST", "M1"), ("TEST", "W1"), ("TEST", "R2"),
                                   ("DRUG", "D1")) for d in dates]
    table = pa.table({"i": list(range(len(rows))), "vocabulary_id": [v for v, _, _ in rows],
                      "source_code": [c for _, c, _ in rows],
                      "event_date": pa.array([d for *_, d in rows], pa.date32())})
    out = translate_bulk(tiny_con, table, target=target).to_pylist()
    for i, (vocabulary_id, code, date) in enumerate(rows):
        got = [(r["concept_id"], r["equivalence"], r["path"]) for r in out if r["i"] == i]
        t = translate(tiny_con, vocabulary_id, code, target=target, date=date)
        assert got == ([(m.concept_id, m.equivalence, m.path_string) for m in t.matches] or [(0, "unmatched", None)])
    assert sum(r["concept_id"] != 0 for r in out) == {"standard": 18, "OLD": 10, "ATC": 5}[target]


# ---------------------------------------------------------------- bulk


def test_bulk_keeps_order_rows_and_columns(demo_con):
    table = pa.table({
        "row": [1, 2, 3, 4, 5],
        "vocabulary_id": ["ICD10fi", "ICD10CM", "ICD10CM", "NOPE", None],
        "source_code": ["S7200&W19", "E119", "junk", "X", "E119"],
    })
    out = translate_bulk(demo_con, table)
    assert out.column_names == ["row", "vocabulary_id", "source_code", *BULK_COLUMNS]
    assert out.column("row").to_pylist() == [1, 1, 2, 3, 4, 5]
    assert out.column("concept_id").to_pylist() == [2000000021, 436583, 201826, 0, 0, 0]
    assert out.column("equivalence").to_pylist() == ["equivalent", "equivalent", "equivalent", "unmatched",
                                                     "unmatched", "unmatched"]
    assert out.column("source_concept_id").to_pylist()[2:] == [2100400001, 0, 0, 0]
    assert out.column("path").to_pylist()[2] == "ICD10CM E11.9 → SNOMED 44054006"


def test_bulk_normalise_flag(demo_con):
    table = pa.table({"vocabulary_id": ["ICD10CM", "ICD10CM"], "source_code": ["E119", "E11.9"]})
    raw = translate_bulk(demo_con, table, target="ICPC", normalise=False)
    assert raw.column("concept_code_target").to_pylist() == [None, "T90"]
    norm = translate_bulk(demo_con, table, target="ICPC")
    assert norm.column("concept_code_target").to_pylist() == ["T90", "T90"]
    assert norm.column("vocabulary_id_target").to_pylist() == ["ICPC", "ICPC"]


def test_bulk_accepts_timestamps_and_empty_tables(demo_con):
    table = pa.table({"vocabulary_id": ["ICD10CM"], "source_code": ["E119"],
                      "event_date": pa.array([dt.datetime(2020, 1, 1, 12)], pa.timestamp("us"))})
    assert translate_bulk(demo_con, table).column("concept_id").to_pylist() == [201826]
    empty = pa.table({"vocabulary_id": pa.array([], pa.string()), "source_code": pa.array([], pa.string())})
    assert translate_bulk(demo_con, empty).num_rows == 0


def test_bulk_bad_input(demo_con):
    with pytest.raises(ValueError, match=r"missing column\(s\) \['source_code'\]"):
        translate_bulk(demo_con, pa.table({"vocabulary_id": ["ICD10CM"]}))
    with pytest.raises(ValueError, match=r"already has column\(s\) \['concept_id'\]"):
        translate_bulk(demo_con, pa.table({"vocabulary_id": ["x"], "source_code": ["y"], "concept_id": [1]}))
    with pytest.raises(ValueError, match="event_date must be a date or timestamp column, not string"):
        translate_bulk(demo_con, pa.table({"vocabulary_id": ["x"], "source_code": ["y"], "event_date": ["2020"]}))
    with pytest.raises(ValueError, match="source_code must be a string column, not int64"):
        translate_bulk(demo_con, pa.table({"vocabulary_id": ["x"], "source_code": [1]}))
    with pytest.raises(UnknownCodeSystem):
        translate_bulk(demo_con, pa.table({"vocabulary_id": ["x"], "source_code": ["y"]}), target="nope")


@pytest.fixture(scope="module")
def demo_codes(demo_con):
    return demo_con.execute("SELECT vocabulary_id, concept_code FROM concept ORDER BY concept_id").fetchall()


TARGETS = ("standard", "ICD10fi", "ICD9CM", "ICD10CM", "SNOMED", "ATC", "VNRfi", "ICPC")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_bulk_agrees_with_single(demo_con, demo_codes, data):
    target = data.draw(st.sampled_from(TARGETS))
    known = st.sampled_from(demo_codes).map(lambda vc: (vc[0], vc[1]))
    raw = known.flatmap(lambda vc: st.sampled_from([vc, (vc[0], vc[1].replace(".", "")), (vc[0], vc[1].lower())]))
    junk = st.tuples(st.sampled_from(["ICD10CM", "ICD10fi", "VNRfi", "ICPC", "SNOMED"]),
                     st.text(alphabet="ABEHNW0123459.+&", min_size=1, max_size=8))
    codes = data.draw(st.lists(st.one_of(raw, raw, junk), min_size=1, max_size=4))
    table = pa.table({"i": list(range(len(codes))), "vocabulary_id": [v for v, _ in codes],
                      "source_code": [c for _, c in codes]})
    out = translate_bulk(demo_con, table, target=target).to_pylist()
    for i, (vocabulary_id, code) in enumerate(codes):
        rows = [r for r in out if r["i"] == i]
        t = translate(demo_con, vocabulary_id, code, target=target)
        if t.matches:
            assert [(r["concept_id"], r["equivalence"], r["path"], r["concept_code_target"]) for r in rows] == [
                (m.concept_id, m.equivalence, m.path_string, m.code) for m in t.matches]
        else:
            assert [(r["concept_id"], r["equivalence"]) for r in rows] == [(0, "unmatched")]
        assert {r["source_concept_id"] for r in rows} == {t.source.concept_id or 0}
    assert [r["i"] for r in out] == sorted(r["i"] for r in out)


def test_dates_as_iso_strings(tiny_con):
    assert translate(tiny_con, "TEST", "M1", date="2016-01-01").date == dt.date(2016, 1, 1)
    assert translate(tiny_con, "TEST", "M1", date=dt.datetime(2016, 1, 1, 8)).matches[0].concept_id == 101
    with pytest.raises(ValueError, match="date '1.1.2016' is not an ISO date"):
        translate(tiny_con, "TEST", "M1", date="1.1.2016")
