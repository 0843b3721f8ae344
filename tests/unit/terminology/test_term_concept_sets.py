"""Cross-border concept sets on the demo store: patterns, standard concepts, descendants, targets, gaps."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from terminology.concept_sets import EmptyConceptSet, expand_concept_set
from terminology.errors import UnknownCodeSystem

T2DM = 201826  # SNOMED 44054006 Type 2 diabetes mellitus
DM = 201820  # SNOMED 73211009 Diabetes mellitus


def _codes(cs) -> dict[str, list[str]]:
    return {t.vocabulary_id: [c.code for c in t.codes] for t in cs.targets}


def test_type_2_diabetes_from_icd10cm(demo_con):
    cs = expand_concept_set(demo_con, "ICD10CM", ["E11%"])
    assert [(m.code, m.concept_id, m.name, m.standard_concept_ids) for m in cs.matched] == [
        ("E11.9", 2100400001, "Type 2 diabetes mellitus without complications", (T2DM,))]
    assert [(s.concept_id, s.code, s.domain_id, s.via) for s in cs.standard_concepts] == [
        (T2DM, "44054006", "Condition", "direct")]
    # condition vocabularies only: no ATC, NHI Drug or VNRfi; the input vocabulary is not a target
    assert _codes(cs) == {
        "ICD10": ["E11.9"], "ICD10fi": ["E11.2", "E11.3", "E11.9"], "ICD8fi": ["25000"], "ICD9CM": ["250.00"],
        "ICD9fi": ["2500B"], "ICDO3": [], "ICPC": ["T90"], "REIMB": []}
    assert cs.sites == {"finland": ["ICD10fi", "ICD8fi", "ICD9fi", "ICPC", "REIMB"],
                        "international": ["ICD10", "ICDO3"], "taiwan": ["ICD9CM"]}
    # what did not translate: no ICD-O-3 or reimbursement code for T2DM itself
    assert {t.vocabulary_id: t.standard_without_code for t in cs.targets if t.standard_without_code} == {
        "ICDO3": (T2DM,), "REIMB": (T2DM,)}
    assert cs.untranslated_source == () and cs.unmatched_patterns == ()
    e113 = cs.target("ICD10fi").codes[1]
    assert (e113.code, e113.concept_id, e113.standard_concept_ids, e113.deprecated) == (
        "E11.3", 2000500032, (T2DM,), False)
    assert cs.codes_for("ICD9CM") == ["250.00"] and cs.codes_for("icd-9-cm-tw") == ["250.00"]
    assert cs.codes_for("ICD10CM") == ["E11.9"] and cs.codes_for("SNOMED") == ["44054006"]


def test_dots_and_case_in_patterns_do_not_matter(demo_con):
    a = expand_concept_set(demo_con, "ICD10CM", ["E11%"]).to_dict()
    for pattern in ("E11.%", "e11%", " E11.% "):
        b = expand_concept_set(demo_con, "ICD10CM", [pattern]).to_dict()
        assert b["standard_concepts"] == a["standard_concepts"] and b["targets"] == a["targets"]


def test_finnish_patterns_match_combination_codes(demo_con):
    cs = expand_concept_set(demo_con, "icd-10-fi", ["E11%"])
    assert [m.code for m in cs.matched] == ["E11.2", "E11.2+N08.3", "E11.3", "E11.3+H36.0", "E11.9"]
    assert [(s.concept_id, s.via) for s in cs.standard_concepts] == [
        (T2DM, "direct"), (443731, "direct"), (4226121, "direct")]
    assert cs.target("ICD10CM").codes[0].code == "E11.9"
    # renal and eye complications of T2DM have no ICD-10-CM or ICPC code in the demo vocabulary
    assert cs.target("ICD10CM").standard_without_code == (443731, 4226121)
    assert cs.target("ICPC").standard_without_code == (443731, 4226121)


def test_literal_codes_are_normalised(demo_con):
    cs = expand_concept_set(demo_con, "ICD10fi", ["E113+H360", "E119"], targets=["ICD10CM"])
    assert [m.code for m in cs.matched] == ["E11.3+H36.0", "E11.9"]
    assert [m.patterns for m in cs.matched] == [("E113+H360",), ("E119",)]


def test_descendants(demo_con):
    with_desc = expand_concept_set(demo_con, "concept_id", [DM], targets=["ICD9CM", "ICD10CM"])
    assert [(s.concept_id, s.via) for s in with_desc.standard_concepts] == [(DM, "direct"), (T2DM, "descendant")]
    assert _codes(with_desc) == {"ICD10CM": ["E11.9"], "ICD9CM": ["250", "250.00"]}
    assert with_desc.target("ICD10CM").standard_without_code == (DM,)
    without = expand_concept_set(demo_con, "concept_id", ["201820"], targets=["ICD9CM", "ICD10CM"],
                                 include_descendants=False)
    assert [s.concept_id for s in without.standard_concepts] == [DM]
    assert _codes(without) == {"ICD10CM": [], "ICD9CM": ["250"]}


def test_lung_cancer_hierarchy_two_levels(demo_con):
    cs = expand_concept_set(demo_con, "ICD9CM", ["162"], targets=["taiwan", "ICDO3", "ICD10fi"])
    assert [(s.concept_id, s.via) for s in cs.standard_concepts] == [
        (443388, "direct"), (258369, "descendant"), (45768916, "descendant")]
    assert _codes(cs) == {"ICD10CM": ["C34.90"], "ICD10fi": ["C34.9"], "ICD10PCS": [], "ICD9CM": ["162", "162.9"],
                          "ICD9Proc": [], "ICDO3": ["8140/3-C34.9"], "NBCT Specimen": [], "NHI Drug": [],
                          "NHI Fee": []}


def test_standard_system_and_snomed_codes(demo_con):
    a = expand_concept_set(demo_con, "standard", ["44054006"])
    b = expand_concept_set(demo_con, "SNOMED", ["44054006"])
    assert a.to_dict()["targets"] == b.to_dict()["targets"]
    assert "SNOMED" not in {t.vocabulary_id for t in b.targets} and "ICD10CM" in {t.vocabulary_id for t in a.targets}


def test_untranslated_source_and_unmatched_patterns(demo_con):
    cs = expand_concept_set(demo_con, "ICPC", ["T90", "-3%", "Z99%"])
    assert [m.code for m in cs.untranslated_source] == ["-30", "-31"]
    assert cs.unmatched_patterns == ("Z99%",)
    assert cs.counts["untranslated_source"] == 2 and cs.counts["matched_source"] == 3
    only_process = expand_concept_set(demo_con, "ICPC", ["-30"])
    assert only_process.standard_concepts == () and only_process.targets == ()


def test_nothing_matches(demo_con):
    with pytest.raises(EmptyConceptSet, match=r"no code matches 'Q99%', 'Q98\.1' in ICD10CM") as err:
        expand_concept_set(demo_con, "ICD10CM", ["Q99%", "Q98.1"])
    assert err.value.patterns == ("Q99%", "Q98.1")
    with pytest.raises(EmptyConceptSet, match="in ICD10CM on 1960-01-01"):
        expand_concept_set(demo_con, "ICD10CM", ["E11%"], date=dt.date(1960, 1, 1))
    assert expand_concept_set(demo_con, "ICD10CM", ["E11%"], date=dt.date(2020, 1, 1)).matched[0].code == "E11.9"


def test_bad_input(demo_con):
    with pytest.raises(UnknownCodeSystem, match="'ICD-11'"):
        expand_concept_set(demo_con, "ICD-11", ["5A11"])
    with pytest.raises(UnknownCodeSystem, match="'mars'"):
        expand_concept_set(demo_con, "ICD10CM", ["E11%"], targets=["mars"])
    with pytest.raises(ValueError, match="no codes given"):
        expand_concept_set(demo_con, "ICD10CM", [])
    with pytest.raises(ValueError, match="empty or non-text code ' '"):
        expand_concept_set(demo_con, "ICD10CM", ["E11%", " "])
    with pytest.raises(ValueError, match="concept id 'E11' is not an integer"):
        expand_concept_set(demo_con, "concept_id", ["E11"])
    cs = expand_concept_set(demo_con, "ICD10CM", ["E11%"])
    with pytest.raises(UnknownCodeSystem):
        cs.codes_for("NHI Drug")
    with pytest.raises(KeyError, match="'VNRfi' is not a target"):
        cs.target("VNRfi")


def test_to_dict_is_deterministic_json(demo_con):
    a = expand_concept_set(demo_con, "ICD10fi", ["E11%", "I10"])
    b = expand_concept_set(demo_con, "ICD10fi", ["E11%", "I10"])
    text = json.dumps(a.to_dict(), sort_keys=True, ensure_ascii=False)
    assert text == json.dumps(b.to_dict(), sort_keys=True, ensure_ascii=False)
    d = a.to_dict()
    assert list(d) == ["input", "standard_concepts", "targets", "sites", "untranslated_source", "counts"]
    assert d["input"]["patterns"] == ["E11%", "I10"]
    assert d["targets"]["ICD9CM"]["system"] == "https://twcore.mohw.gov.tw/ig/twcore/CodeSystem/icd-9-cm-2001-tw"
    assert d["targets"]["ICD9CM"]["codes"] == [
        {"code": "250.00", "concept_id": 2100300001, "deprecated": False,
         "name": "Diabetes mellitus without mention of complication, type II or unspecified type, not stated as "
                 "uncontrolled", "standard_concept_ids": [T2DM]},
        {"code": "401.9", "concept_id": d["targets"]["ICD9CM"]["codes"][1]["concept_id"], "deprecated": False,
         "name": "Unspecified essential hypertension", "standard_concept_ids": [320128]}]
    assert d["counts"]["targets"]["ICD9CM"] == {"codes": 2, "standard_without_code": 2}
