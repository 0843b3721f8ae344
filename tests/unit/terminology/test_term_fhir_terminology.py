"""FHIR R4 CodeSystem / ConceptMap export and import (terminology.fhir_terminology)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from fhir.resources.R4B.codesystem import CodeSystem
from fhir.resources.R4B.conceptmap import ConceptMap
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from terminology.athena import load_athena
from terminology.concepts import LANGUAGE_CHINESE, LANGUAGE_ENGLISH, LANGUAGE_FINNISH
from terminology.errors import UnknownCodeSystem, VocabularyFormatError
from terminology.fhir_terminology import (CODESYSTEM_PROPERTIES, ConceptMapBuilder, export_codesystem,
                                          export_conceptmap, fhir_name, import_codesystem, import_conceptmap,
                                          read_resource, write_codesystem, write_conceptmap, write_json)
from terminology.overlay import FHIR_EQUIVALENCES
from terminology.vocabulary import DEMO_ATHENA_DIR, LOCAL_VOCABULARY_DIR

ICD10FI_URI = "urn:oid:1.2.246.537.6.1"
SNOMED_URI = "http://snomed.info/sct"
ICD10FI_OFFSET = 2_000_500_000
OFFSET = 2_100_900_000


def _clean(obj, where="$"):
    """FHIR JSON rules fhir.resources does not check: no null, no empty array/string/object."""
    if isinstance(obj, dict):
        assert obj, where
        for k, v in obj.items():
            _clean(v, f"{where}.{k}")
    elif isinstance(obj, list):
        assert obj, f"empty array at {where}"
        for i, v in enumerate(obj):
            _clean(v, f"{where}[{i}]")
    else:
        assert obj is not None and obj != "", f"null or empty at {where}"


def _concept(cs: dict, code: str) -> dict:
    return next(c for c in cs["concept"] if c["code"] == code)


def _props(concept: dict) -> dict:
    out: dict = {}
    for p in concept["property"]:
        value = next(v for k, v in p.items() if k.startswith("value"))
        out.setdefault(p["code"], []).append(value)
    return {k: v[0] if len(v) == 1 else v for k, v in out.items()}


def _mapping_set(cm: dict) -> set[tuple]:
    return {(g.get("target"), e["code"], t.get("code"), t["equivalence"])
            for g in cm.get("group", []) for e in g["element"] for t in e["target"]}


def _write(path: Path, resource) -> Path:
    path.write_text(resource if isinstance(resource, str) else json.dumps(resource, ensure_ascii=False, indent=1),
                    encoding="utf-8")
    return path


def _fresh_store(imports=()):
    """Demo Athena + the local vocabularies (no Finnish Usagi files), plus ``imports``."""
    con = duckdb.connect()
    load_athena(con, DEMO_ATHENA_DIR, overlays=[LOCAL_VOCABULARY_DIR], imports=list(imports))
    return con


def _codesystem(concepts, **extra) -> dict:
    return {"resourceType": "CodeSystem", "url": "urn:crossbridge:vocabulary:Test%20Codes", "status": "active",
            "content": "complete", "concept": concepts, **extra}


def _conceptmap(elements, source=ICD10FI_URI, target=SNOMED_URI) -> dict:
    group = {"element": elements}
    if source:
        group["source"] = source
    if target:
        group["target"] = target
    return {"resourceType": "ConceptMap", "status": "active", "group": [group]}


# ---------------------------------------------------------------------------
# CodeSystem export
# ---------------------------------------------------------------------------
def test_export_codesystem_icd10fi(demo_con):
    report: dict = {}
    cs = export_codesystem(demo_con, "ICD10fi", validate=True, report=report)
    CodeSystem.model_validate(cs)
    _clean(cs)
    assert (cs["url"], cs["version"], cs["name"], cs["status"], cs["content"]) == (
        ICD10FI_URI, "XB demo 2026-11", "ICD10fi", "active", "complete")
    assert cs["title"] == "International Classification of Diseases 10th Revision Finnish extension"
    assert cs["count"] == len(cs["concept"]) == 40 == report["concepts"]
    codes = [c["code"] for c in cs["concept"]]
    assert codes == sorted(codes) and codes[:3] == ["A17.0", "A17.0+G01", "B18.1"]
    e119 = _concept(cs, "E11.9")
    assert e119["display"] == "Non-insulin-dependent diabetes mellitus without complications"
    # the English synonym equals the display and is not repeated
    assert e119["designation"] == [{"language": "fi", "value": "Tyypin 2 diabetes ilman komplikaatioita"}]
    assert _props(e119) == {"concept-id": 2000500001, "domain": "Condition", "concept-class": "ICD10 code",
                            "valid-from": "1970-01-01", "valid-to": "2099-12-31", "status": "active"}
    declared = {p["code"] for p in cs["property"]}
    used = {p["code"] for c in cs["concept"] for p in c["property"]}
    assert used <= declared == {p["code"] for p in CODESYSTEM_PROPERTIES}
    assert report["skipped_synonyms"] == 0


def test_export_codesystem_nhi_drug_has_chinese_designations(demo_con):
    cs = export_codesystem(demo_con, "NHI Drug", validate=True)
    _clean(cs)
    assert cs["url"] == "https://twcore.mohw.gov.tw/ig/twcore/CodeSystem/medication-nhi-tw"
    assert cs["name"] == "NHIDrug" and cs["id"] == "nhi-drug"
    metformin = _concept(cs, "AC46525100")
    assert metformin["display"] == "METFORMIN 500MG"
    assert metformin["designation"] == [{"language": "zh-TW", "value": "二甲雙胍"}]
    assert all(d["language"] == "zh-TW" for c in cs["concept"] for d in c["designation"])
    assert len(cs["concept"]) == 22


def test_export_codesystem_status_parent_and_unknown_language(demo_con):
    """Deprecated concepts, 'Is a' inside the vocabulary and a Swedish synonym (skipped, counted)."""
    demo_con.execute("BEGIN TRANSACTION")
    try:
        demo_con.execute("UPDATE concept SET invalid_reason = 'U' WHERE concept_id = 2000500002")
        demo_con.execute("INSERT INTO concept_relationship VALUES (2000500003, 2000500001, 'Is a', "
                         "DATE '1970-01-01', DATE '2099-12-31', NULL)")
        demo_con.execute("INSERT INTO concept_synonym VALUES (2000500001, 'Typ 2-diabetes', 4175777)")
        report: dict = {}
        cs = export_codesystem(demo_con, "ICD10fi", validate=True, report=report)
    finally:
        demo_con.execute("ROLLBACK")
    assert report["skipped_synonyms"] == 1
    assert _props(_concept(cs, "I10"))["status"] == "deprecated"
    assert _props(_concept(cs, "I10"))["invalid-reason"] == "U"
    child = next(c for c in cs["concept"] if _props(c)["concept-id"] == 2000500003)
    assert _props(child)["parent"] == "E11.9"
    assert "Typ 2-diabetes" not in json.dumps(cs, ensure_ascii=False)


def test_export_codesystem_unknown_vocabulary(demo_con):
    with pytest.raises(UnknownCodeSystem, match="'No Such'"):
        export_codesystem(demo_con, "No Such")


def test_fhir_name_rule():
    assert fhir_name("NHI Drug") == "NHIDrug"
    assert fhir_name("FI Biobank Specimen") == "FIBiobankSpecimen"
    assert fhir_name("icd-10-cm to standard") == "Icd10CmToStandard"
    assert fhir_name("10 codes") == "V10Codes"
    assert fhir_name("ä") == "Unnamed"


# ---------------------------------------------------------------------------
# CodeSystem round trip and import
# ---------------------------------------------------------------------------
def test_codesystem_round_trip_icd10fi(demo_con, tmp_path):
    path = write_json(export_codesystem(demo_con, "ICD10fi"), tmp_path / "icd10fi.json")
    ov = import_codesystem(path, concept_id_offset=ICD10FI_OFFSET)
    assert ov.new_vocabularies == ("ICD10fi",)  # from the url
    assert ov.report["concepts"] == 40 and ov.report["skipped_designations"] == 0
    con = _fresh_store([ov])
    try:
        query = """SELECT c.concept_id, c.concept_code, c.concept_name, c.domain_id, c.concept_class_id,
                          c.valid_start_date, c.valid_end_date, s.concept_synonym_name
                   FROM concept c LEFT JOIN concept_synonym s ON s.concept_id = c.concept_id
                        AND s.language_concept_id = 4181730
                   WHERE c.vocabulary_id = 'ICD10fi' ORDER BY c.concept_code"""
        assert con.execute(query).fetchall() == demo_con.execute(query).fetchall()
        assert con.execute("SELECT vocabulary_name, vocabulary_reference, vocabulary_version FROM vocabulary "
                           "WHERE vocabulary_id = 'ICD10fi'").fetchall() == [
            ("International Classification of Diseases 10th Revision Finnish extension", ICD10FI_URI,
             "XB demo 2026-11")]
    finally:
        con.close()
    # every concept line is the line of its object in the file
    lines = path.read_text(encoding="utf-8").split("\n")
    concept = ov.tables["concept"]
    code_of = dict(zip(concept["concept_id"].to_pylist(), concept["concept_code"].to_pylist()))
    assert ov.concept_lines.num_rows == 40
    for cid, line in zip(ov.concept_lines["concept_id"].to_pylist(), ov.concept_lines["line"].to_pylist()):
        code = code_of[cid]
        assert lines[line - 1].strip() == "{" and lines[line].strip() == f'"code": {json.dumps(code)},'


def test_import_codesystem_nested_languages_and_defaults(tmp_path):
    cs = _codesystem([
        {"code": "A", "display": "Alpha", "designation": [
            {"language": "fi-FI", "value": "Alfa"}, {"language": "zh-Hant", "value": "阿爾法"},
            {"language": "sv", "value": "Alfa sv"}, {"value": "no language"}],
         "concept": [{"code": "A1", "display": "Alpha one", "concept": [{"code": "A1x"}]},
                     {"code": "A2", "property": [{"code": "status", "valueCode": "retired"}]}]},
        {"code": "B", "display": "Beta", "property": [
            {"code": "domain", "valueString": "Condition"}, {"code": "concept-class", "valueString": "Leaf"},
            {"code": "valid-from", "valueDateTime": "2001-02-03T04:05:06+02:00"},
            {"code": "valid-to", "valueDateTime": "2020-12-31"}, {"code": "parent", "valueCode": "A"},
            {"code": "weight", "valueDecimal": 1.5}]},
    ], version="v7", title="Test codes")
    ov = import_codesystem(_write(tmp_path / "cs.json", cs), concept_id_offset=OFFSET)
    assert ov.new_vocabularies == ("Test Codes",)
    concept = {r["concept_code"]: r for r in ov.tables["concept"].to_pylist()}
    # ids: offset + position in document order (pre-order)
    assert {k: v["concept_id"] - OFFSET for k, v in concept.items()} == {"A": 1, "A1": 2, "A1x": 3, "A2": 4, "B": 5}
    assert concept["A1x"]["concept_name"] == "A1x"  # no display: the code
    assert (concept["A"]["domain_id"], concept["A"]["concept_class_id"], concept["A"]["standard_concept"],
            str(concept["A"]["valid_start_date"]), str(concept["A"]["valid_end_date"])) == (
        "Observation", "Undefined", None, "1970-01-01", "2099-12-31")
    assert (concept["B"]["domain_id"], concept["B"]["concept_class_id"], str(concept["B"]["valid_start_date"]),
            str(concept["B"]["valid_end_date"])) == ("Condition", "Leaf", "2001-02-03", "2020-12-31")
    assert concept["A2"]["invalid_reason"] == "D" and concept["A"]["invalid_reason"] is None
    rel = {(r["concept_id_1"] - OFFSET, r["relationship_id"], r["concept_id_2"] - OFFSET)
           for r in ov.tables["concept_relationship"].to_pylist()}
    assert rel == {(2, "Is a", 1), (1, "Subsumes", 2), (3, "Is a", 2), (2, "Subsumes", 3), (4, "Is a", 1),
                   (1, "Subsumes", 4), (5, "Is a", 1), (1, "Subsumes", 5)}
    b_rel = [r for r in ov.tables["concept_relationship"].to_pylist() if r["concept_id_1"] == OFFSET + 5]
    assert str(b_rel[0]["valid_start_date"]) == "2001-02-03"  # the child's validity
    syn = {(r["concept_id"] - OFFSET, r["concept_synonym_name"], r["language_concept_id"])
           for r in ov.tables["concept_synonym"].to_pylist()}
    assert syn == {(1, "Alpha", LANGUAGE_ENGLISH), (1, "Alfa", LANGUAGE_FINNISH), (1, "阿爾法", LANGUAGE_CHINESE),
                   (2, "Alpha one", LANGUAGE_ENGLISH), (5, "Beta", LANGUAGE_ENGLISH)}
    assert ov.report["skipped_designations"] == 2  # sv and no language
    assert ov.report["ignored_properties"] == {"weight": 1}
    assert ov.tables["vocabulary"].to_pylist() == [{
        "vocabulary_id": "Test Codes", "vocabulary_name": "Test codes",
        "vocabulary_reference": "urn:crossbridge:vocabulary:Test%20Codes", "vocabulary_version": "v7",
        "vocabulary_concept_id": 0}]
    assert sorted(ov.tables["concept_class"]["concept_class_id"].to_pylist()) == ["Leaf", "Undefined"]
    # arguments win over the file; the resource language applies to designations without one
    cs["language"] = "fi"
    ov2 = import_codesystem(_write(tmp_path / "cs2.json", cs), vocabulary_id="Mine", concept_id_offset=OFFSET,
                            vocabulary_version="v8")
    assert ov2.new_vocabularies == ("Mine",)
    assert ov2.tables["vocabulary"]["vocabulary_version"].to_pylist() == ["v8"]
    assert (OFFSET + 1, "no language", LANGUAGE_FINNISH) in {
        tuple(r.values()) for r in ov2.tables["concept_synonym"].to_pylist()}
    assert ov2.report["skipped_designations"] == 1


def test_import_codesystem_concept_id_property(tmp_path):
    cs = _codesystem([{"code": "X", "property": [{"code": "concept-id", "valueInteger": OFFSET + 500}]},
                      {"code": "Y"}, {"code": "Z", "property": [{"code": "invalid-reason", "valueCode": "U"}]}])
    ov = import_codesystem(_write(tmp_path / "cs.json", cs), concept_id_offset=OFFSET)
    got = {(r["concept_code"], r["concept_id"] - OFFSET, r["invalid_reason"])
           for r in ov.tables["concept"].to_pylist()}
    assert got == {("X", 500, None), ("Y", 2, None), ("Z", 3, "U")}


def test_import_codesystem_validate_option(tmp_path):
    cs = _codesystem([{"code": "X", "property": [{"code": "weight", "valueInteger": 3_000_000_000}]}])
    path = _write(tmp_path / "cs.json", cs)
    assert import_codesystem(path, concept_id_offset=OFFSET).report["ignored_properties"] == {"weight": 1}
    with pytest.raises(VocabularyFormatError, match="not a valid FHIR R4 CodeSystem") as exc:
        import_codesystem(path, concept_id_offset=OFFSET, validate=True)
    assert exc.value.field == "concept[0].property[0].valueInteger"


_GOOD = {"code": "A", "display": "Alpha"}


@pytest.mark.parametrize("text, kwargs, message, field, line", [
    ("{\n  \"resourceType\": \"CodeSystem\",\n  oops\n}", {}, "not JSON", None, 3),
    ('[1, 2]', {}, "not a JSON object", None, 1),
    ({"resourceType": "ValueSet", "url": "urn:x"}, {}, "not a FHIR CodeSystem", "resourceType", 2),
    ({"resourceType": "CodeSystem", "concept": [_GOOD]}, {}, "missing url", "url", None),
    (_codesystem({"code": "A"}), {}, "concept is not an array", "concept", 6),
    (_codesystem([_GOOD, "B"]), {}, "concept is not a JSON object", "concept[1]", None),
    (_codesystem([_GOOD, {"display": "no code"}]), {}, "missing code", "concept[1].code", 11),
    (_codesystem([_GOOD, {"code": " B"}]), {}, "not a valid FHIR code", "concept[1].code", 11),
    (_codesystem([_GOOD, {"code": "B", "display": 3}]), {}, "display is not", "concept[1].display", 11),
    (_codesystem([_GOOD, {"code": "B", "concept": [{"code": "A"}]}]), {}, "duplicate code (first at concept[0])",
     "concept[1].concept[0].code", 14),
    (_codesystem([{"code": "A", "property": [{"code": "concept-id", "valueInteger": 5}]}]), {},
     "concept-id outside the block", "concept[0].property[0]", 7),
    (_codesystem([{"code": "A", "property": [{"code": "concept-id", "valueString": "x1"}]}]), {},
     "concept-id is not an integer", "concept[0].property[0]", 7),
    (_codesystem([{"code": "A", "property": [{"code": "concept-id", "valueInteger": OFFSET + 2}]},
                  {"code": "B"}]), {}, "concept id 2100900002 used twice", "concept[1]", 16),
    (_codesystem([{"code": "A", "property": [{"code": "valid-from", "valueDateTime": "2020-13-01"}]}]), {},
     "not a date", "concept[0].property[0]", 7),
    (_codesystem([{"code": "A", "property": [{"code": "valid-from", "valueDateTime": "2020-01-01"},
                                             {"code": "valid-to", "valueDateTime": "2019-01-01"}]}]), {},
     "valid-to before valid-from", "concept[0].property[1]", 7),
    (_codesystem([{"code": "A", "property": [{"code": "domain", "valueString": "Drug"},
                                             {"code": "domain", "valueString": "Drug"}]}]), {},
     "property 'domain' given twice", "concept[0].property[0]", 7),
    (_codesystem([{"code": "A", "property": [{"code": "parent", "valueCode": "Z"}]}]), {},
     "parent code 'Z' is not in this CodeSystem", "concept[0].property[0]", 7),
    (_codesystem([{"code": "A", "property": [{"code": "status"}]}]), {}, "property without a value",
     "concept[0].property[0]", 7),
    (_codesystem([{"code": "A", "designation": [{"language": "fi"}]}]), {}, "designation without value",
     "concept[0].designation[0]", 7),
    (_codesystem([_GOOD], url="http://example.org/unknown"), {}, "unknown code system", "url", None),
])
def test_import_codesystem_bad_input(tmp_path, text, kwargs, message, field, line):
    path = _write(tmp_path / "bad.json", text)
    error = UnknownCodeSystem if message == "unknown code system" else VocabularyFormatError
    with pytest.raises(error) as exc:
        import_codesystem(path, concept_id_offset=OFFSET, **kwargs)
    assert message in str(exc.value) and str(path) in str(exc.value)
    assert getattr(exc.value, "field", None) == field
    if error is VocabularyFormatError:
        assert exc.value.file == str(path) and exc.value.line == line


def test_import_codesystem_bad_files(tmp_path):
    with pytest.raises(VocabularyFormatError, match="file does not exist"):
        import_codesystem(tmp_path / "missing.json", concept_id_offset=OFFSET)
    bad = tmp_path / "latin1.json"
    bad.write_bytes(b'{"resourceType": "CodeSystem",\n "title": "K\xe4\xe4k"}')
    with pytest.raises(VocabularyFormatError, match="not UTF-8") as exc:
        import_codesystem(bad, concept_id_offset=OFFSET)
    assert exc.value.line == 2
    bom = tmp_path / "bom.json"
    bom.write_bytes(b"\xef\xbb\xbf" + json.dumps(_codesystem([_GOOD])).encode())
    assert import_codesystem(bom, concept_id_offset=OFFSET).report["concepts"] == 1


# a tree of concepts with hostile strings, written by a tiny serialiser that records each concept's line
_TEXT = st.lists(st.sampled_from(list('ab"\\{}[]:,é中 \n\t') + ['"concept": [', "\\u0022"]), min_size=1,
                 max_size=6).map("".join)
_CODE = st.lists(st.sampled_from(list('ab"\\{}[]:,é中') + ["concept", '\\"']), min_size=1, max_size=5).map("".join)
_WS = st.sampled_from(["", " ", "\n", "\n  ", "\r\n"])


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(_CODE, _TEXT, st.integers(0, 2)), min_size=1, max_size=8, unique_by=lambda t: t[0]),
       st.lists(_WS, min_size=6, max_size=6), st.booleans())
def test_import_codesystem_lines_property(tmp_path, nodes, ws, ascii_only):
    text_parts: list[str] = []
    lines: list[int] = []

    def emit(s: str) -> None:
        text_parts.append(s)

    def dumps(v) -> str:
        return json.dumps(v, ensure_ascii=ascii_only)

    # build the tree: each node nests at most one level below the previous one
    tree: list[dict] = []
    stack: list[tuple[int, dict]] = []
    for code, display, depth in nodes:
        depth = min(depth, stack[-1][0] + 1 if stack else 0)
        node = {"code": code, "display": display, "children": []}
        while stack and stack[-1][0] >= depth:
            stack.pop()
        (stack[-1][1]["children"] if stack else tree).append(node)
        stack.append((depth, node))

    def write_concepts(concepts) -> None:
        emit("[" + ws[0])
        for i, c in enumerate(concepts):
            if i:
                emit("," + ws[1])
            lines.append("".join(text_parts).count("\n") + 1)
            emit("{" + ws[2] + '"display"' + ws[3] + ":" + dumps(c["display"]) + "," + ws[4] + '"code":'
                 + dumps(c["code"]) + ws[5])
            if c["children"]:
                emit(', "concept":' + ws[0])
                write_concepts(c["children"])
            emit("}")
        emit(ws[3] + "]")

    emit('{"resourceType":' + ws[1] + '"CodeSystem",' + ws[2] + '"url": "urn:x:{\\"concept\\": [",\n'
         '"title": "a \\\\\\" b", "concept":' + ws[5])
    write_concepts(tree)
    emit("}")
    path = tmp_path / "tree.json"
    path.write_text("".join(text_parts), encoding="utf-8")
    ov = import_codesystem(path, vocabulary_id="T", concept_id_offset=OFFSET)
    concept = ov.tables["concept"].sort_by("concept_id")
    order = [(c, d) for c, d, _ in nodes]  # pre-order = input order
    assert list(zip(concept["concept_code"].to_pylist(), concept["concept_name"].to_pylist())) == order
    assert ov.concept_lines.sort_by("concept_id")["line"].to_pylist() == lines
    assert ov.report["is_a"] == len(nodes) - len(tree)


# ---------------------------------------------------------------------------
# ConceptMap export
# ---------------------------------------------------------------------------
def test_export_conceptmap_icd10fi_to_standard(demo_con):
    cm = export_conceptmap(demo_con, "ICD10fi", validate=True)
    ConceptMap.model_validate(cm)
    _clean(cm)
    assert cm["url"] == "urn:crossbridge:conceptmap:ICD10fi:standard"
    assert (cm["sourceUri"], cm["version"], cm["status"]) == (ICD10FI_URI, "XB demo 2026-11", "active")
    assert [g["target"] for g in cm["group"]] == ["urn:crossbridge:vocabulary:Crossbridge", SNOMED_URI]
    assert all(g["source"] == ICD10FI_URI for g in cm["group"])
    snomed = {e["code"]: e["target"] for e in cm["group"][1]["element"]}
    assert snomed["E11.9"] == [{"code": "44054006", "display": "Type 2 diabetes mellitus", "equivalence": "equal"}]
    assert snomed["B18.1"][0]["equivalence"] == "wider"
    assert [t["code"] for t in snomed["S72.00&W19"]] == ["1912002"]
    crossbridge = {e["code"]: e["target"] for e in cm["group"][0]["element"]}
    assert crossbridge["S72.00&W19"] == [{"code": "FRACTURE_NECK_OF_FEMUR", "display": "Fracture of neck of femur",
                                          "equivalence": "equivalent"}]
    assert len(_mapping_set(cm)) == 41
    assert {eq for *_, eq in _mapping_set(cm)} == {"equal", "equivalent", "wider"} <= set(FHIR_EQUIVALENCES)


def test_export_conceptmap_defaults_without_equivalence_table(demo_con):
    """Without stated equivalences: a standard concept to itself is 'equal', anything else 'equivalent'."""
    demo_con.execute("BEGIN TRANSACTION")
    try:
        demo_con.execute("DELETE FROM mapping_equivalence")
        fi = _mapping_set(export_conceptmap(demo_con, "ICD10fi"))
        sct = export_conceptmap(demo_con, "SNOMED", validate=True)
    finally:
        demo_con.execute("ROLLBACK")
    assert {eq for *_, eq in fi} == {"equivalent"}
    assert {eq for *_, eq in _mapping_set(sct)} == {"equal"}
    assert all(e["code"] == e["target"][0]["code"] for e in sct["group"][0]["element"])


def test_export_conceptmap_unmatched_codes(demo_con):
    cm = export_conceptmap(demo_con, "ICPC", validate=True)
    _clean(cm)
    last = cm["group"][-1]
    assert "target" not in last  # the unmatched group has no target system
    assert [e["code"] for e in last["element"]] == ["-30", "-31", "-45", "-50"]
    assert all(e["target"] == [{"equivalence": "unmatched"}] for e in last["element"])
    assert last["element"][0]["display"] == "Medical examination/health evaluation - complete"
    without = export_conceptmap(demo_con, "ICPC", include_unmapped=False)
    assert all("target" in g for g in without["group"])
    assert _mapping_set(cm) - _mapping_set(without) == {(None, c, None, "unmatched")
                                                       for c in ("-30", "-31", "-45", "-50")}


def test_export_conceptmap_to_a_source_vocabulary(demo_con):
    cm = export_conceptmap(demo_con, "ICD10CM", target="ICD10fi", validate=True)
    _clean(cm)
    assert cm["url"] == "urn:crossbridge:conceptmap:ICD10CM:ICD10fi"
    assert cm["targetUri"] == ICD10FI_URI and [g["target"] for g in cm["group"]] == [ICD10FI_URI]
    element = {e["code"]: e["target"] for e in cm["group"][0]["element"]}
    # ICD10fi B18.1 is narrower than the standard concept ICD10CM B18.1 maps to (ICD10fi states 'wider')
    assert element["B18.1"] == [{"code": "B18.1", "display": "Chronic viral hepatitis B without delta-agent",
                                 "equivalence": "narrower", "comment": "via OMOP standard concept 4281232"}]
    assert element["C18.9"][0]["equivalence"] == "equivalent"
    assert all(t["comment"].startswith("via OMOP standard concept ") for ts in element.values() for t in ts
               if t["equivalence"] != "unmatched")
    unmatched = [c for c, ts in element.items() if ts == [{"equivalence": "unmatched"}]]
    assert unmatched and all(len(ts) >= 1 for ts in element.values())
    with pytest.raises(UnknownCodeSystem):
        export_conceptmap(demo_con, "ICD10CM", target="Nope")


# ---------------------------------------------------------------------------
# ConceptMap import
# ---------------------------------------------------------------------------
def test_conceptmap_round_trip_icd10fi(demo_con, tmp_path):
    cs_path = write_json(export_codesystem(demo_con, "ICD10fi"), tmp_path / "icd10fi.cs.json")
    cm = export_conceptmap(demo_con, "ICD10fi", validate=True)
    cm_path = write_json(cm, tmp_path / "icd10fi.cm.json")
    builder = import_conceptmap(cm_path, validate=True)
    assert isinstance(builder, ConceptMapBuilder) and builder.report["elements"] == 41
    con = _fresh_store([import_codesystem(cs_path, concept_id_offset=ICD10FI_OFFSET), builder])
    try:
        again = export_conceptmap(con, "ICD10fi", validate=True)
        assert _mapping_set(again) == _mapping_set(cm)
        assert con.execute("SELECT count(*), min(source) FROM mapping_equivalence m JOIN concept c "
                           "ON c.concept_id = m.concept_id_1 WHERE c.vocabulary_id = 'ICD10fi'").fetchall() == [
            (41, str(cm_path))]
        assert con.execute("""SELECT count(*) FROM concept_relationship r JOIN concept c ON c.concept_id =
                              r.concept_id_2 WHERE c.vocabulary_id = 'ICD10fi'
                              AND r.relationship_id = 'Mapped from'""").fetchall() == [(41,)]
    finally:
        con.close()


def test_import_conceptmap_semantics(demo_con, tmp_path):
    cm = _conceptmap([
        {"code": "E11.9", "target": [{"code": "44054006", "equivalence": "equal"},  # already in the store
                                     {"code": "73211009", "equivalence": "narrower"}]},  # new
        {"code": "I10", "target": [{"code": "38341003", "equivalence": "disjoint"},
                                   {"code": "161891005", "equivalence": "relatedto"}]},
        {"code": "J02.9", "target": [{"equivalence": "unmatched"}]},
        {"code": "N39.0", "target": [{"code": "73211009", "equivalence": "inexact"},
                                     {"code": "73211009", "equivalence": "inexact"}]},  # duplicate
        {"code": "M10.9"},
    ])
    builder = import_conceptmap(_write(tmp_path / "cm.json", cm))
    ov = builder(demo_con)
    assert ov.new_vocabularies == () and ov.concept_lines.num_rows == 0
    e119 = demo_con.execute("SELECT concept_id FROM concept WHERE vocabulary_id = 'ICD10fi' AND concept_code = "
                            "'E11.9'").fetchall()[0][0]
    n390 = demo_con.execute("SELECT concept_id FROM concept WHERE vocabulary_id = 'ICD10fi' AND concept_code = "
                            "'N39.0'").fetchall()[0][0]
    rel = {(r["concept_id_1"], r["relationship_id"], r["concept_id_2"]) for r in
           ov.tables["concept_relationship"].to_pylist()}
    assert rel == {(e119, "Maps to", 201820), (201820, "Mapped from", e119),
                   (n390, "Maps to", 201820), (201820, "Mapped from", n390)}
    assert {(r["concept_id_1"], r["equivalence"]) for r in ov.equivalence.to_pylist()} == {
        (e119, "narrower"), (n390, "inexact")}
    assert set(ov.equivalence["source"].to_pylist()) == {str(tmp_path / "cm.json")}
    assert {(r["source_code"], r["target_concept_id"]) for r in ov.mapping_lines.to_pylist()} == {
        ("E11.9", 201820), ("N39.0", 201820)}
    assert ov.mapping_lines.sort_by("line")["line"].to_pylist() == [7, 41]
    assert {k: ov.report[k] for k in ("mappings_added", "already_present", "unmatched", "not_mapping",
                                      "duplicates")} == {"mappings_added": 2, "already_present": 1, "unmatched": 1,
                                                         "not_mapping": 2, "duplicates": 1}
    assert str(ov.tables["concept_relationship"]["valid_end_date"][0]) == "2099-12-31"


def _cm_error(tmp_path, cm, con=None):
    path = _write(tmp_path / "cm.json", cm)
    builder = import_conceptmap(path)
    return builder(con) if con is not None else builder


@pytest.mark.parametrize("cm, message, field, line", [
    ("{\n\"resourceType\": \"ConceptMap\",,\n}", "not JSON", None, 2),
    ({"resourceType": "CodeSystem"}, "not a FHIR ConceptMap", "resourceType", 2),
    ({"resourceType": "ConceptMap", "group": {}}, "group is not an array", "group", 3),
    (_conceptmap([{"display": "x"}]), "element without code", "group[0].element[0]", 7),
    (_conceptmap([{"code": "A", "target": [{"code": "1"}]}]), "target without equivalence",
     "group[0].element[0].target[0].equivalence", 7),
    (_conceptmap([{"code": "A", "target": [{"code": "1", "equivalence": "same"}]}]), "unknown equivalence",
     "group[0].element[0].target[0].equivalence", 7),
    (_conceptmap([{"code": "A", "target": [{"equivalence": "equal"}]}]), "target without code",
     "group[0].element[0].target[0].code", 7),
    (_conceptmap([{"code": "A", "target": [{"code": "1", "equivalence": "equal"}]}], target=None),
     "group without target system", "group[0].target", 5),
])
def test_import_conceptmap_bad_file(tmp_path, cm, message, field, line):
    with pytest.raises(VocabularyFormatError) as exc:
        _cm_error(tmp_path, cm)
    assert message in str(exc.value) and exc.value.file == str(tmp_path / "cm.json")
    assert (exc.value.field, exc.value.line) == (field, line)


def test_import_conceptmap_unknown_system_names_file(tmp_path, demo_con):
    with pytest.raises(UnknownCodeSystem, match=r"cm\.json, field group\[0\]\.source: unknown code system "
                                                r"'http://example\.org/x'"):
        _cm_error(tmp_path, _conceptmap([{"code": "A", "target": [{"equivalence": "unmatched"}]}],
                                        source="http://example.org/x"))
    # a known URI whose vocabulary is not loaded: found when the builder meets the store
    con = _fresh_store()
    try:
        with pytest.raises(UnknownCodeSystem, match="not loaded in the store"):
            _cm_error(tmp_path, _conceptmap([{"code": "E11.9", "target": [{"equivalence": "unmatched"}]}]), con)
    finally:
        con.close()


@pytest.mark.parametrize("elements, message, field, line", [
    ([{"code": "E11.9", "target": [{"equivalence": "unmatched"}]}, {"code": "ZZZ", "target": [
        {"code": "44054006", "equivalence": "equal"}]}], "source code 'ZZZ' is not in vocabulary 'ICD10fi'",
     "group[0].element[1]", 15),
    ([{"code": "E11.9", "target": [{"code": "999", "equivalence": "equal"}]}],
     "target code '999' is not in vocabulary 'SNOMED'", "group[0].element[0].target[0]", 7),
    ([{"code": "E11.9", "target": [{"code": "44054006", "equivalence": "equal"}]},
      {"code": "E11.9", "target": [{"code": "44054006", "equivalence": "wider"}]}],
     "mapping given twice with different equivalences ('equal', then 'wider')", "group[0].element[1].target[0]", 16),
])
def test_import_conceptmap_bad_codes(tmp_path, demo_con, elements, message, field, line):
    with pytest.raises(VocabularyFormatError) as exc:
        _cm_error(tmp_path, _conceptmap(elements), demo_con)
    assert message in str(exc.value) and exc.value.file == str(tmp_path / "cm.json")
    assert (exc.value.field, exc.value.line) == (field, line)


def test_import_conceptmap_target_must_be_standard(tmp_path, demo_con):
    cm = _conceptmap([{"code": "E11.9", "target": [{"code": "I10", "equivalence": "equivalent"}]}],
                     target=ICD10FI_URI)
    with pytest.raises(VocabularyFormatError, match="target ICD10fi 'I10' is not a valid standard concept") as exc:
        _cm_error(tmp_path, cm, demo_con)
    assert exc.value.field == "group[0].element[0].target[0]"
    # 'disjoint' to a non-standard concept adds nothing and is no error
    cm["group"][0]["element"][0]["target"][0]["equivalence"] = "disjoint"
    assert _cm_error(tmp_path, cm, demo_con).report["mappings_added"] == 0


# ---------------------------------------------------------------------------
# streamed writers and helpers
# ---------------------------------------------------------------------------
def test_write_codesystem_streams_the_same_resource(demo_con, tmp_path):
    report: dict = {}
    path = write_codesystem(demo_con, "NHI Drug", tmp_path / "nhi.json", report=report)
    text = path.read_text(encoding="utf-8")
    assert json.loads(text) == export_codesystem(demo_con, "NHI Drug") and report["concepts"] == 22
    assert "二甲雙胍" in text
    concept_lines = [i + 1 for i, line in enumerate(text.split("\n")) if line.startswith('  {"code":')]
    assert len(concept_lines) == 22
    ov = import_codesystem(path, concept_id_offset=2_100_000_000)
    assert sorted(ov.concept_lines["line"].to_pylist()) == concept_lines
    # a vocabulary without concepts: no empty concept array
    demo_con.execute("BEGIN")
    try:
        demo_con.execute("INSERT INTO vocabulary SELECT 'XB Empty', 'An empty vocabulary', 'test', 'v1', 0")
        empty = json.loads(write_codesystem(demo_con, "XB Empty", tmp_path / "none.json").read_text(encoding="utf-8"))
    finally:
        demo_con.execute("ROLLBACK")
    assert "concept" not in empty and empty["count"] == 0
    CodeSystem.model_validate(empty)


@pytest.mark.parametrize("source, target", [("ICPC", "standard"), ("ICD10CM", "ICD10fi"), ("SNOMED", "ICD10fi")])
def test_write_conceptmap_streams_the_same_resource(demo_con, tmp_path, source, target):
    path = write_conceptmap(demo_con, source, tmp_path / "cm.json", target=target)
    resource = json.loads(path.read_text(encoding="utf-8"))
    assert resource == export_conceptmap(demo_con, source, target=target)
    ConceptMap.model_validate(resource)
    assert import_conceptmap(path).report["elements"] == sum(len(g["element"]) for g in resource.get("group", []))


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def test_write_json_and_read_resource(tmp_path):
    path = write_json({"resourceType": "CodeSystem", "title": "中文 ä", "a": [1]}, tmp_path / "r.json")
    assert path.read_text(encoding="utf-8") == ('{\n "a": [\n  1\n ],\n "resourceType": "CodeSystem",\n'
                                                ' "title": "中文 ä"\n}\n')
    assert read_resource(path, "CodeSystem")["title"] == "中文 ä"
    with pytest.raises(VocabularyFormatError, match="not a FHIR ConceptMap") as exc:
        read_resource(path, "ConceptMap")
    assert (exc.value.line, exc.value.field) == (5, "resourceType")
    with pytest.raises(VocabularyFormatError, match="not JSON") as exc:
        read_resource(_write(tmp_path / "bad.json", '{\n"a": 1,\n}'), "CodeSystem")
    assert exc.value.line == 3
    with pytest.raises(VocabularyFormatError, match="not a JSON object"):
        read_resource(_write(tmp_path / "list.json", "[]"), "CodeSystem")
    with pytest.raises(VocabularyFormatError, match="file does not exist"):
        read_resource(tmp_path / "none.json", "CodeSystem")
