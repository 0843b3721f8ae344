"""The project's CDM v5.4 declaration against the official specification CSVs."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow as pa
import pytest

from terminology.omop_cdm import (
    CDM,
    CdmDeclarationError,
    UnknownCdmTable,
    arrow_schema,
    cdm_tables,
    clinical_tables,
    load_cdm,
    results_tables,
    vocabulary_tables,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
SPEC_DIR = REPO_ROOT.parent / "shared" / "reference" / "omop"


def _spec(name: str) -> list[dict[str, str]]:
    path = SPEC_DIR / name
    if not path.exists():
        pytest.skip(f"OMOP CDM reference spec not found at {path} (expected shared/ beside the repository)")
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def spec_fields() -> list[dict[str, str]]:
    return _spec("OMOP_CDMv5.4_Field_Level.csv")


@pytest.fixture(scope="module")
def spec_tables() -> list[dict[str, str]]:
    return _spec("OMOP_CDMv5.4_Table_Level.csv")


def _na(v: str) -> str | None:
    return None if v == "NA" else v


def _lower(v: str | None) -> str | None:
    return None if v is None else v.lower()


def test_every_table_in_spec_order(spec_fields, spec_tables):
    from_fields = list(dict.fromkeys(r["cdmTableName"] for r in spec_fields))
    assert list(CDM.tables) == from_fields
    assert list(CDM.tables) == [r["cdmTableName"] for r in spec_tables]
    assert len(CDM.tables) == 39


def test_every_field_matches_the_spec(spec_fields):
    declared = [(t.name, f) for t in CDM.tables.values() for f in t.fields]
    assert len(declared) == len(spec_fields) == 432
    for (table, f), row in zip(declared, spec_fields):
        where = f"{row['cdmTableName']}.{row['cdmFieldName']}"
        # the spec writes the reserved word quoted ("offset"); the declaration holds the bare name
        assert (table, f.name) == (row["cdmTableName"], row["cdmFieldName"].strip('"')), where
        assert f.datatype == row["cdmDatatype"].lower(), where
        assert f.required == (row["isRequired"] == "Yes"), where
        assert f.primary_key == (row["isPrimaryKey"] == "Yes"), where
        assert (f.fk_table is not None) == (row["isForeignKey"] == "Yes"), where
        assert f.fk_table == _lower(_na(row["fkTableName"])), where
        assert f.fk_field == _lower(_na(row["fkFieldName"])), where
        assert f.fk_domain == _na(row["fkDomain"]), where
        assert f.fk_class == _na(row["fkClass"]), where


def test_table_groups_agree_with_spec_schemas(spec_tables):
    for row in spec_tables:
        group = CDM.tables[row["cdmTableName"]].group
        expected = {"VOCAB": {"vocabulary"}, "RESULTS": {"results"}}.get(
            row["schema"], {"clinical", "health_system", "health_economics", "derived", "metadata"}
        )
        assert group in expected, row["cdmTableName"]


def test_capital_integer_is_normalised():
    assert CDM.tables["visit_occurrence"].field("visit_type_concept_id").datatype == "integer"


def test_primary_keys_and_helpers():
    assert CDM.tables["person"].primary_key == ("person_id",)
    assert CDM.tables["concept"].primary_key == ("concept_id",)
    assert CDM.tables["death"].primary_key == ()
    assert CDM.tables["fact_relationship"].primary_key == ()
    assert vocabulary_tables() == [
        "concept", "vocabulary", "domain", "concept_class", "concept_relationship",
        "relationship", "concept_synonym", "concept_ancestor", "source_to_concept_map", "drug_strength",
    ]  # fmt: skip
    assert clinical_tables()[:3] == ["person", "observation_period", "visit_occurrence"]
    assert "fact_relationship" in clinical_tables() and "drug_era" not in clinical_tables()
    assert results_tables() == ["cohort", "cohort_definition"]
    assert set(cdm_tables()) | set(vocabulary_tables()) | set(results_tables()) == set(CDM.tables)
    assert CDM.tables["person"].field("gender_concept_id").is_concept_id
    assert CDM.tables["person"].field("person_source_value").length == 50
    assert CDM.tables["note"].field("note_text").length is None
    with pytest.raises(UnknownCdmTable, match="persons"):
        CDM.table("persons")
    with pytest.raises(KeyError, match="no field 'nope'"):
        CDM.tables["person"].field("nope")


def test_arrow_schema_types():
    s = arrow_schema("visit_occurrence")
    assert s.names == CDM.tables["visit_occurrence"].field_names
    assert s.field("visit_occurrence_id").type == pa.int64()
    assert s.field("visit_start_date").type == pa.date32()
    assert s.field("visit_start_datetime").type == pa.timestamp("us")
    assert s.field("visit_source_value").type == pa.string()
    assert arrow_schema("measurement").field("value_as_number").type == pa.float64()
    assert all(f.nullable for f in s)
    strict = arrow_schema("visit_occurrence", required_not_null=True)
    assert not strict.field("person_id").nullable and strict.field("provider_id").nullable


HEADER = "table\tfield\tdatatype\trequired\tprimary_key\tfk_table\tfk_field\tfk_domain\tfk_class\n"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("person\tperson_id\tinteger\t1\t1\t\t\t\t\n", None),
        ("person\tperson_id\tint\t1\t1\t\t\t\t\n", r"x\.tsv:3: field 'person_id' has unknown datatype 'int'"),
        ("person\tperson_id\tinteger\tyes\t1\t\t\t\t\n", r"x\.tsv:3: column 'required' must be 0 or 1"),
        ("person\tperson_id\tinteger\t1\n", r"x\.tsv:3: expected 9 columns, got 4"),
        ('person\t"offset"\tinteger\t1\t1\t\t\t\t\n', r"field name '\"offset\"' is not a lower-case identifier"),
        ("persons\tperson_id\tinteger\t1\t1\t\t\t\t\n", r"table 'persons' belongs to no table group"),
        ("person\tgender_concept_id\tinteger\t1\t0\tconcept\tconcept_id\t\t\n", r"references unknown concept\.concept_id"),
    ],
)
def test_malformed_declaration_is_reported(tmp_path, line, message):
    path = tmp_path / "x.tsv"
    path.write_text("# comment\n" + HEADER + line, encoding="utf-8")
    if message is None:
        assert load_cdm(path).tables["person"].primary_key == ("person_id",)
    else:
        with pytest.raises(CdmDeclarationError, match=message):
            load_cdm(path)
