"""The project's declaration of the OMOP Common Data Model v5.4.

The declaration is data: ``terminology/data/omop_cdm_v54_fields.tsv`` lists every
table and field of the CDM v5.4 in specification order with its datatype,
required and primary-key flags and foreign-key target.  This module loads it into
small frozen dataclasses so that connectors (DDL, warehouses), mappings (output
schemas) and validators (required fields, foreign keys) share one definition.

Datatypes are normalised lower-case: ``integer``, ``bigint``, ``float``,
``varchar(n)``, ``varchar(max)``, ``date``, ``datetime``.

Usage::

    from terminology.omop_cdm import CDM, arrow_schema
    CDM.tables["person"].primary_key        # ('person_id',)
    arrow_schema("visit_occurrence")        # pyarrow.Schema
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path

import pyarrow as pa

DECLARATION_FILE = "omop_cdm_v54_fields.tsv"
CDM_VERSION = "5.4"

_COLUMNS = (
    "table",
    "field",
    "datatype",
    "required",
    "primary_key",
    "fk_table",
    "fk_field",
    "fk_domain",
    "fk_class",
)
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_DATATYPE = re.compile(r"^(integer|bigint|float|date|datetime|varchar\((\d+|max)\))$")

#: Table groups as the OMOP CDM documentation arranges them.
TABLE_GROUPS: dict[str, tuple[str, ...]] = {
    "clinical": (
        "person",
        "observation_period",
        "visit_occurrence",
        "visit_detail",
        "condition_occurrence",
        "drug_exposure",
        "procedure_occurrence",
        "device_exposure",
        "measurement",
        "observation",
        "death",
        "note",
        "note_nlp",
        "specimen",
        "fact_relationship",
    ),
    "health_system": ("location", "care_site", "provider"),
    "health_economics": ("payer_plan_period", "cost"),
    "derived": ("drug_era", "dose_era", "condition_era", "episode", "episode_event"),
    "metadata": ("metadata", "cdm_source"),
    "vocabulary": (
        "concept",
        "vocabulary",
        "domain",
        "concept_class",
        "concept_relationship",
        "relationship",
        "concept_synonym",
        "concept_ancestor",
        "source_to_concept_map",
        "drug_strength",
    ),
    "results": ("cohort", "cohort_definition"),
}


class CdmDeclarationError(ValueError):
    """The CDM declaration file is malformed (names the file, line and field)."""


class UnknownCdmTable(KeyError):
    """A table name that is not part of OMOP CDM v5.4."""


@dataclass(frozen=True)
class Field:
    """One column of a CDM table."""

    name: str
    datatype: str
    required: bool
    primary_key: bool
    fk_table: str | None = None
    fk_field: str | None = None
    fk_domain: str | None = None
    fk_class: str | None = None

    @property
    def base_type(self) -> str:
        """Datatype without length: ``varchar(50)`` -> ``varchar``."""
        return self.datatype.split("(", 1)[0]

    @property
    def length(self) -> int | None:
        """Declared varchar length, or None (non-varchar or ``varchar(max)``)."""
        m = re.match(r"^varchar\((\d+)\)$", self.datatype)
        return int(m.group(1)) if m else None

    @property
    def is_concept_id(self) -> bool:
        """True when this field references ``concept.concept_id``."""
        return self.fk_table == "concept" and self.fk_field == "concept_id"


@dataclass(frozen=True)
class Table:
    """One CDM table: ordered fields plus its group (clinical, vocabulary, ...)."""

    name: str
    group: str
    fields: tuple[Field, ...]

    @cached_property
    def _by_name(self) -> dict[str, Field]:
        return {f.name: f for f in self.fields}

    @property
    def field_names(self) -> list[str]:
        """Field names in specification order."""
        return [f.name for f in self.fields]

    @property
    def primary_key(self) -> tuple[str, ...]:
        """Primary-key field names (empty for tables the spec gives none)."""
        return tuple(f.name for f in self.fields if f.primary_key)

    @property
    def required_fields(self) -> list[str]:
        """Names of the fields that must not be null."""
        return [f.name for f in self.fields if f.required]

    @property
    def foreign_keys(self) -> list[Field]:
        """Fields that reference another table."""
        return [f for f in self.fields if f.fk_table]

    def field(self, name: str) -> Field:
        """The field called ``name``; KeyError naming the table if absent."""
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"OMOP CDM table {self.name!r} has no field {name!r}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._by_name


@dataclass(frozen=True)
class CdmDeclaration:
    """All tables of one CDM version, in specification order."""

    version: str
    tables: dict[str, Table] = field(default_factory=dict)

    def table(self, name: str) -> Table:
        """The table called ``name``; :class:`UnknownCdmTable` if absent."""
        try:
            return self.tables[name]
        except KeyError:
            raise UnknownCdmTable(f"{name!r} is not an OMOP CDM v{self.version} table") from None

    def group(self, group: str) -> list[str]:
        """Table names of one group, in specification order."""
        if group not in TABLE_GROUPS:
            raise KeyError(f"unknown table group {group!r}; known: {sorted(TABLE_GROUPS)}")
        return [t.name for t in self.tables.values() if t.group == group]


def _flag(value: str, path: str, lineno: int, column: str) -> bool:
    if value not in ("0", "1"):
        raise CdmDeclarationError(f"{path}:{lineno}: column {column!r} must be 0 or 1, got {value!r}")
    return value == "1"


def load_cdm(path: str | Path | None = None) -> CdmDeclaration:
    """Load the CDM declaration TSV (the packaged one unless ``path`` is given)."""
    if path is None:
        text = resources.files("terminology").joinpath("data", DECLARATION_FILE).read_text(encoding="utf-8")
        where = f"terminology/data/{DECLARATION_FILE}"
    else:
        text = Path(path).read_text(encoding="utf-8")
        where = str(path)
    group_of = {t: g for g, names in TABLE_GROUPS.items() for t in names}
    fields: dict[str, list[Field]] = {}
    header: list[str] | None = None
    for lineno, row in enumerate(csv.reader(text.splitlines(), delimiter="\t", quoting=csv.QUOTE_NONE), start=1):
        if not row or row[0].startswith("#"):
            continue
        if header is None:
            header = row
            if tuple(header) != _COLUMNS:
                raise CdmDeclarationError(f"{where}:{lineno}: header must be {_COLUMNS}, got {tuple(header)}")
            continue
        if len(row) != len(_COLUMNS):
            raise CdmDeclarationError(f"{where}:{lineno}: expected {len(_COLUMNS)} columns, got {len(row)}")
        rec = dict(zip(_COLUMNS, row))
        for column in ("table", "field"):
            if not _NAME.match(rec[column]):
                raise CdmDeclarationError(f"{where}:{lineno}: {column} name {rec[column]!r} is not a lower-case identifier")
        if not _DATATYPE.match(rec["datatype"]):
            raise CdmDeclarationError(f"{where}:{lineno}: field {rec['field']!r} has unknown datatype {rec['datatype']!r}")
        if rec["table"] not in group_of:
            raise CdmDeclarationError(f"{where}:{lineno}: table {rec['table']!r} belongs to no table group")
        if bool(rec["fk_table"]) != bool(rec["fk_field"]):
            raise CdmDeclarationError(f"{where}:{lineno}: fk_table and fk_field must be given together")
        fields.setdefault(rec["table"], []).append(
            Field(
                name=rec["field"],
                datatype=rec["datatype"],
                required=_flag(rec["required"], where, lineno, "required"),
                primary_key=_flag(rec["primary_key"], where, lineno, "primary_key"),
                fk_table=rec["fk_table"] or None,
                fk_field=rec["fk_field"] or None,
                fk_domain=rec["fk_domain"] or None,
                fk_class=rec["fk_class"] or None,
            )
        )
    if header is None:
        raise CdmDeclarationError(f"{where}: empty declaration")
    tables = {name: Table(name, group_of[name], tuple(fs)) for name, fs in fields.items()}
    for t in tables.values():
        for f in t.foreign_keys:
            if f.fk_table not in tables or f.fk_field not in tables[f.fk_table]:
                raise CdmDeclarationError(f"{where}: {t.name}.{f.name} references unknown {f.fk_table}.{f.fk_field}")
    return CdmDeclaration(CDM_VERSION, tables)


CDM = load_cdm()


def clinical_tables() -> list[str]:
    """The standardized clinical data tables (person ... fact_relationship)."""
    return CDM.group("clinical")


def vocabulary_tables() -> list[str]:
    """The standardized vocabulary tables (concept ... drug_strength)."""
    return CDM.group("vocabulary")


def results_tables() -> list[str]:
    """The results-schema tables (cohort, cohort_definition)."""
    return CDM.group("results")


def cdm_tables() -> list[str]:
    """Every table outside the vocabulary and results schemas (the CDM schema)."""
    return [t.name for t in CDM.tables.values() if t.group not in ("vocabulary", "results")]


_ARROW_TYPES = {
    "integer": pa.int64(),
    "bigint": pa.int64(),
    "float": pa.float64(),
    "varchar": pa.string(),
    "date": pa.date32(),
    "datetime": pa.timestamp("us"),
}


def arrow_type(f: Field) -> pa.DataType:
    """The pyarrow type the project uses for a CDM field."""
    return _ARROW_TYPES[f.base_type]


def arrow_schema(table: str | Table, *, required_not_null: bool = False) -> pa.Schema:
    """pyarrow schema of a CDM table, fields in specification order.

    integer/bigint -> int64, float -> float64, varchar -> string, date -> date32,
    datetime -> timestamp('us').  All fields are nullable unless
    ``required_not_null`` is set, then required fields are declared non-nullable.
    """
    t = table if isinstance(table, Table) else CDM.table(table)
    return pa.schema(
        [pa.field(f.name, arrow_type(f), nullable=not (required_not_null and f.required)) for f in t.fields]
    )
