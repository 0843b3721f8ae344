"""Write the project's DQD check catalogue TSVs from the OHDSI DataQualityDashboard v5.4 files.

Run once when the DQD catalogue changes (the library never reads the DQD files)::

    python validators/dqd/data/derive_from_dqd.py /path/to/dqd/csv/dir [--out validators/dqd/data]

The directory must hold ``DQD_OMOP_CDMv5.4_Check_Descriptions.csv``, ``..._Table_Level.csv``,
``..._Field_Level.csv`` and ``..._Concept_Level.csv`` (OHDSI, Apache-2.0).  What the
project's CDM declaration (``terminology.omop_cdm``) already implies -- the structural
checks cdmTable, cdmField, isRequired, cdmDatatype, isPrimaryKey, isForeignKey, fkDomain,
fkClass with threshold 0 -- is not written; only what the declaration does not know is:
thresholds, plausibility parameters, and structural checks the DQD applies beyond it.
Descriptions are the project's own words (kept here), with DQD-style ``@placeholders``.
Differences between the DQD and the CDM declaration are printed to stderr.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from terminology.omop_cdm import CDM  # noqa: E402
from validators.dqd.catalogue import CONCEPT_COLUMNS, FIELD_COLUMNS, TABLE_COLUMNS, TYPE_COLUMNS  # noqa: E402  (the files the loader reads)

SOURCE = "OHDSI DataQualityDashboard v5.4 check catalogue (Apache-2.0)"

#: The project's own description of each check type; the DQD supplies level, Kahn terms and severity.
DESCRIPTIONS: dict[str, str] = {
    "cdmTable": "Whether the @cdmTableName table exists as the CDM v5.4 specification declares it.",
    "measurePersonCompleteness": "Persons (number and percent) who have no record at all in @cdmTableName.",
    "measureConditionEraCompleteness": "Persons (number and percent) with condition_occurrence records but no "
    "condition_era record, i.e. condition eras were not built for them.",
    "measureObservationPeriodOverlap": "Persons (number and percent) whose observation periods overlap or "
    "follow each other with no gap.",
    "cdmField": "Whether the @cdmFieldName column exists in @cdmTableName as the specification declares it.",
    "isRequired": "Records of @cdmTableName (number and percent) where the required field @cdmFieldName is NULL.",
    "cdmDatatype": "Records of @cdmTableName (number and percent) whose @cdmFieldName value is not of the "
    "declared type @cdmDatatype (only integer fields are checked).",
    "isPrimaryKey": "Records of @cdmTableName (number and percent) whose primary-key value @cdmFieldName "
    "occurs more than once.",
    "isForeignKey": "Records of @cdmTableName (number and percent) whose @cdmFieldName value has no match in "
    "@fkTableName.@fkFieldName.",
    "fkDomain": "Records of @cdmTableName (number and percent) whose @cdmFieldName concept is not in the "
    "@fkDomain domain.",
    "fkClass": "Records of @cdmTableName (number and percent) whose @cdmFieldName concept is not of concept "
    "class @fkClass.",
    "isStandardValidConcept": "Records of @cdmTableName (number and percent) whose non-zero @cdmFieldName "
    "concept is not a standard, currently valid concept.",
    "measureValueCompleteness": "Records of @cdmTableName (number and percent) where @cdmFieldName is NULL.",
    "standardConceptRecordCompleteness": "Records of @cdmTableName (number and percent) whose standard concept "
    "field @cdmFieldName is 0 (not mapped).",
    "sourceConceptRecordCompleteness": "Records of @cdmTableName (number and percent) whose source concept "
    "field @cdmFieldName is 0.",
    "sourceValueCompleteness": "Distinct source values of @cdmTableName.@cdmFieldName (number and percent) "
    "whose records carry @standardConceptFieldName = 0 (source values left unmapped).",
    "plausibleValueLow": "Records of @cdmTableName (number and percent) whose @cdmFieldName is below "
    "@plausibleValueLow.",
    "plausibleValueHigh": "Records of @cdmTableName (number and percent) whose @cdmFieldName is above "
    "@plausibleValueHigh.",
    "plausibleTemporalAfter": "Records of @cdmTableName (number and percent) whose @cdmFieldName is earlier "
    "than @plausibleTemporalAfterTableName.@plausibleTemporalAfterFieldName.",
    "plausibleDuringLife": "Records of @cdmTableName (number and percent) whose date @cdmFieldName falls "
    "after the person's death.",
    "withinVisitDates": "Records of @cdmTableName (number and percent) whose @cdmFieldName lies more than "
    "a week before the start or after the end of the record's visit.",
    "plausibleAfterBirth": "Records of @cdmTableName (number and percent) whose date @cdmFieldName falls "
    "before the person's birth.",
    "plausibleBeforeDeath": "Records of @cdmTableName (number and percent) whose date @cdmFieldName falls "
    "after the person's death.",
    "plausibleStartBeforeEnd": "Records of @cdmTableName (number and percent) whose start @cdmFieldName is "
    "later than their end @plausibleStartBeforeEndFieldName.",
    "plausibleGender": "Records of @cdmTableName with concept @conceptId (@conceptName) (number and percent) "
    "belonging to persons whose gender is not @plausibleGender.",
    "plausibleGenderUseDescendants": "Records of @cdmTableName with concept @conceptId (@conceptName) or one "
    "of its descendants (number and percent) belonging to persons whose gender is not @plausibleGender.",
    "plausibleUnitConceptIds": "Records of @cdmTableName with concept @conceptId (@conceptName) (number and "
    "percent) whose unit_concept_id is not one of @plausibleUnitConceptIds (-1 stands for no unit).",
}

#: Wording for the concept-level instances of a field-level check type (per concept and unit).
CONCEPT_DESCRIPTIONS: dict[str, str] = {
    "plausibleValueLow": "Records of @cdmTableName with concept @conceptId (@conceptName) and unit "
    "@unitConceptId (@unitConceptName) (number and percent) whose value_as_number is below @plausibleValueLow.",
    "plausibleValueHigh": "Records of @cdmTableName with concept @conceptId (@conceptName) and unit "
    "@unitConceptId (@unitConceptName) (number and percent) whose value_as_number is above @plausibleValueHigh.",
}

#: CheckSpec attributes each check type needs (all of them, no others).
PARAMETERS: dict[str, tuple[str, ...]] = {
    "isForeignKey": ("fk_table", "fk_field"),
    "fkDomain": ("fk_domain",),
    "fkClass": ("fk_class",),
    "cdmDatatype": ("datatype",),
    "sourceValueCompleteness": ("standard_concept_field",),
    "plausibleValueLow": ("plausible_value_low",),
    "plausibleValueHigh": ("plausible_value_high",),
    "plausibleTemporalAfter": ("temporal_after_table", "temporal_after_field"),
    "plausibleStartBeforeEnd": ("start_before_end_field",),
    "plausibleGender": ("plausible_gender",),
    "plausibleGenderUseDescendants": ("plausible_gender",),
    "plausibleUnitConceptIds": ("unit_concept_ids",),
}

TABLE_CHECKS = ("measurePersonCompleteness", "measureConditionEraCompleteness", "measureObservationPeriodOverlap")
FIELD_FLAG_CHECKS = (  # DQD column == 'Yes' marks the check applicable
    "isStandardValidConcept", "measureValueCompleteness", "standardConceptRecordCompleteness",
    "sourceConceptRecordCompleteness", "sourceValueCompleteness", "plausibleTemporalAfter",
    "plausibleDuringLife", "withinVisitDates", "plausibleAfterBirth", "plausibleBeforeDeath",
    "plausibleStartBeforeEnd",
)  # fmt: skip
_PLACEHOLDER = re.compile(r"@[A-Za-z]+")
_DQD_DATE = re.compile(r"^'(\d{4})(\d{2})(\d{2})'$")
_DQD_TODAY = {"DATEADD(dd,1,GETDATE())", "YEAR(GETDATE())+1"}


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        return list(csv.DictReader(fh))


def _value(raw: str) -> str:
    """A DQD plausible value in the project's notation: number, 'YYYY-MM-DD', or 'today'."""
    raw = raw.strip()
    if m := _DQD_DATE.match(raw):
        return "-".join(m.groups())
    if raw in _DQD_TODAY:
        return "today"
    float(raw)  # a number, or the DQD has a notation this script does not know
    return raw


def _threshold(raw: str) -> str:
    return raw.strip() or "0"


def _write(path: Path, comment: list[str], columns: tuple[str, ...], rows: list[dict[str, str]]) -> None:
    lines = [f"# {c}" for c in comment] + ["\t".join(columns)]
    for row in rows:
        cells = [row.get(c, "") for c in columns]
        assert not any("\t" in c or "\n" in c for c in cells), cells
        lines.append("\t".join(cells))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _check_types(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    out = []
    for r in rows:
        name = r["checkName"]
        desc = DESCRIPTIONS[name]
        concept_desc = CONCEPT_DESCRIPTIONS.get(name, "")
        out.append(
            {
                "check_name": name,
                "level": r["checkLevel"],
                "severity": r["severity"],
                "kahn_context": r["kahnContext"],
                "kahn_category": r["kahnCategory"],
                "kahn_subcategory": r["kahnSubcategory"],
                "parameters": ",".join(PARAMETERS.get(name, ())),
                "placeholders": ",".join(sorted(set(_PLACEHOLDER.findall(desc + " " + concept_desc)))),
                "description": desc,
                "concept_description": concept_desc,
            }
        )
    missing = set(DESCRIPTIONS) - {r["check_name"] for r in out}
    if missing:
        raise SystemExit(f"check types described here but not in the DQD: {sorted(missing)}")
    return out


def _instance(base: dict[str, str], r: dict[str, str], check: str, **params: str) -> dict[str, str]:
    """One TSV row: ``base`` cells, the check, its DQD threshold (0 when the DQD gives none), parameters."""
    return {**base, "check_name": check, "threshold": _threshold(r.get(check + "Threshold", "")), **params}


def _dqd_structural(r: dict[str, str]) -> dict[str, dict[str, str]]:
    """The structural checks the DQD applies to one field (its evaluation filters): name -> parameters."""
    out: dict[str, dict[str, str]] = {"cdmField": {}}
    if r["isRequired"] == "Yes":
        out["isRequired"] = {}
    if r["cdmDatatype"] == "integer":  # the DQD's filter is exact and lower-case
        out["cdmDatatype"] = {"datatype": "integer"}
    if r["isPrimaryKey"] == "Yes":
        out["isPrimaryKey"] = {}
    if r["isForeignKey"] == "Yes":
        out["isForeignKey"] = {"fk_table": r["fkTableName"].lower(), "fk_field": r["fkFieldName"].lower()}
        if r["fkDomain"]:
            out["fkDomain"] = {"fk_domain": r["fkDomain"]}
        if r["fkClass"]:
            out["fkClass"] = {"fk_class": r["fkClass"]}
    return out


def _declared(table: str, name: str) -> dict[str, dict[str, str]]:
    """What terminology.omop_cdm implies for one field (mirrors validators.dqd.catalogue._structural)."""
    f = CDM.table(table).field(name)
    out: dict[str, dict[str, str]] = {"cdmField": {}}
    if f.required:
        out["isRequired"] = {}
    if f.datatype == "integer":
        out["cdmDatatype"] = {"datatype": "integer"}
    if f.primary_key:
        out["isPrimaryKey"] = {}
    if f.fk_table:
        out["isForeignKey"] = {"fk_table": f.fk_table, "fk_field": f.fk_field or ""}
    if f.fk_domain:
        out["fkDomain"] = {"fk_domain": f.fk_domain}
    if f.fk_class:
        out["fkClass"] = {"fk_class": f.fk_class}
    return out


def _plausible_values(base: dict[str, str], r: dict[str, str]) -> list[dict[str, str]]:
    out = []
    for check, column in (("plausibleValueLow", "plausible_value_low"), ("plausibleValueHigh", "plausible_value_high")):
        if r[check]:
            out.append(_instance(base, r, check, **{column: _value(r[check])}))
    return out


def _field_rows(rows: list[dict[str, str]], type_order: list[str], notes: list[str]) -> list[dict[str, str]]:
    out = []
    for r in rows:
        table, name = r["cdmTableName"].lower(), r["cdmFieldName"].lower()
        if table not in CDM.tables or name not in CDM.table(table):
            raise SystemExit(f"DQD field {table}.{name} is not in the CDM declaration")
        base = {"table": table, "field": name}
        declared, dqd = _declared(table, name), _dqd_structural(r)
        for check, params in dqd.items():
            if check not in declared:
                notes.append(f"DQD applies {check} to {table}.{name} {params}; the CDM declaration does not")
                out.append(_instance(base, r, check, **params))
                continue
            if any(declared[check].get(k) != v for k, v in params.items()):
                raise SystemExit(f"{check} {table}.{name}: DQD {params} conflicts with the CDM {declared[check]}")
            row = _instance(base, r, check)
            if float(row["threshold"]) != 0:  # only a threshold the declaration does not know
                out.append(row)
        for check in sorted(set(declared) - set(dqd)):
            notes.append(f"CDM declaration implies {check} on {table}.{name} {declared[check]}; the DQD does not")
        for check in FIELD_FLAG_CHECKS:
            if r[check] != "Yes":
                continue
            params = {}
            if check == "sourceValueCompleteness":
                params = {"standard_concept_field": r["standardConceptFieldName"].lower()}
            elif check == "plausibleTemporalAfter":
                params = {
                    "temporal_after_table": r["plausibleTemporalAfterTableName"].lower(),
                    "temporal_after_field": r["plausibleTemporalAfterFieldName"].lower(),
                }
            elif check == "plausibleStartBeforeEnd":
                params = {"start_before_end_field": r["plausibleStartBeforeEndFieldName"].lower()}
            out.append(_instance(base, r, check, **params))
        out.extend(_plausible_values(base, r))
    tables = list(CDM.tables)
    return sorted(
        out,
        key=lambda x: (
            tables.index(x["table"]),
            type_order.index(x["check_name"]),
            CDM.table(x["table"]).field_names.index(x["field"]),
        ),
    )


def _concept_rows(rows: list[dict[str, str]], type_order: list[str]) -> list[dict[str, str]]:
    out = []
    for r in rows:
        base = {
            "table": r["cdmTableName"].lower(),
            "field": r["cdmFieldName"].lower(),
            "concept_id": r["conceptId"].strip(),
            "concept_name": r["conceptName"].strip(),
        }
        unit = {"unit_concept_id": r["unitConceptId"].strip(), "unit_concept_name": r["unitConceptName"].strip()}
        out.extend(_plausible_values({**base, **unit}, r))
        if r["plausibleGender"]:
            out.append(_instance(base, r, "plausibleGender", plausible_gender=r["plausibleGender"]))
        if gender := r["plausibleGenderUseDescendants"]:
            # The DQD lists several ancestor concepts in one row ("4090861, 4025213", names joined by ", ");
            # the project checks each ancestor's descendants as one instance with the row's threshold.
            ids = [i.strip() for i in r["conceptId"].split(",")]
            names = [n.strip() for n in r["conceptName"].split(", ")] if len(ids) > 1 else [base["concept_name"]]
            if len(ids) != len(names):
                raise SystemExit(f"cannot pair concept ids {ids} with names {names}")
            for cid, cname in zip(ids, names):
                one = {**base, "concept_id": cid, "concept_name": cname}
                out.append(_instance(one, r, "plausibleGenderUseDescendants", plausible_gender=gender))
        if r["plausibleUnitConceptIdsThreshold"]:  # the DQD's filter
            # dict.fromkeys: the DQD repeats a unit in a few lists; the list is a set (SQL IN).
            ids = dict.fromkeys(i.strip() for i in r["plausibleUnitConceptIds"].split(",") if i.strip())
            out.append(_instance(base, r, "plausibleUnitConceptIds", unit_concept_ids=",".join(ids)))
    tables = list(CDM.tables)
    return sorted(
        out,
        key=lambda x: (
            tables.index(x["table"]),
            type_order.index(x["check_name"]),
            CDM.table(x["table"]).field_names.index(x["field"]),
            int(x["concept_id"]),
            int(x.get("unit_concept_id") or -1),
        ),
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dqd_dir", type=Path, help="directory with the DQD_OMOP_CDMv5.4_*.csv files")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = ap.parse_args(argv)
    d = args.dqd_dir
    types = _check_types(_read(d / "DQD_OMOP_CDMv5.4_Check_Descriptions.csv"))
    order = [t["check_name"] for t in types]
    notes: list[str] = []

    table_rows = []
    dqd_tables = _read(d / "DQD_OMOP_CDMv5.4_Table_Level.csv")
    by_table = {r["cdmTableName"].lower(): r for r in dqd_tables}
    if set(by_table) != set(CDM.tables):
        raise SystemExit(f"DQD tables differ from the CDM declaration: {sorted(set(by_table) ^ set(CDM.tables))}")
    for table in CDM.tables:
        for check in TABLE_CHECKS:
            if by_table[table][check] == "Yes":
                table_rows.append(_instance({"table": table}, by_table[table], check))
    table_rows.sort(key=lambda x: (list(CDM.tables).index(x["table"]), order.index(x["check_name"])))

    field_rows = _field_rows(_read(d / "DQD_OMOP_CDMv5.4_Field_Level.csv"), order, notes)
    concept_rows = _concept_rows(_read(d / "DQD_OMOP_CDMv5.4_Concept_Level.csv"), order)

    out = args.out
    _write(
        out / "check_types.tsv",
        [
            f"DQD check types for OMOP CDM v5.4, in the project's format; level, Kahn terms and severity from the {SOURCE}; descriptions are the project's own.",
            "parameters: the CheckSpec attributes an instance needs; placeholders: those its description templates use (see validators.dqd.catalogue.PLACEHOLDERS).",
            "concept_description: wording for the per-concept (and unit) instances of a field-level type, when it has them.",
        ],
        TYPE_COLUMNS,
        types,
    )
    _write(
        out / "table_checks.tsv",
        [
            f"Table-level DQD check instances for OMOP CDM v5.4 (one row per table and check); derived from the {SOURCE}.",
            "cdmTable applies to every table of terminology.omop_cdm with threshold 0 and is listed only to change that threshold.",
        ],
        TABLE_COLUMNS,
        table_rows,
    )
    _write(
        out / "field_checks.tsv",
        [
            f"Field-level DQD check instances for OMOP CDM v5.4 (one row per table, field and check); derived from the {SOURCE}.",
            "Structural checks (cdmField, isRequired, cdmDatatype, isPrimaryKey, isForeignKey, fkDomain, fkClass) follow from terminology.omop_cdm with threshold 0;",
            "they appear here only to set another threshold or where the DQD applies them beyond that declaration (then with their parameters).",
            "Plausible values: a number, a date YYYY-MM-DD, or 'today' (the DQD's run date plus one day; for year_of_birth the run year plus one).",
        ],
        FIELD_COLUMNS,
        field_rows,
    )
    _write(
        out / "concept_checks.tsv",
        [
            f"Concept-level DQD check instances for OMOP CDM v5.4 (one row per table, concept [and unit] and check); derived from the {SOURCE}.",
            "plausibleValueLow/High here bound value_as_number for one concept and unit; unit_concept_ids lists allowed units (-1: no unit).",
        ],
        CONCEPT_COLUMNS,
        concept_rows,
    )
    for n in notes:
        print(n, file=sys.stderr)
    print(
        f"wrote {len(types)} check types, {len(table_rows)} table rows, {len(field_rows)} field rows, "
        f"{len(concept_rows)} concept rows to {out}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
