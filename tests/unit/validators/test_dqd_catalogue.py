"""The DQD check catalogue (validators.dqd.catalogue): coverage, examples, strict parsing, overrides."""

from __future__ import annotations

import collections
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from terminology.omop_cdm import CDM
from validators.dqd import catalogue as cat
from validators.dqd.catalogue import (
    CHECK_TYPES, Catalogue, CatalogueError, declared_checks, level_of, load_catalogue, load_check_types,
    render_description, severity_of,
)  # fmt: skip
from validators.dqd.spec import CheckSpec

FILES = ("check_types.tsv", "table_checks.tsv", "field_checks.tsv", "concept_checks.tsv")
REFERENCE = Path("/work/shared/reference/omop")
ALL = declared_checks()
BY_ID = {s.check_id: s for s in ALL}


def _packaged_dir() -> Path:
    return Path(str(resources.files("validators.dqd").joinpath("data")))


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A copy of the packaged catalogue TSVs to corrupt."""
    for name in FILES:
        shutil.copy(_packaged_dir() / name, tmp_path / name)
    return tmp_path


def _append(path: Path, line: str) -> int:
    """Append one line; its line number."""
    text = path.read_text(encoding="utf-8")
    path.write_text(text + line + "\n", encoding="utf-8")
    return len(text.splitlines()) + 1


def _field_row(table: str, field: str, check: str, threshold: str = "0", **params: str) -> str:
    columns = cat.FIELD_COLUMNS[4:]
    unknown = set(params) - set(columns)
    assert not unknown, unknown
    return "\t".join([table, field, check, threshold, *(params.get(c, "") for c in columns)])


def _concept_row(**cells: str) -> str:
    row = {
        "table": "condition_occurrence", "field": "condition_concept_id", "concept_id": "999999001",
        "concept_name": "Test concept", "unit_concept_id": "", "unit_concept_name": "",
        "check_name": "plausibleGender", "threshold": "5", "plausible_value_low": "", "plausible_value_high": "",
        "plausible_gender": "Male", "unit_concept_ids": "",
    }  # fmt: skip
    row.update(cells)
    return "\t".join(row[c] for c in cat.CONCEPT_COLUMNS)


def _expect_error(data_dir: Path, file: str, line: int | None, column: str | None, text: str) -> CatalogueError:
    with pytest.raises(CatalogueError) as info:
        load_catalogue(data_dir)
    err = info.value
    assert err.file is not None and err.file.endswith(file), str(err)
    assert err.line == line, str(err)
    assert err.column == column, str(err)
    assert text in str(err)
    if line is not None:
        assert f"{file}:{line}: " in str(err)
    if column is not None:
        assert f"column {column!r}" in str(err)
    return err


# ---------------------------------------------------------------------------- coverage and counts


def test_check_types_are_the_27_dqd_types():
    assert len(CHECK_TYPES) == 27
    levels = collections.Counter(t.level for t in CHECK_TYPES.values())
    assert levels == {"TABLE": 4, "FIELD": 20, "CONCEPT": 3}
    assert CHECK_TYPES["isRequired"].severity == "fatal"
    assert CHECK_TYPES["fkDomain"].severity == "convention"
    assert CHECK_TYPES["plausibleGender"].severity == "characterization"
    assert CHECK_TYPES["measureObservationPeriodOverlap"].kahn_subcategory == "Temporal"
    assert CHECK_TYPES["measurePersonCompleteness"].kahn_subcategory is None
    assert list(CHECK_TYPES)[:2] == ["cdmTable", "measurePersonCompleteness"]
    assert load_check_types() == CHECK_TYPES
    assert cat.CHECK_TYPES is CHECK_TYPES  # cached


def test_every_check_type_has_instances_and_counts_are_plausible():
    counts = collections.Counter(s.check_name for s in ALL)
    print("\n".join(f"{name:36s}{counts[name]:5d}" for name in CHECK_TYPES), f"\ntotal {len(ALL)}")
    assert set(counts) == set(CHECK_TYPES)
    fields = [f for t in CDM.tables.values() for f in t.fields]
    assert counts["cdmTable"] == len(CDM.tables) == 39
    assert counts["cdmField"] == len(fields) == counts["measureValueCompleteness"]
    assert counts["isRequired"] == sum(f.required for f in fields)
    assert counts["isPrimaryKey"] == sum(f.primary_key for f in fields)
    assert counts["cdmDatatype"] == sum(f.datatype == "integer" for f in fields)
    # the DQD adds cohort_definition.cohort_definition_id -> cohort to the CDM's foreign keys
    assert counts["isForeignKey"] == sum(bool(f.fk_table) for f in fields) + 1
    assert counts["fkDomain"] == sum(bool(f.fk_domain) for f in fields) + 4
    assert counts["fkClass"] == sum(bool(f.fk_class) for f in fields) + 1
    assert counts["plausibleGender"] > 250 and counts["plausibleUnitConceptIds"] > 150
    assert 40 < counts["plausibleAfterBirth"] < 60 and 20 < counts["plausibleStartBeforeEnd"] < 30
    assert len(ALL) == sum(counts.values()) == 2576


def test_check_ids_unique_and_order_stable():
    ids = [s.check_id for s in ALL]
    assert len(ids) == len(set(ids))
    assert [s.check_id for s in declared_checks()] == ids
    assert ids[0] == "cdmTable.person"
    tables = list(CDM.tables)
    assert [tables.index(s.table) for s in ALL] == sorted(tables.index(s.table) for s in ALL)
    person = [s for s in ALL if s.table == "person"]
    levels = ["TABLE", "FIELD", "CONCEPT"]
    assert [levels.index(level_of(s)) for s in person] == sorted(levels.index(level_of(s)) for s in person)
    # within a level, check type order then field order
    types = list(CHECK_TYPES)
    fields = CDM.table("person").field_names
    keys = [(types.index(s.check_name), fields.index(s.field)) for s in person if s.field]
    assert keys == sorted(keys)
    cond = [s for s in ALL if s.table == "condition_occurrence"]
    assert level_of(cond[-1]) == "CONCEPT"


def test_tables_filter():
    person = declared_checks(["person"])
    assert person and {s.table for s in person} == {"person"}
    assert [s.check_id for s in person] == [s.check_id for s in ALL if s.table == "person"]
    assert declared_checks("death") == declared_checks(["death"])
    assert {s.table for s in declared_checks(["concept", "person"])} == {"concept", "person"}
    with pytest.raises(CatalogueError, match=r"unknown CDM tables \['nope'\]"):
        declared_checks(["person", "nope"])


# ---------------------------------------------------------------------------- examples


def test_person_gender_concept_id():
    checks = {s.check_name: s for s in ALL if s.table == "person" and s.field == "gender_concept_id"}
    assert {"isRequired", "isForeignKey", "fkDomain", "isStandardValidConcept", "cdmDatatype", "cdmField"} <= set(checks)
    fk = checks["isForeignKey"]
    assert (fk.fk_table, fk.fk_field, fk.threshold) == ("concept", "concept_id", 0.0)
    assert checks["fkDomain"].fk_domain == "Gender"
    assert checks["cdmDatatype"].datatype == "integer"
    assert checks["standardConceptRecordCompleteness"].threshold == 5.0
    assert checks["measureValueCompleteness"].threshold == 0.0
    assert "isPrimaryKey" not in checks
    assert severity_of(checks["isRequired"]) == "fatal"
    assert render_description(fk) == (
        "Records of person (number and percent) whose gender_concept_id value has no match in concept.concept_id."
    )


def test_field_plausibility_examples():
    after_birth = BY_ID["plausibleAfterBirth.condition_occurrence.condition_start_date"]
    assert after_birth.threshold == 1.0
    sbe = BY_ID["plausibleStartBeforeEnd.visit_occurrence.visit_start_date"]
    assert sbe.start_before_end_field == "visit_end_date"
    assert BY_ID["plausibleStartBeforeEnd.observation_period.observation_period_start_date"].threshold == 0.0
    ta = BY_ID["plausibleTemporalAfter.visit_occurrence.visit_start_date"]
    assert (ta.temporal_after_table, ta.temporal_after_field) == ("person", "birth_datetime")
    yob_low, yob_high = BY_ID["plausibleValueLow.person.year_of_birth"], BY_ID["plausibleValueHigh.person.year_of_birth"]
    assert (yob_low.plausible_value_low, yob_high.plausible_value_high) == (1850.0, "today")
    assert BY_ID["plausibleValueLow.visit_occurrence.visit_start_date"].plausible_value_low == "1950-01-01"
    svc = BY_ID["sourceValueCompleteness.condition_occurrence.condition_source_value"]
    assert (svc.standard_concept_field, svc.threshold) == ("condition_concept_id", 10.0)
    assert BY_ID["withinVisitDates.visit_detail.visit_detail_start_date"].threshold == 1.0
    assert "measurePersonCompleteness.person" not in BY_ID
    assert BY_ID["measurePersonCompleteness.visit_occurrence"].threshold == 95.0
    assert BY_ID["measureConditionEraCompleteness.condition_era"].threshold == 0.0
    assert "measureObservationPeriodOverlap.observation_period" in BY_ID
    assert render_description(sbe) == (
        "Records of visit_occurrence (number and percent) whose start visit_start_date is later than their end "
        "visit_end_date."
    )


def test_concept_level_examples():
    g = BY_ID["plausibleGender.condition_occurrence.condition_concept_id.26662"]
    assert (g.plausible_gender, g.threshold, level_of(g)) == ("Male", 5.0, "CONCEPT")
    assert "26662 (Testicular hypofunction)" in render_description(g)
    assert "is not Male" in render_description(g)
    desc = [s for s in ALL if s.check_name == "plausibleGenderUseDescendants"]
    assert {s.plausible_gender for s in desc} == {"Male", "Female"}
    assert all(s.threshold == 2.0 for s in desc)
    assert "plausibleGenderUseDescendants.condition_occurrence.condition_concept_id.4090861" in BY_ID
    units = [s for s in ALL if s.check_name == "plausibleUnitConceptIds"]
    assert all(s.unit_concept_ids and s.table == "measurement" for s in units)
    assert all(len(set(s.unit_concept_ids)) == len(s.unit_concept_ids) for s in units)
    low = BY_ID["plausibleValueLow.observation.observation_concept_id.37392176.8749"]
    assert (low.plausible_value_low, low.unit_concept_id, low.threshold) == (10.0, 8749, 5.0)
    assert "unit 8749 (micromole per liter)" in render_description(low)
    # concept rows the DQD lists only for isTemporallyConstant/validPrevalence are not checks
    assert not [s for s in ALL if s.table == "visit_occurrence" and s.concept_id is not None]


def test_every_description_renders_without_placeholders_left():
    for spec in ALL:
        text = render_description(spec)
        assert "@" not in text and "?" not in text, (spec.check_id, text)


def test_tsvs_do_not_repeat_what_the_cdm_declares():
    text = (_packaged_dir() / "field_checks.tsv").read_text(encoding="utf-8")
    structural = collections.Counter(
        line.split("\t")[2] for line in text.splitlines() if line and not line.startswith("#")
    )
    for name in ("cdmField", "isRequired", "cdmDatatype", "isPrimaryKey"):
        assert structural[name] == 0
    assert structural["isForeignKey"] == 1 and structural["fkDomain"] == 4 and structural["fkClass"] == 1
    header = (_packaged_dir() / "table_checks.tsv").read_text(encoding="utf-8").splitlines()[0]
    assert header.startswith("#") and "OHDSI DataQualityDashboard" in header and "Apache-2.0" in header


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="DQD reference files not available")
def test_derive_script_reproduces_the_packaged_tsvs(tmp_path):
    script = _packaged_dir() / "derive_from_dqd.py"
    subprocess.run([sys.executable, str(script), str(REFERENCE), "--out", str(tmp_path)], check=True, capture_output=True)
    for name in FILES:
        assert (tmp_path / name).read_text() == (_packaged_dir() / name).read_text(), name


# ---------------------------------------------------------------------------- overrides


def test_overrides_by_name_table_and_id_most_specific_wins():
    checks = declared_checks(
        overrides={
            "isRequired": 1.0,
            "isRequired.person": 2,
            "isRequired.person.person_id": {"threshold": 3.5, "severity": "convention"},
        }
    )
    by_id = {s.check_id: s for s in checks}
    assert by_id["isRequired.visit_occurrence.visit_occurrence_id"].threshold == 1.0
    assert by_id["isRequired.person.gender_concept_id"].threshold == 2.0
    pid = by_id["isRequired.person.person_id"]
    assert (pid.threshold, pid.severity, severity_of(pid)) == (3.5, "convention", "convention")
    assert by_id["cdmField.person.person_id"] == BY_ID["cdmField.person.person_id"]
    # severity alone keeps the threshold
    only = declared_checks(["person"], overrides={"plausibleValueLow": {"severity": "fatal"}})
    low = next(s for s in only if s.check_id == "plausibleValueLow.person.year_of_birth")
    assert (low.threshold, severity_of(low)) == (1.0, "fatal")
    # a key for a table outside the selection is still valid
    assert declared_checks(["death"], overrides={"isRequired.person": 5}) == declared_checks(["death"])
    # the packaged catalogue is not changed by overrides
    assert BY_ID["isRequired.person.person_id"].threshold == 0.0 and ALL == declared_checks()


def test_overrides_reject_unknown_keys_listing_them():
    with pytest.raises(CatalogueError) as info:
        declared_checks(overrides={"isRequird": 1, "isRequired.nope": 1, "isRequired": 1, "cdmTable.x.y": 2})
    msg = str(info.value)
    for key in ("isRequird", "isRequired.nope", "cdmTable.x.y"):
        assert repr(key) in msg
    assert "'isRequired'," not in msg
    with pytest.raises(CatalogueError, match="unknown override keys"):
        declared_checks(overrides={"measurePersonCompleteness.person": 1})  # no such instance


@pytest.mark.parametrize(
    "value, text",
    [
        (-1, "0..100"),
        (100.5, "0..100"),
        (True, "0..100"),
        ("5", "0..100"),
        (float("nan"), "0..100"),
        ({"severity": "error"}, "severity must be one of"),
        ({"threshold": 5, "colour": "red"}, "give 'threshold' and/or 'severity'"),
        ({}, "give 'threshold' and/or 'severity'"),
        ({"threshold": 200}, "0..100"),
    ],
)
def test_overrides_reject_bad_values(value, text):
    with pytest.raises(CatalogueError, match=r"override 'isRequired'.*" + text.replace("(", r"\(").replace(".", r"\.")):
        declared_checks(overrides={"isRequired": value})


def test_overrides_must_be_a_mapping():
    with pytest.raises(CatalogueError, match="must be a mapping"):
        declared_checks(overrides=[("isRequired", 1)])  # type: ignore[arg-type]


def test_severity_of_and_unknown_types():
    assert severity_of(CheckSpec("plausibleGender", "person", "x", concept_id=1)) == "characterization"
    with pytest.raises(CatalogueError, match="unknown check type 'nope'"):
        severity_of(CheckSpec("nope", "person"))
    with pytest.raises(CatalogueError, match="unknown check type 'nope'"):
        render_description(CheckSpec("nope", "person"))


# ---------------------------------------------------------------------------- loading a directory


def test_load_copy_equals_packaged(data_dir):
    loaded = load_catalogue(data_dir)
    assert isinstance(loaded, Catalogue)
    assert loaded.checks == tuple(ALL)
    assert loaded.source == str(data_dir)
    assert loaded.concept_names[26662] == "Testicular hypofunction"


def test_row_for_a_structural_check_sets_its_threshold(data_dir):
    _append(data_dir / "field_checks.tsv", _field_row("person", "person_id", "isRequired", "5"))
    _append(data_dir / "field_checks.tsv", _field_row("person", "gender_concept_id", "isForeignKey", "2", fk_table="concept", fk_field="concept_id"))
    _append(data_dir / "table_checks.tsv", "person\tcdmTable\t1")
    by_id = load_catalogue(data_dir).by_id
    assert by_id["isRequired.person.person_id"].threshold == 5.0
    fk = by_id["isForeignKey.person.gender_concept_id"]
    assert (fk.threshold, fk.fk_table, fk.fk_field) == (2.0, "concept", "concept_id")
    assert by_id["cdmTable.person"].threshold == 1.0


FIELD = "field_checks.tsv"
CONCEPT = "concept_checks.tsv"
TABLE = "table_checks.tsv"


@pytest.mark.parametrize(
    "file, line, column, text",
    [
        (FIELD, _field_row("person", "person_id", "isRequierd"), "check_name", "unknown check 'isRequierd'"),
        (FIELD, _field_row("persn", "person_id", "isRequired"), "table", "'persn' is not a table"),
        (FIELD, _field_row("person", "persn_id", "isRequired"), "field", "has no field 'persn_id'"),
        (FIELD, _field_row("person", "person_id", "isRequired", "five"), "threshold", "'five' is not a number"),
        (FIELD, _field_row("person", "person_id", "isRequired", "101"), "threshold", "not a percentage"),
        (FIELD, _field_row("person", "person_id", "cdmTable"), "check_name", "TABLE-level check"),
        (FIELD, _field_row("person", "person_id", "measureValueCompleteness"), "check_name", "duplicate check"),
        (FIELD, _field_row("person", "person_id", "isRequired", plausible_value_low="1"), "plausible_value_low", "takes no"),
        (FIELD, _field_row("person", "year_of_birth", "plausibleDuringLife", fk_domain="Gender"), "fk_domain", "takes no"),
        (FIELD, _field_row("person", "person_source_value", "sourceValueCompleteness"), "standard_concept_field", "needs"),
        (FIELD, _field_row("person", "birth_datetime", "plausibleValueLow", plausible_value_low="1850"), "plausible_value_low", "not a date"),
        (FIELD, _field_row("person", "birth_datetime", "plausibleValueLow", plausible_value_low="1850-02-30"), "plausible_value_low", "not a valid date"),
        (FIELD, _field_row("person", "birth_datetime", "plausibleValueLow", plausible_value_low="today"), "plausible_value_low", "not a date"),
        (FIELD, _field_row("person", "month_of_birth", "plausibleValueHigh", plausible_value_high="1e"), "plausible_value_high", "not a number or today"),
        (FIELD, _field_row("person", "gender_concept_id", "isForeignKey", fk_table="location", fk_field="location_id"), "fk_table", "contradicts terminology.omop_cdm"),
        (FIELD, _field_row("person", "gender_concept_id", "isForeignKey", fk_table="concept", fk_field="nope"), "fk_field", "has no field 'nope'"),
        (FIELD, _field_row("person", "birth_datetime", "plausibleTemporalAfter", temporal_after_table="death"), None, "go together"),
        (FIELD, _field_row("person", "birth_datetime", "plausibleStartBeforeEnd", start_before_end_field="visit_end_date"), "start_before_end_field", "has no field"),
        (FIELD, _field_row("person", "person_id", "cdmDatatype", datatype="int"), "datatype", "not a CDM datatype"),
        (FIELD, "person\tperson_id\tisRequired\t0", "fk_table", "expected 15 tab-separated columns, got 4"),
        (FIELD, _field_row("person", "person_id", "isRequired", " 1"), "threshold", "leading or trailing spaces"),
        (TABLE, "person\tmeasurePersonCompleteness\tx", "threshold", "not a number"),
        (TABLE, "persons\tmeasurePersonCompleteness\t0", "table", "not a table"),
        (TABLE, "person\tisRequired\t0", "check_name", "FIELD-level check"),
        (TABLE, "visit_occurrence\tmeasurePersonCompleteness\t0", "check_name", "duplicate check"),
        (TABLE, "person\tcdmTable\t0\textra", None, "expected 3 tab-separated columns, got 4"),
        (CONCEPT, _concept_row(concept_id="abc"), "concept_id", "not an integer"),
        (CONCEPT, _concept_row(concept_id="-5"), "concept_id", "positive concept id"),
        (CONCEPT, _concept_row(check_name="isRequired"), "check_name", "not a concept check"),
        (CONCEPT, _concept_row(check_name="plausibleGendr"), "check_name", "unknown check"),
        (CONCEPT, _concept_row(plausible_gender="male"), "plausible_gender", "not one of Male, Female"),
        (CONCEPT, _concept_row(plausible_gender=""), "plausible_gender", "needs"),
        (CONCEPT, _concept_row(field="condition_start_date"), "field", "not a concept_id field"),
        (CONCEPT, _concept_row(concept_id="26662", concept_name="Other name", plausible_gender="Female", check_name="plausibleGenderUseDescendants", threshold="2"), "concept_name", "is named 'Testicular hypofunction'"),
        (CONCEPT, _concept_row(concept_id="26662", concept_name="Testicular hypofunction"), "check_name", "duplicate check 'plausibleGender.condition_occurrence.condition_concept_id.26662'"),
        (CONCEPT, _concept_row(unit_concept_id="8840", unit_concept_name="mg/dL"), "unit_concept_id", "not checked per unit"),
        (CONCEPT, _concept_row(unit_concept_name="mg/dL"), "unit_concept_name", "without a unit_concept_id"),
        (CONCEPT, _concept_row(concept_name=""), "concept_name", "empty concept name"),
        (CONCEPT, _concept_row(table="measurement", field="measurement_concept_id", check_name="plausibleUnitConceptIds", plausible_gender="", unit_concept_ids="8840;8753"), "unit_concept_ids", "comma-separated list"),
        (CONCEPT, _concept_row(table="measurement", field="measurement_concept_id", check_name="plausibleValueHigh", plausible_gender="", unit_concept_id="8840", unit_concept_name="milligram per deciliter", plausible_value_high="today"), "plausible_value_high", "not a number"),
    ],
)
def test_malformed_rows_name_file_line_and_column(data_dir, file, line, column, text):
    lineno = _append(data_dir / file, line)
    _expect_error(data_dir, file, lineno, column, text)


def test_bad_header_and_missing_file(data_dir):
    path = data_dir / "table_checks.tsv"
    lines = path.read_text().splitlines()
    header_at = next(i for i, line in enumerate(lines) if not line.startswith("#"))
    lines[header_at] = lines[header_at].replace("threshold", "limit")
    path.write_text("\n".join(lines) + "\n")
    _expect_error(data_dir, "table_checks.tsv", header_at + 1, None, "header must be table|check_name|threshold")
    path.write_text("# only a comment\n")
    _expect_error(data_dir, "table_checks.tsv", None, None, "no header line")
    path.unlink()
    _expect_error(data_dir, "table_checks.tsv", None, None, "file not found")


def _edit_type(data_dir: Path, name: str, column: str, value: str) -> int:
    path = data_dir / "check_types.tsv"
    lines = path.read_text().splitlines()
    header = next(line for line in lines if not line.startswith("#")).split("\t")
    for i, line in enumerate(lines):
        cells = line.split("\t")
        if cells[0] == name:
            cells[header.index(column)] = value
            lines[i] = "\t".join(cells)
            path.write_text("\n".join(lines) + "\n")
            return i + 1
    raise AssertionError(name)


@pytest.mark.parametrize(
    "name, column, value, text",
    [
        ("isRequired", "severity", "error", "is not one of"),
        ("isRequired", "level", "ROW", "is not one of"),
        ("isRequired", "kahn_category", "Conformity", "is not one of"),
        ("isRequired", "description", "NULL in @cdmFieldNam of @cdmTableName", "unknown placeholders ['@cdmFieldNam']"),
        ("isRequired", "placeholders", "@cdmTableName", "but the templates use"),
        ("isRequired", "parameters", "fk_tabel", "unknown or repeated CheckSpec parameters"),
        ("isRequired", "description", "", "empty description"),
        ("isRequired", "check_name", "is-required", "not a check name"),
        ("fkDomain", "check_name", "isRequired", "declared twice"),
    ],
)
def test_malformed_check_types(data_dir, name, column, value, text):
    lineno = _edit_type(data_dir, name, column, value)
    _expect_error(data_dir, "check_types.tsv", lineno, column, text)


def test_structural_check_type_missing(data_dir):
    path = data_dir / "check_types.tsv"
    path.write_text("\n".join(line for line in path.read_text().splitlines() if not line.startswith("fkClass\t")) + "\n")
    _expect_error(data_dir, "check_types.tsv", None, None, "structural check types ['fkClass']")


_threshold_text = st.text(alphabet="0123456789.-+eE x,", min_size=0, max_size=8)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=_threshold_text)
def test_threshold_cells_parse_or_fail_at_the_threshold_column(data_dir, raw):
    path = data_dir / "table_checks.tsv"
    original = path.read_text()
    try:
        lineno = _append(path, f"person\tcdmTable\t{raw}")
        try:
            value = float(raw)
            valid = raw == raw.strip() and raw != "" and 0 <= value <= 100 and cat._NUMBER.match(raw)
        except ValueError:
            valid = False
        builder = cat._Builder(*cat._parse_check_types(*cat._text(data_dir, "check_types.tsv"))[:2])

        def parse() -> None:
            rows = cat._rows(path.read_text(), str(path), cat.TABLE_COLUMNS)
            builder.table_row(rows[-1])

        if valid:
            parse()
            assert builder.specs["cdmTable.person"].threshold == float(raw)
        else:
            with pytest.raises(CatalogueError) as info:
                parse()
            assert (info.value.line, info.value.column) == (lineno, "threshold")
    finally:
        path.write_text(original)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    table=st.sampled_from(list(CDM.tables)),
    field=st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=25),
)
def test_unknown_fields_fail_at_the_field_column(data_dir, table, field):
    path = data_dir / "field_checks.tsv"
    original = path.read_text()
    try:
        lineno = _append(path, _field_row(table, field, "measureValueCompleteness", "0"))
        rows = cat._rows(path.read_text(), str(path), cat.FIELD_COLUMNS)
        builder = cat._Builder(*cat._parse_check_types(*cat._text(data_dir, "check_types.tsv"))[:2])
        if field in CDM.table(table):
            return  # a real field: covered by the duplicate-check case
        with pytest.raises(CatalogueError) as info:
            builder.field_row(rows[-1])
        assert (info.value.line, info.value.column) == (lineno, "field")
        assert f"{path}:{lineno}: column 'field'" in str(info.value)
    finally:
        path.write_text(original)
