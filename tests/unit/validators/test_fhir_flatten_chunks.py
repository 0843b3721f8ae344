"""The chunked, template-based flattening writes exactly the tables the whole-export ``json_tree``
flattening wrote (kept below as the reference), on every FHIR fixture export and on an export of
awkward lines (escapes, duplicate keys, odd member names, non-string values, long lines, blank and
malformed lines), in any chunk size, with one or two workers."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from validators import fhir_flatten as ff

FIXTURES = Path(__file__).parents[2] / "fixtures"
TABLES = ("resource", "identifier", "coding", "reference", "contained", "profile", "known_system")


# --- the reference: the former whole-export implementation (json_tree on every line) ------------

def _reference_flatten(ndjson_dir: Path, db: Path, validate: str = "all", sample_size: int = 1000,
                       seed: int = 0) -> None:
    files = ff.list_ndjson_files(ndjson_dir)
    con = duckdb.connect(str(db))
    try:
        con.execute("CREATE TEMP TABLE raw_line (file VARCHAR, file_type VARCHAR, line BIGINT, raw VARCHAR)")
        for path in files:
            con.execute(
                """INSERT INTO raw_line
                   WITH t AS (SELECT string_split(content, chr(10)) AS ls FROM read_text(?))
                   SELECT ?, ?, line, rtrim(raw, chr(13)) FROM (
                       SELECT generate_subscripts(ls, 1) AS line, unnest(ls) AS raw FROM t)
                   WHERE trim(raw, ' ' || chr(9) || chr(13)) <> ''""",
                [str(path), path.name, ff.file_resource_type(path.name)])
        con.execute(
            """CREATE TEMP TABLE line AS
               SELECT row_number() OVER (ORDER BY file, line) AS rid, file, file_type, line, raw,
                      CASE WHEN json_valid(raw) THEN json_type(raw) = 'OBJECT' ELSE false END AS json_ok
               FROM raw_line""")
        type_name = ff._TYPE_NAME.pattern[1:-1]
        con.execute(
            """CREATE TEMP TABLE parsed AS
                SELECT rid, raw->>'$.resourceType' AS declared_type, raw->>'$.id' AS id,
                       json_type(raw, '$.resourceType') AS declared_json_type
                FROM line WHERE json_ok""")
        con.execute(
            f"""CREATE TEMP TABLE head AS
                SELECT l.rid, l.file, l.line, l.file_type, l.json_ok, p.declared_type, p.id,
                       CASE WHEN regexp_full_match(p.declared_type, '{type_name}') THEN p.declared_type
                            ELSE coalesce(l.file_type, '(unknown)') END AS resource_type,
                       CASE WHEN NOT l.json_ok THEN 'malformed JSON line (not a JSON object)'
                            WHEN p.declared_type IS NULL OR p.declared_json_type <> 'VARCHAR'
                                 THEN 'resourceType missing or not a string'
                            WHEN NOT regexp_full_match(p.declared_type, '{type_name}')
                                 THEN 'resourceType is not a resource type name'
                            WHEN l.file_type IS NOT NULL AND p.declared_type <> l.file_type
                                 THEN 'resourceType ' || p.declared_type || ' in file of ' || l.file_type
                       END AS precheck_error
                FROM line l LEFT JOIN parsed p USING (rid)""")
        con.execute(
            f"""CREATE TEMP TABLE node AS
                SELECT l.rid, t.key, t.type, t.fullkey, t.value
                FROM line l, json_tree(l.raw) t
                WHERE l.json_ok AND (
                      (t.key = 'reference' AND t.type = 'VARCHAR')
                   OR (t.type = 'OBJECT' AND regexp_matches(t.fullkey, '{ff._ELEMENT_PATH}'))
                   OR (t.key = 'id' AND regexp_full_match(t.fullkey, '{ff._CONTAINED_ID_PATH}')))""")
        con.execute(
            f"""CREATE TABLE identifier AS
                SELECT rid, fullkey AS path, value->>'$.system' AS system FROM node
                WHERE type = 'OBJECT' AND regexp_matches(fullkey, '{ff._IDENTIFIER_PATH}')""")
        con.execute(
            f"""CREATE TABLE coding AS
                SELECT rid, fullkey AS path, value->>'$.system' AS system, value->>'$.code' AS code FROM node
                WHERE type = 'OBJECT' AND NOT regexp_matches(fullkey, '{ff._IDENTIFIER_PATH}')
                  AND NOT json_exists(value, '$.coding')""")
        con.execute(
            """CREATE TABLE reference AS
               SELECT rid, path, reference,
                      CASE WHEN starts_with(reference, '#') THEN 'contained'
                           WHEN regexp_matches(reference, '^[A-Za-z][A-Za-z0-9+.-]*:') THEN 'absolute'
                           WHEN regexp_full_match(reference,
                                '[A-Z][A-Za-z]{0,63}/[A-Za-z0-9.-]{1,64}(/_history/[A-Za-z0-9.-]{1,64})?')
                                THEN 'relative'
                           ELSE 'invalid' END AS kind,
                      nullif(regexp_extract(reference, '^([A-Z][A-Za-z]{0,63})/[A-Za-z0-9.-]{1,64}(/_history/|$)', 1),
                             '') AS target_type,
                      nullif(regexp_extract(reference, '^[A-Z][A-Za-z]{0,63}/([A-Za-z0-9.-]{1,64})(/_history/|$)', 1),
                             '') AS target_id
               FROM (SELECT rid, fullkey AS path, value->>'$' AS reference FROM node
                     WHERE key = 'reference' AND type = 'VARCHAR')""")
        con.execute("CREATE TABLE contained AS SELECT rid, value->>'$' AS contained_id FROM node "
                    "WHERE key = 'id' AND type = 'VARCHAR'")
        con.execute("CREATE TABLE profile AS SELECT rid, unnest(json_extract_string(raw, '$.meta.profile[*]')) "
                    "AS profile FROM line WHERE json_ok")
        con.execute("DROP TABLE node")
        ff._scan_national_ids(con, "line")
        limit = (f"ORDER BY md5(CAST(? AS VARCHAR) || ':' || h.file || ':' || h.line), h.rid LIMIT {sample_size}"
                 if validate == "sample" else "")
        con.execute(f"""CREATE TEMP TABLE to_validate AS
                        SELECT h.rid, h.declared_type, l.raw FROM head h JOIN line l USING (rid)
                        WHERE h.precheck_error IS NULL {limit}""", [seed] if validate == "sample" else [])
        con.register("validation_result",
                     ff._validate_resources(con, "SELECT rid, declared_type, raw FROM to_validate ORDER BY rid"))
        con.execute("CREATE TEMP TABLE validation AS SELECT * FROM validation_result")
        con.unregister("validation_result")
        con.execute(
            f"""CREATE TABLE resource AS
                SELECT h.rid, h.file, h.line, h.resource_type, h.id,
                       CASE WHEN h.id <> '' AND length(h.id) <= 64
                                 AND NOT regexp_matches(h.id, '{ff.TW_ID_PATTERN}|{ff.HETU_PATTERN}') THEN h.id
                            ELSE h.file || ':' || h.line END AS label,
                       h.json_ok,
                       coalesce(p.profiles, []) AS profiles,
                       coalesce(len(p.profiles), 0) AS profile_count,
                       coalesce(i.systems, []) AS identifier_systems,
                       h.precheck_error IS NOT NULL OR v.rid IS NOT NULL AS validated,
                       CASE WHEN h.precheck_error IS NOT NULL THEN false ELSE v.ok END AS valid,
                       {ff._redact("coalesce(h.precheck_error, v.error)")} AS error,
                       coalesce(n.n, 0) AS national_id_count
                FROM head h
                LEFT JOIN (SELECT rid, list(profile ORDER BY profile) AS profiles FROM profile GROUP BY rid) p
                    USING (rid)
                LEFT JOIN (SELECT rid, list(system ORDER BY path) AS systems FROM identifier GROUP BY rid) i
                    USING (rid)
                LEFT JOIN validation v USING (rid)
                LEFT JOIN national_id n USING (rid)
                ORDER BY h.rid""")
        for table in ("identifier", "coding", "reference", "contained", "profile"):
            con.execute(f"""CREATE OR REPLACE TABLE {table} AS
                            SELECT r.resource_type, r.label, r.file, r.line, t.* FROM {table} t
                            JOIN resource r USING (rid) ORDER BY t.rid""")
        ff._known_systems(con)
    finally:
        con.close()


def _contents(db: Path) -> dict[str, tuple[list, list]]:
    """Per table: (column names and types, rows sorted)."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        out = {}
        for table in TABLES:
            columns = [(r[0], r[1]) for r in con.execute(f"DESCRIBE {table}").fetchall()]
            rows = con.execute(f"SELECT * FROM {table}").fetchall()
            out[table] = (columns, sorted(rows, key=repr))
        return out
    finally:
        con.close()


def _assert_same(src: Path, tmp_path: Path, *, validate: str = "all", sample_size: int = 1000, seed: int = 0,
                 **options) -> dict[str, tuple[list, list]]:
    old, new = tmp_path / "old.duckdb", tmp_path / "new.duckdb"
    _reference_flatten(src, old, validate, sample_size, seed)
    ff.flatten_export(src, new, validate=validate, sample_size=sample_size, seed=seed, **options)
    expected, actual = _contents(old), _contents(new)
    for table in TABLES:
        assert actual[table][0] == expected[table][0], table
        assert actual[table][1] == expected[table][1], table
    return actual


# --- fixture exports -------------------------------------------------------------------------

def _fhir_export_fixture(tmp_path: Path) -> Path:
    """The NDJSON export of the hand-made OMOP database of tests/fixtures/fhir_export."""
    from mappings.fhir_r4.context import prepare_context
    from mappings.fhir_r4.export import export_fhir

    db = tmp_path / "omop.duckdb"
    with duckdb.connect(str(db)) as c:
        c.execute((FIXTURES / "fhir_export" / "vocabulary.sql").read_text())
        c.execute((FIXTURES / "fhir_export" / "cdm.sql").read_text())
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{db}' AS src (READ_ONLY)")
        ctx = prepare_context(con, catalog="src", site="taiwan")
        export_fhir(con, ctx, tmp_path / "out", run_id="run-1", code_version="t", sources=["omop.duckdb"])
    finally:
        con.close()
    return tmp_path / "out"


def _planted_defects(tmp_path: Path) -> Path:
    from test_fhir_suite import _plant_defects  # same folder (rootdir-less test modules)

    root = tmp_path / "defects"
    shutil.copytree(FIXTURES / "fhir_quality" / "taiwan", root)
    _plant_defects(root)
    return root


SMALL_CHUNKS = {"chunk_bytes": 700, "workers": 2}
LINE_PER_CHUNK = {"chunk_bytes": 1, "workers": 1}


@pytest.mark.parametrize("name, options", [
    ("fhir_quality/taiwan", {}), ("fhir_quality/taiwan", SMALL_CHUNKS), ("fhir_quality/taiwan", LINE_PER_CHUNK),
    ("fhir_quality/finland", {}), ("fhir_bundles/export_tw", {}), ("fhir_bundles/export_tw", SMALL_CHUNKS),
    ("fhir_export", {}), ("fhir_export", LINE_PER_CHUNK), ("planted_defects", {}), ("planted_defects", SMALL_CHUNKS),
])
def test_fixture_exports_flatten_to_the_same_tables(tmp_path, name, options):
    if name == "fhir_export":
        src = _fhir_export_fixture(tmp_path)
    elif name == "planted_defects":
        src = _planted_defects(tmp_path)
    else:
        src = FIXTURES / name
    actual = _assert_same(src, tmp_path, **options)
    assert actual["resource"][1] and actual["reference"][1]  # something was compared


@pytest.mark.parametrize("seed, size", [(0, 5), (3, 40)])
def test_sample_is_the_same(tmp_path, seed, size):
    _assert_same(FIXTURES / "fhir_bundles" / "export_tw", tmp_path, validate="sample", sample_size=size, seed=seed,
                 chunk_bytes=2000, workers=2)


# --- awkward lines -----------------------------------------------------------------------------

TW_ID = "A123456789"  # valid check digit
HETU = "131052-308T"


def _awkward_export(root: Path) -> Path:
    root.mkdir()
    profile = "https://twcore.mohw.gov.tw/ig/twcore/StructureDefinition/Patient-twcore"
    pid = {"system": "urn:crossbridge:pseudonym:taiwan", "value": "x1"}
    patients = [json.dumps({"resourceType": "Patient", "id": f"p{i}", "meta": {"profile": [profile]},
                            "identifier": [pid], "name": [{"family": "F", "given": ["a"] * (i % 3)}],
                            "managingOrganization": {"reference": f"Organization/o{i % 4}"},
                            "extension": [{"url": "u", "valueCoding": {"system": "s", "code": f"c{i}"}},
                                          {"url": "v", "valueReference": {"reference": "Patient/p1/_history/2"}}]},
                           separators=(",", ":"))
                for i in range(30)]
    lines = [
        *patients,
        # escapes in values and names, unicode
        '{"resourceType":"Patient","id":"e1","name":[{"family":"O\\"Brien \\u00e9"}],'
        '"ident\\u0069fier":[{"system":"urn:x\\/y","value":"v"}],'
        '"managingOrganization":{"reference":"Organization/o1"}}',
        '{"resourceType":"Patient","id":"e2","text":{"div":"caf\u00e9 \u4e2d\u6587 A123456789"}}',
        # duplicate member names
        '{"resourceType":"Patient","id":"d1","identifier":[{"system":"a"}],'
        '"identifier":[{"system":"b"},{"value":"x"}]}',
        '{"resourceType":"Patient","id":"d2","identifier":[{"system":"a","system":"b"}],'
        '"link":[{"other":{"reference":"Patient/p1","reference":"Patient/p2"}}]}',
        # whitespace: before colons, after colons and commas, pretty printed on one line
        '{ "resourceType" : "Patient" , "id" : "w1" , "identifier" : [ { "system" : "s" } ] }',
        '{"resourceType": "Patient", "id": "w2", "identifier": [{"system": "s", "value": "v"}], '
        '"managingOrganization": {"reference": "Organization/o2"}}',
        # values that are not strings where strings are wanted
        '{"resourceType":"Patient","id":"n1","identifier":[{"system":5},{"system":null},{"system":{"a":1}},'
        '{"system":[1,2]},{"system":true},{"system":1.50e1}],"managingOrganization":{"reference":7}}',
        '{"resourceType":"Observation","id":"n2","code":{"coding":[{"system":"http://loinc.org","code":123}]},'
        '"valueCoding":{"system":"s","code":null},"subject":{"reference":{"x":"Patient/1"}}}',
        # element shapes: identifier object (not list), nested lists, class with and without coding,
        # tag / security, contained ids of every kind, odd member names
        '{"resourceType":"Encounter","id":"s1","identifier":{"system":"i"},"class":{"system":"c","code":"AMB"},'
        '"type":[{"coding":[{"system":"t","code":"1"},{"code":"2"}]}],"meta":{"tag":[{"system":"g","code":"t"}],'
        '"security":[{"code":"R"}],"profile":[null,"b","a"]},'
        '"contained":[{"resourceType":"Medication","id":"m1"},{"resourceType":"Medication","id":{"x":1}},'
        '{"resourceType":"Medication","id":3},{"resourceType":"Medication"}],'
        '"x.identifier":{"system":"q"},"a b":{"reference":"Patient/p3"},"":{"reference":"Patient/p4"},'
        '"deep":{"identifier":[[{"system":"nested"}]],"coding":[{"coding":[{"system":"inner","code":"z"}]}]},'
        '"partOf":{"reference":"#m1"},"hospitalization":{"origin":{"reference":"#"}}}',
        '{"resourceType":"Encounter","id":"s2","class":{"coding":[{"system":"c","code":"AMB"}]},'
        '"subject":{"reference":"Patient/"},"participant":[{"individual":{"reference":"http://x.org/Practitioner/1"}},'
        '{"individual":{"reference":"urn:uuid:1234"}},{"individual":{"reference":"patient/1"}},'
        '{"individual":{"reference":"Patient/1/_history/"}},{"individual":{"reference":"Patient/1/_history/9"}},'
        '{"individual":{"reference":"Patient/a b"}}],"meta":{"profile":"not-a-list"}}',
        # numbers, NaN, trailing commas, empty containers
        '{"resourceType":"Observation","id":"num1","valueQuantity":{"value":-0.5e-3,"unit":"mg"},'
        '"component":[],"extension":[{}],"subject":{"reference":"Patient/p1"},}',
        '{"resourceType":"Observation","id":"num2","valueQuantity":{"value":NaN},"subject":{"reference":"Patient/p2"}}',
        '{"resourceType":"Observation","id":"num3","valueInteger":12345678901234567890123,'
        '"subject":{"reference":"Patient/p2"}}',
        # national identifiers: in text, in a code value, in a member name, in an id
        f'{{"resourceType":"Observation","id":"{TW_ID}","note":[{{"text":"call {HETU}"}}],'
        f'"code":{{"coding":[{{"system":"s","code":"{TW_ID}"}}]}},"{TW_ID}":{{"reference":"Patient/p1"}}}}',
        # not resources
        '{"resourceType":"Patient","id":',
        '[1,2,3]',
        '"just a string"',
        '{"id":"no-type"}',
        '{"resourceType":5,"id":"num-type"}',
        '{"resourceType":"Foo","id":"foo"}',
        '{"resourceType":"Observation","id":"wrong-file"}',
        # a long line (a list too long for a template)
        json.dumps({"resourceType": "Provenance", "id": "big",
                    "target": [{"reference": f"Patient/p{i}"} for i in range(3000)]}),
        # long lines cut in pieces: long objects with odd and duplicate member names, lists of lists,
        # contained resources, escapes
        '{"resourceType":"Encounter","id":"long1","contained":[{"resourceType":"Medication","id":"m\\u0031"},'
        + ",".join(f'{{"resourceType":"Medication","id":"m{i}","code":{{"coding":[{{"system":"s","code":"{i}"}}]}}}}'
                   for i in range(300))
        + '],"a b":{' + ",".join(f'"k.{i}":{{"reference":"Patient/p{i}"}}' for i in range(300))
        + ',"k.1":{"reference":"Patient/dup"}},"identifier":[' + ",".join('{"system":"x"},{"system":"y"}'
                                                                      for _ in range(400))
        + '],"identifier":{"system":"z"},"grid":[' + ",".join('[{"coding":[{"system":"g","code":"1"}]},"s",1]'
                                                            for _ in range(400))
        + '],"class":{"system":"c","code":"' + "x" * 20000 + '"}}',
    ]
    text = "\n".join(lines[:5]) + "\r\n\r\n  \t\n" + "\r\n".join(lines[5:]) + "\n\n"
    (root / "Patient.ndjson").write_text(text, encoding="utf-8")
    (root / "1.Observation.ndjson").write_text(lines[-3] + "\n" + patients[0], encoding="utf-8")  # no final \n
    (root / "export.ndjson").write_text("\n".join(lines[30:40]) + "\n", encoding="utf-8")
    (root / "Empty.ndjson").write_text("", encoding="utf-8")
    (root / "Blank.ndjson").write_text("\n  \n\r\n\t", encoding="utf-8")
    return root


@pytest.mark.parametrize("options", [{}, {"chunk_bytes": 300, "workers": 2}, {"chunk_bytes": 1, "workers": 1}],
                         ids=["default", "small-chunks-2-workers", "line-per-chunk"])
def test_awkward_lines_flatten_to_the_same_tables(tmp_path, options):
    actual = _assert_same(_awkward_export(tmp_path / "export"), tmp_path, **options)
    resource = {r[4]: r for r in actual["resource"][1]}  # by id
    assert resource["d1"][9] and resource["num3"][6]  # (identifier systems, json_ok) really looked at


def test_many_structures_take_several_rounds(tmp_path, monkeypatch):
    """More structures than templates made per round, or kept: every line is still described."""
    monkeypatch.setattr(ff, "_NEW_TEMPLATES_PER_ROUND", 2)
    monkeypatch.setattr(ff, "_TEMPLATE_ROUNDS", 2)
    monkeypatch.setattr(ff, "_MAX_TEMPLATES", 3)
    root = tmp_path / "export"
    root.mkdir()
    rows = [{"resourceType": "Patient", "id": f"p{i}", "identifier": [{"system": f"s{j}"} for j in range(i % 9)],
             **{f"f{k}": {"reference": f"Patient/p{k}"} for k in range(i % 5)}} for i in range(60)]
    (root / "Patient.ndjson").write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows))
    _assert_same(root, tmp_path, chunk_bytes=2000, workers=1)


# --- pieces ------------------------------------------------------------------------------------

def test_line_splitting_matches_read_text(tmp_path):
    path = tmp_path / "x.ndjson"
    path.write_bytes(b'{"a":1}\r\n\r\n  \n\t\r\n{"b":2}\r\r\n\rx\r\n{"c":3}')
    chunks = list(ff._read_chunks(path, 4))
    lines = np.concatenate([c[0] for c in chunks]).tolist()
    texts = sum((c[1].to_pylist() for c in chunks), [])
    assert lines == [1, 5, 6, 7] and texts == ['{"a":1}', '{"b":2}', "\rx", '{"c":3}']


def test_line_longer_than_a_chunk(tmp_path):
    path = tmp_path / "x.ndjson"
    long = json.dumps({"resourceType": "Patient", "id": "p", "text": "x" * 5000})
    path.write_text(f"{long}\n\n{long}\n")
    chunks = list(ff._read_chunks(path, 100))
    assert [c[0].tolist() for c in chunks] == [[1], [3]]
    assert all(c[1].to_pylist() == [long] for c in chunks)


def test_invalid_utf8_is_an_export_error(tmp_path):
    (tmp_path / "Patient.ndjson").write_bytes(b'{"resourceType":"Patient"}\n{"id":"\xff"}\n')
    with pytest.raises(ff.FhirExportError, match="Patient.ndjson as UTF-8"):
        ff.flatten_export(tmp_path, tmp_path / "f.duckdb")


def test_summary_reports_steps(tmp_path):
    summary = ff.flatten_export(FIXTURES / "fhir_quality" / "taiwan", tmp_path / "f.duckdb")
    assert {"read", "parse", "national_ids", "elements_match", "write_resource", "finish"} <= set(summary.steps)


def test_structure_template_of_a_line():
    """A template lists the type of every leaf and empty container (the paths to them tell the
    others'), NULL one past each list, and where the values are."""
    con = duckdb.connect()
    try:
        ff._create_tables(con)
        worker = ff._Worker(con.cursor(), "all", 1, 0)
        line = '{"resourceType":"Patient","id":"p","identifier":[{"system":"s","value":"v"}],"link":[]}'
        worker.put("chunk_in", pa.table({"rid": [1], "line": [1], "raw": [line]}))
        worker._load("Patient.ndjson", "Patient")
        worker.view("c_doc", "SELECT rid AS doc, raw FROM c_line")
        template = worker._new_templates("c_doc", [1])[0]
    finally:
        con.close()
    assert template.members == 6
    assert dict(zip(template.type_paths, template.types)) == {
        "$.resourceType": "VARCHAR", "$.id": "VARCHAR", "$.identifier[0].system": "VARCHAR",
        "$.identifier[0].value": "VARCHAR", "$.link": "ARRAY", "$.identifier[1]": None, "$.link[0]": None}
    assert template.value_paths == ["$.identifier[0].system"]
    assert re.search(r"members = 6 AND json_type\(raw, \[", template.test_sql())


def test_lines_that_nearly_share_a_structure(tmp_path):
    """Lines differing from a described structure in one node only (a type, an extra member or list
    item, a renamed or duplicate member, a reordering) are each flattened as themselves."""
    root = tmp_path / "export"
    root.mkdir()
    base = {"resourceType": "Observation", "id": "o", "code": {"coding": [{"system": "s", "code": "c"}]},
            "note": "x", "subject": {"reference": "Patient/1"}, "valueQuantity": {"value": 1.5}}
    variants = [
        {"note": {"reference": "Patient/2"}}, {"note": {}}, {"note": []}, {"note": [{"system": "n"}]},
        {"note": ["x"]}, {"note": 5}, {"note": None},
        {"code": {"coding": [{"system": "s", "code": "c"}, {}]}}, {"code": {"coding": []}},
        {"code": {"coding": [{"system": "s", "code": "c", "coding": [{"code": "z"}]}]}},
        {"code": {"coding": [{"system": 1, "code": "c"}]}}, {"code": {"coding": [{"code": "c", "system": "s"}]}},
        {"subject": {"reference": 5}}, {"subject": {"reference": {"a": "Patient/3"}}},
        {"subject": {"display": "Patient/1"}}, {"valueQuantity": {"value": "1.5"}},
        {"valueQuantity": {"value": [1]}}, {"identifier": {"system": "i"}}, {"class": {"code": "AMB"}},
    ]
    lines = []
    for i in range(40):
        row = {**base, "id": f"o{i}"}
        if i % 2:
            row.update(variants[(i // 2) % len(variants)])
        lines.append(json.dumps(row, separators=(",", ":")))
    lines.append(json.dumps({"resourceType": "Observation", "id": "o-swap", "subject": {"reference": "Patient/1"},
                             "note": "x", "valueQuantity": {"value": 2}, "code": {"coding": [
                                 {"system": "s", "code": "c"}]}}, separators=(",", ":")))
    lines.append(lines[0][:-1] + ',"note":"y"}')  # a duplicate member name
    lines.append(lines[0].replace('"note"', '"nota"'))
    lines.append(lines[0].replace('"note":"x"', '"note":"x" '))
    (root / "Observation.ndjson").write_text("\n".join(lines) + "\n")
    for n, options in enumerate(({}, {"chunk_bytes": 1, "workers": 1})):
        (tmp_path / str(n)).mkdir()
        _assert_same(root, tmp_path / str(n), **options)


# --- any JSON: the same tables as the reference (property) --------------------------------------

# member names that make elements, and some that do not; values that are and are not strings
_NAMES = st.sampled_from(["identifier", "coding", "reference", "system", "code", "class", "valueCoding", "tag",
                          "security", "contained", "id", "meta", "profile", "x", "a b", "k.1", ""])
_LEAVES = st.one_of(st.sampled_from(["Patient/p1", "Patient/p2/_history/1", "#m1", "urn:uuid:1", "s", TW_ID,
                                     "", "Organization/", 'q"uote']),
                    st.integers(-5, 5), st.booleans(), st.none(), st.floats(allow_nan=False, width=32))
_JSON = st.recursive(_LEAVES, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(_NAMES, inner, max_size=4)), max_leaves=25)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(bodies=st.lists(st.dictionaries(_NAMES, _JSON, max_size=5), min_size=1, max_size=12),
       repeat=st.integers(1, 3), compact=st.booleans(), chunk_bytes=st.sampled_from([150, 1 << 20]))
def test_any_json_lines_flatten_to_the_same_tables(tmp_path_factory, bodies, repeat, compact, chunk_bytes):
    """Lines of arbitrary JSON objects (repeated, so that templates are made and matched, compact or
    spaced) give exactly the reference's tables in any chunk size."""
    root = tmp_path_factory.mktemp("any")
    export = root / "export"
    export.mkdir()
    separators = (",", ":") if compact else (", ", ": ")
    lines = [json.dumps({"resourceType": "Patient", "id": f"p{i}", **body}, separators=separators)
             for i, body in enumerate(bodies * repeat)]
    (export / "Patient.ndjson").write_text("\n".join(lines) + "\n", encoding="utf-8")
    _assert_same(export, root, chunk_bytes=chunk_bytes, workers=2 if chunk_bytes == 150 else 1)
