"""Identity and references of the FHIR feed: pseudonyms (hypothesis), reference parsing, no raw national IDs."""

from __future__ import annotations

import json
import string
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.fhir_in import stage_fhir
from connectors.fhir_in.identity import (
    HETU_SYSTEM,
    PSEUDONYM_PREFIX,
    TAIWAN_ID_SYSTEMS,
    VALIDATED_SYSTEMS,
    Utf8Pseudonymiser,
    choose_kind,
    resolve,
)
from connectors.fhir_in.sql import reference_parts_sql
from connectors.finland.hetu import check_char
from connectors.pseudonym import Pseudonymiser
from connectors.taiwan.national_id import check_digit
from terminology.fhir_profiles import NATIONAL_ID_SYSTEMS

SECRET = "identity-secret"
HEX64 = st.text("0123456789abcdef", min_size=64, max_size=64)


def _resolve(pairs, fallback=None, site=None, secret=SECRET):
    systems = pa.array([p[0] for p in pairs], pa.string())
    values = pa.array([p[1] for p in pairs], pa.string())
    fb = pa.array(fallback if fallback is not None else [None] * len(pairs), pa.string())
    return resolve(systems, values, fb, Utf8Pseudonymiser(secret), site)


def test_every_national_system_has_a_validator():
    assert set(NATIONAL_ID_SYSTEMS) == set(VALIDATED_SYSTEMS)


@st.composite
def taiwan_ids(draw):
    first9 = draw(st.sampled_from(string.ascii_uppercase)) + draw(st.sampled_from("1289")) + draw(
        st.text(string.digits, min_size=7, max_size=7))
    return first9 + check_digit(first9)


@st.composite
def hetus(draw):
    day, month, yy = draw(st.integers(1, 28)), draw(st.integers(1, 12)), draw(st.integers(0, 99))
    ddmmyy, nnn = f"{day:02d}{month:02d}{yy:02d}", f"{draw(st.integers(2, 899)):03d}"
    return ddmmyy + draw(st.sampled_from("-A")) + nnn + check_char(ddmmyy, nnn)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(taiwan_ids().map(lambda v: (TAIWAN_ID_SYSTEMS[0], v)),
                          hetus().map(lambda v: (HETU_SYSTEM, v))), min_size=1, max_size=8))
def test_valid_national_ids_become_the_register_pseudonym(pairs):
    got = _resolve(pairs)
    plain = Pseudonymiser(SECRET)  # what the register connectors use
    assert got.person_key.to_pylist() == [plain.one(v) for _, v in pairs]
    assert set(got.source.to_pylist()) <= {"national_id"}
    assert got.reason.null_count == len(pairs)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([*NATIONAL_ID_SYSTEMS, "http://x.org/mrn", PSEUDONYM_PREFIX + "taiwan",
                                           None]),
                          st.one_of(st.none(), st.text(max_size=20), HEX64)), max_size=12),
       st.text(min_size=1, max_size=10))
def test_identity_never_passes_a_raw_value_through(pairs, secret):
    got = _resolve(pairs, secret=secret)
    for (system, value), key, source, reason in zip(pairs, got.person_key.to_pylist(), got.source.to_pylist(),
                                                    got.reason.to_pylist()):
        assert (key is None) == (reason is not None or source is None)
        if key is None:
            continue
        assert len(key) == 64 and set(key) <= set("0123456789abcdef")
        if source == "pseudonym":  # the only case where the value is the key: it already is a pseudonym
            assert system.startswith(PSEUDONYM_PREFIX) and key == value.strip().lower()
        else:
            assert value is None or key != value.strip().lower()
    again = _resolve(pairs, secret=secret)  # deterministic
    assert again.person_key.to_pylist() == got.person_key.to_pylist()


def test_precedence_and_foreign_pseudonyms():
    systems = pa.array(["http://www.moi.gov.tw", PSEUDONYM_PREFIX + "finland", PSEUDONYM_PREFIX + "taiwan", "http://x",
                        None])
    values = pa.array(["A123456789", "a" * 64, "b" * 64, "v", None])
    assert choose_kind(systems, values, None).tolist() == [1, 2, 2, 3, 4]
    assert choose_kind(systems, values, "taiwan").tolist() == [1, 3, 2, 3, 4]  # another site's pseudonym: re-keyed
    got = _resolve([(PSEUDONYM_PREFIX + "finland", "a" * 64)], site="taiwan")
    assert got.source.to_pylist() == ["identifier"]
    assert got.person_key.to_pylist() == [Pseudonymiser(SECRET).one(PSEUDONYM_PREFIX + "finland|" + "a" * 64)]


def test_refusals_name_the_system_not_the_value():
    got = _resolve([("http://www.moi.gov.tw", "A123456788"), (HETU_SYSTEM, "131052-308X"),
                    (PSEUDONYM_PREFIX + "taiwan", "xyz")])
    assert got.reason.to_pylist() == ["invalid_national_id", "invalid_national_id", "invalid_pseudonym"]
    details = " ".join(got.detail.to_pylist())
    assert "http://www.moi.gov.tw" in details and "A123456788" not in details and "131052-308X" not in details


def test_hetu_states_birth_date_and_sex_and_temporary_ids():
    got = _resolve([(HETU_SYSTEM, "131052-308T"), (HETU_SYSTEM, "311299-9019")])
    assert [str(d) for d in got.birth_date.to_pylist()] == ["1952-10-13", "1999-12-31"]
    assert got.sex.to_pylist() == ["female", "male"]
    assert got.source.to_pylist() == ["national_id", "temporary_id"]


def test_utf8_identifiers_are_hashed():
    got = _resolve([("http://sairaala.example/hetu-ei", "Müller-ääkkönen")])
    assert got.source.to_pylist() == ["identifier"] and len(got.person_key[0].as_py()) == 64


# ---------------------------------------------------------------------------------------------- references
_TYPE = st.from_regex(r"[A-Z][a-z]{1,12}", fullmatch=True)
_ID = st.from_regex(r"[A-Za-z0-9.\-]{1,64}", fullmatch=True)


@pytest.fixture(scope="module")
def con():
    c = duckdb.connect()
    yield c
    c.close()


def _parts(con, refs: list[str]) -> list[tuple[str, str]]:
    con.register("refs", pa.table({"i": pa.array(range(len(refs)), pa.int64()), "ref": pa.array(refs, pa.string())}))
    try:
        rows = con.execute(f"SELECT {reference_parts_sql('ref')} FROM refs ORDER BY i").fetchall()
    finally:
        con.unregister("refs")
    return [(r[0]["t"], r[0]["i"]) for r in rows]


@settings(max_examples=80, deadline=None)
@given(_TYPE, _ID, st.sampled_from(["", "http://example.org/fhir/", "https://h.example/base/R4/"]),
       st.one_of(st.none(), _ID))
def test_literal_and_absolute_references_parse_to_type_and_id(con, rtype, rid, base, version):
    ref = f"{base}{rtype}/{rid}" + (f"/_history/{version}" if version else "")
    assert _parts(con, [ref]) == [(rtype, rid)]


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=string.ascii_letters + string.digits + ":#?=|. -", max_size=40))
def test_text_without_a_type_segment_is_not_a_reference(con, text):
    assert _parts(con, [text]) == [("", "")]  # no '/' at all: never a literal reference


# ---------------------------------------------------------------------------------------------- privacy
NATIONAL_IDS = ("A123456789", "131052-308T", "010203A234K", "F123456784")


def _write_inputs(folder: Path) -> None:
    folder.mkdir(parents=True)
    lines = [
        {"resourceType": "Patient", "id": "A123456789", "birthDate": "1970-01-01",  # an id that is a national ID
         "identifier": [{"system": "http://www.moi.gov.tw", "value": "A123456789"}]},
        {"resourceType": "Patient", "id": "p2", "birthDate": "1952-10-13",
         "identifier": [{"system": "urn:oid:1.2.246.21", "value": "131052-308T"}]},
        {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/A123456789"},
         "code": {"coding": [{"code": "E11.9"}]}, "recordedDate": "2020-01-01"},
        {"resourceType": "Condition", "id": "c2",
         "subject": {"identifier": {"system": "urn:oid:1.2.246.21", "value": "131052-308T"}},
         "code": {"coding": [{"code": "E11.9"}]}, "recordedDate": "2020-01-01"},
        {"resourceType": "Condition", "id": "c3",
         "subject": {"reference": "Patient?identifier=urn:oid:1.2.246.21|131052-308T"},
         "code": {"coding": [{"code": "I10"}]}, "recordedDate": "2020-01-01"},
        {"resourceType": "Observation", "id": "o1", "status": "final",  # unresolved subject:
         "subject": {"reference": "Patient/F123456784"},
         "code": {"coding": [{"code": "X"}]}, "effectiveDateTime": "2020-01-01"},
    ]
    (folder / "data.ndjson").write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "http://example.org/fhir/Patient/010203A234K",
         "resource": {"resourceType": "Patient", "birthDate": "2003-02-01",
                      "identifier": [{"system": "urn:oid:1.2.246.21", "value": "010203A234K"}]}},
        {"resource": {"resourceType": "Condition",
                      "subject": {"reference": "http://example.org/fhir/Patient/010203A234K"},
                      "code": {"coding": [{"code": "J06.9"}]}, "recordedDate": "2021-01-01"}},
    ]}
    (folder / "bundle.json").write_text(json.dumps(bundle), encoding="utf-8")


def test_raw_national_ids_never_reach_staging(tmp_path):
    _write_inputs(tmp_path / "in")
    report = stage_fhir(tmp_path / "in", tmp_path / "st", SECRET, validate="all")
    assert report.reconciled
    assert report.staged["fhir_patient"] == 3 and report.staged["fhir_condition"] == 4  # all resolved
    assert report.quarantined == {"unresolved_reference": 1}
    files = [p for p in (tmp_path / "st").rglob("*") if p.is_file()]
    assert files
    for path in files:  # every byte of every output, and every decoded Parquet value
        data = path.read_bytes()
        assert not any(v.encode() in data for v in NATIONAL_IDS), path
        if path.suffix == ".parquet":
            text = json.dumps(pq.read_table(path).to_pylist(), default=str)
            assert not any(v in text for v in NATIONAL_IDS), path
    conditions = pq.read_table(tmp_path / "st" / "tables" / "fhir_condition").to_pylist()
    keys = Pseudonymiser(SECRET)
    by_id = {c["resource_key"]: c["person_key"] for c in conditions}
    assert by_id["Condition/c1"] == keys.one("A123456789")
    assert by_id["Condition/c2"] == by_id["Condition/c3"] == keys.one("131052-308T")
