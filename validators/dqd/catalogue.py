"""The project's declaration of the DataQualityDashboard check catalogue for OMOP CDM v5.4.

Which checks run on which table, field and concept, with which threshold and parameters.
Two sources, combined at load time:

* ``terminology.omop_cdm.CDM`` implies the *structural* checks (threshold 0): ``cdmTable``
  (every table), ``cdmField`` (every field), ``isRequired`` (required fields), ``cdmDatatype``
  (integer fields), ``isPrimaryKey``, ``isForeignKey`` (with ``fk_table``/``fk_field``),
  ``fkDomain`` and ``fkClass`` -- so the CDM facts are declared once;
* ``validators/dqd/data/*.tsv`` (derived from the OHDSI DQD v5.4 catalogue by
  ``data/derive_from_dqd.py``) hold what the CDM declaration does not know: thresholds,
  plausibility parameters, concept-level checks, and structural checks the DQD applies beyond
  the declaration.  A TSV row whose check id is a structural one sets that check's threshold;
  parameters it leaves empty come from the declaration, parameters it gives must agree.

``check_types.tsv`` lists the 27 check types; its ``parameters`` column names the
:class:`CheckSpec` attributes each type needs (no more, no fewer), its description templates use
the placeholders in :data:`PLACEHOLDERS`.  Plausible values are a number, a date ``YYYY-MM-DD``,
or ``'today'``: the DQD's ``DATEADD(dd,1,GETDATE())`` for dates (run date plus one day) and
``YEAR(GETDATE())+1`` for ``person.year_of_birth`` (run year plus one).  In concept-level
``plausibleValueLow/High`` instances the bound applies to ``value_as_number`` of records with that
concept and unit.  ``fk_domain`` may list several domains separated by ``", "`` (the CDM gives
``episode.episode_object_concept_id`` the domains ``Procedure, Regimen``).

Usage::

    from validators.dqd.catalogue import declared_checks, render_description, severity_of
    for spec in declared_checks(["person"], overrides={"isRequired": 1.0}):
        print(spec.check_id, spec.threshold, severity_of(spec), render_description(spec))
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from terminology.omop_cdm import CDM, Field
from validators.dqd.spec import SEVERITIES, CheckSpec, CheckType

__all__ = [
    "CHECK_TYPES",
    "PLACEHOLDERS",
    "STRUCTURAL_CHECKS",
    "Catalogue",
    "CatalogueError",
    "declared_checks",
    "level_of",
    "load_catalogue",
    "load_check_types",
    "render_description",
    "severity_of",
]

TYPES_FILE = "check_types.tsv"
TABLE_FILE = "table_checks.tsv"
FIELD_FILE = "field_checks.tsv"
CONCEPT_FILE = "concept_checks.tsv"

#: Placeholders a description template may use, and what each stands for.
PLACEHOLDERS: dict[str, str] = {
    "@cdmTableName": "the table (spec.table)",
    "@cdmFieldName": "the field (spec.field)",
    "@cdmDatatype": "declared datatype (spec.datatype)",
    "@conceptId": "concept id (spec.concept_id)",
    "@conceptName": "concept name from concept_checks.tsv",
    "@unitConceptId": "unit concept id (spec.unit_concept_id)",
    "@unitConceptName": "unit name from concept_checks.tsv",
    "@fkTableName": "referenced table (spec.fk_table)",
    "@fkFieldName": "referenced field (spec.fk_field)",
    "@fkDomain": "expected concept domain (spec.fk_domain)",
    "@fkClass": "expected concept class (spec.fk_class)",
    "@plausibleValueLow": "lower bound (spec.plausible_value_low)",
    "@plausibleValueHigh": "upper bound (spec.plausible_value_high)",
    "@plausibleTemporalAfterTableName": "table of the earlier date (spec.temporal_after_table)",
    "@plausibleTemporalAfterFieldName": "field of the earlier date (spec.temporal_after_field)",
    "@plausibleStartBeforeEndFieldName": "end field (spec.start_before_end_field)",
    "@standardConceptFieldName": "standard concept field (spec.standard_concept_field)",
    "@plausibleGender": "expected gender, Male or Female (spec.plausible_gender)",
    "@plausibleUnitConceptIds": "allowed unit concept ids (spec.unit_concept_ids)",
}

#: Check types the CDM declaration implies (see the module docstring).
STRUCTURAL_CHECKS: tuple[str, ...] = (
    "cdmTable", "cdmField", "isRequired", "cdmDatatype", "isPrimaryKey", "isForeignKey", "fkDomain", "fkClass",
)  # fmt: skip

TYPE_COLUMNS = (
    "check_name", "level", "severity", "kahn_context", "kahn_category", "kahn_subcategory",
    "parameters", "placeholders", "description", "concept_description",
)  # fmt: skip
TABLE_COLUMNS = ("table", "check_name", "threshold")
FIELD_COLUMNS = (
    "table", "field", "check_name", "threshold", "fk_table", "fk_field", "fk_domain", "fk_class", "datatype",
    "plausible_value_low", "plausible_value_high", "temporal_after_table", "temporal_after_field",
    "start_before_end_field", "standard_concept_field",
)  # fmt: skip
CONCEPT_COLUMNS = (
    "table", "field", "concept_id", "concept_name", "unit_concept_id", "unit_concept_name", "check_name",
    "threshold", "plausible_value_low", "plausible_value_high", "plausible_gender", "unit_concept_ids",
)  # fmt: skip
_PARAMETER_NAMES = (
    "fk_table", "fk_field", "fk_domain", "fk_class", "datatype", "plausible_value_low", "plausible_value_high",
    "temporal_after_table", "temporal_after_field", "start_before_end_field", "standard_concept_field",
    "plausible_gender", "unit_concept_ids",
)  # fmt: skip
_LEVELS = ("TABLE", "FIELD", "CONCEPT")
_KAHN_CONTEXTS = ("Verification", "Validation")
_KAHN_CATEGORIES = ("Conformance", "Completeness", "Plausibility")
_KAHN_SUBCATEGORIES = ("Relational", "Value", "Computational", "Atemporal", "Temporal")
_GENDERS = ("Male", "Female")
_CHECK_NAME = re.compile(r"^[a-z][A-Za-z]*$")
_PLACEHOLDER = re.compile(r"@[A-Za-z]+")
_INT = re.compile(r"^-?\d+$")
_NUMBER = re.compile(r"^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATATYPE = re.compile(r"^(integer|bigint|float|date|datetime|varchar\((\d+|max)\))$")


class CatalogueError(ValueError):
    """The check catalogue (a TSV file, a table list or a site's overrides) is wrong; names where."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None, column: str | None = None):
        self.file, self.line, self.column = file, line, column
        where = ""
        if file is not None:
            where = file + (f":{line}" if line is not None else "") + ": "
        if column is not None:
            where += f"column {column!r}: "
        super().__init__(where + message)


# ---------------------------------------------------------------------------- reading TSVs


@dataclass(frozen=True)
class _Row:
    file: str
    line: int
    cells: dict[str, str]

    def error(self, column: str | None, message: str) -> CatalogueError:
        return CatalogueError(message, file=self.file, line=self.line, column=column)


def _rows(text: str, where: str, columns: tuple[str, ...]) -> list[_Row]:
    """Rows of a tab-separated file with exactly ``columns``; ``#`` lines and blank lines skipped."""
    header_seen = False
    out: list[_Row] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        cells = line.split("\t")
        if not header_seen:
            if tuple(cells) != columns:
                raise CatalogueError(f"header must be {'|'.join(columns)}, got {'|'.join(cells)}", file=where, line=lineno)
            header_seen = True
            continue
        if len(cells) != len(columns):
            col = columns[len(cells)] if len(cells) < len(columns) else None
            raise CatalogueError(
                f"expected {len(columns)} tab-separated columns, got {len(cells)}", file=where, line=lineno, column=col
            )
        for name, cell in zip(columns, cells):
            if cell != cell.strip():
                raise CatalogueError(f"value {cell!r} has leading or trailing spaces", file=where, line=lineno, column=name)
        out.append(_Row(where, lineno, dict(zip(columns, cells))))
    if not header_seen:
        raise CatalogueError("no header line", file=where)
    return out


def _text(directory: Path | None, name: str) -> tuple[str, str]:
    if directory is None:
        text = resources.files("validators.dqd").joinpath("data", name).read_text(encoding="utf-8")
        return text, f"validators/dqd/data/{name}"
    path = directory / name
    try:
        return path.read_text(encoding="utf-8"), str(path)
    except FileNotFoundError:
        raise CatalogueError("file not found", file=str(path)) from None


def _threshold(row: _Row, column: str = "threshold") -> float:
    raw = row.cells[column]
    if not _NUMBER.match(raw):
        raise row.error(column, f"threshold {raw!r} is not a number")
    value = float(raw)
    if not 0 <= value <= 100:
        raise row.error(column, f"threshold {raw} is not a percentage in 0..100")
    return value


def _int(row: _Row, column: str, *, positive: bool = False) -> int:
    raw = row.cells[column]
    if not _INT.match(raw):
        raise row.error(column, f"{raw!r} is not an integer")
    value = int(raw)
    if positive and value <= 0:
        raise row.error(column, f"{raw!r} must be a positive concept id")
    return value


# ---------------------------------------------------------------------------- check types


def _parse_check_types(text: str, where: str) -> tuple[dict[str, CheckType], dict[str, tuple[str, ...]], dict[str, str]]:
    types: dict[str, CheckType] = {}
    params: dict[str, tuple[str, ...]] = {}
    concept_templates: dict[str, str] = {}
    for row in _rows(text, where, TYPE_COLUMNS):
        c = row.cells
        name = c["check_name"]
        if not _CHECK_NAME.match(name):
            raise row.error("check_name", f"{name!r} is not a check name (lowerCamelCase letters)")
        if name in types:
            raise row.error("check_name", f"check type {name!r} declared twice")
        for column, allowed in (
            ("level", _LEVELS),
            ("severity", SEVERITIES),
            ("kahn_context", _KAHN_CONTEXTS),
            ("kahn_category", _KAHN_CATEGORIES),
            ("kahn_subcategory", ("", *_KAHN_SUBCATEGORIES)),
        ):
            if c[column] not in allowed:
                choices = ", ".join(repr(a) for a in allowed)
                raise row.error(column, f"{c[column]!r} is not one of {choices}")
        names = tuple(p for p in c["parameters"].split(",") if p)
        unknown = [p for p in names if p not in _PARAMETER_NAMES]
        if unknown or len(set(names)) != len(names):
            raise row.error("parameters", f"unknown or repeated CheckSpec parameters {unknown or names}")
        if not c["description"]:
            raise row.error("description", "empty description")
        used = set()
        for column in ("description", "concept_description"):
            found = set(_PLACEHOLDER.findall(c[column]))
            bad = sorted(found - set(PLACEHOLDERS))
            if bad:
                raise row.error(column, f"unknown placeholders {bad}; known: {sorted(PLACEHOLDERS)}")
            used |= found
        listed = {p for p in c["placeholders"].split(",") if p}
        if listed != used:
            raise row.error("placeholders", f"lists {sorted(listed)} but the templates use {sorted(used)}")
        types[name] = CheckType(
            name=name,
            level=c["level"],  # type: ignore[arg-type]
            description=c["description"],
            kahn_context=c["kahn_context"],
            kahn_category=c["kahn_category"],
            kahn_subcategory=c["kahn_subcategory"] or None,
            severity=c["severity"],  # type: ignore[arg-type]
        )
        params[name] = names
        if c["concept_description"]:
            concept_templates[name] = c["concept_description"]
    missing = [s for s in STRUCTURAL_CHECKS if s not in types]
    if missing:
        raise CatalogueError(f"structural check types {missing} are not declared", file=where)
    return types, params, concept_templates


@lru_cache(maxsize=1)
def _packaged_types() -> tuple[dict[str, CheckType], dict[str, tuple[str, ...]], dict[str, str]]:
    return _parse_check_types(*_text(None, TYPES_FILE))


def load_check_types(directory: str | Path | None = None) -> dict[str, CheckType]:
    """The check types of ``check_types.tsv`` (the packaged one unless ``directory`` is given), in file order."""
    if directory is None:
        return dict(_packaged_types()[0])
    return _parse_check_types(*_text(Path(directory), TYPES_FILE))[0]


#: The packaged check types by name, in catalogue order (loaded on first access, then cached).
CHECK_TYPES: dict[str, CheckType]  # annotation only: provided by __getattr__ below


def __getattr__(name: str) -> Any:
    # CHECK_TYPES is loaded on first use (PEP 562) and cached.
    if name == "CHECK_TYPES":
        return _packaged_types()[0]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ---------------------------------------------------------------------------- the catalogue


def level_of(spec: CheckSpec) -> str:
    """``CONCEPT`` for a per-concept instance, else the check type's level."""
    return "CONCEPT" if spec.concept_id is not None else _packaged_types()[0][spec.check_name].level


@dataclass(frozen=True)
class Catalogue:
    """Every declared check instance (in the stable order) plus what is needed to describe them."""

    check_types: Mapping[str, CheckType]
    parameters: Mapping[str, tuple[str, ...]]
    concept_templates: Mapping[str, str]
    checks: tuple[CheckSpec, ...]
    concept_names: Mapping[int, str] = field(default_factory=dict)
    source: str = "validators/dqd/data"

    @property
    def by_id(self) -> dict[str, CheckSpec]:
        """Check instances by ``check_id``."""
        return {s.check_id: s for s in self.checks}

    def select(
        self,
        tables: Iterable[str] | None = None,
        *,
        overrides: Mapping[str, float | dict[str, Any]] | None = None,
    ) -> list[CheckSpec]:
        """The check instances of ``tables`` (default all) in the stable order, with ``overrides`` applied."""
        if isinstance(tables, str):
            tables = [tables]
        wanted = None if tables is None else set(tables)
        if wanted is not None:
            unknown = sorted(wanted - set(CDM.tables))
            if unknown:
                raise CatalogueError(f"unknown CDM tables {unknown}")
        changes = _resolve_overrides(self, overrides or {})
        out = []
        for spec in self.checks:
            if wanted is not None and spec.table not in wanted:
                continue
            change = changes.get(spec.check_id)
            out.append(dataclasses.replace(spec, **change) if change else spec)
        return out

    def render_description(self, spec: CheckSpec) -> str:
        """The check type's description with ``spec``'s values in place of the placeholders."""
        try:
            ctype = self.check_types[spec.check_name]
        except KeyError:
            raise CatalogueError(f"unknown check type {spec.check_name!r}") from None
        template = ctype.description
        if spec.concept_id is not None and spec.check_name in self.concept_templates:
            template = self.concept_templates[spec.check_name]

        def show(value: object) -> str:
            if value is None:
                return "?"
            if isinstance(value, float) and value.is_integer():
                return str(int(value))
            return str(value)

        values = {
            "@cdmTableName": spec.table,
            "@cdmFieldName": spec.field,
            "@cdmDatatype": spec.datatype,
            "@conceptId": spec.concept_id,
            "@conceptName": self.concept_names.get(spec.concept_id) if spec.concept_id is not None else None,
            "@unitConceptId": spec.unit_concept_id,
            "@unitConceptName": self.concept_names.get(spec.unit_concept_id) if spec.unit_concept_id is not None else None,
            "@fkTableName": spec.fk_table,
            "@fkFieldName": spec.fk_field,
            "@fkDomain": spec.fk_domain,
            "@fkClass": spec.fk_class,
            "@plausibleValueLow": spec.plausible_value_low,
            "@plausibleValueHigh": spec.plausible_value_high,
            "@plausibleTemporalAfterTableName": spec.temporal_after_table,
            "@plausibleTemporalAfterFieldName": spec.temporal_after_field,
            "@plausibleStartBeforeEndFieldName": spec.start_before_end_field,
            "@standardConceptFieldName": spec.standard_concept_field,
            "@plausibleGender": spec.plausible_gender,
            "@plausibleUnitConceptIds": ",".join(str(u) for u in spec.unit_concept_ids) or None,
        }
        return _PLACEHOLDER.sub(lambda m: show(values.get(m.group(0), m.group(0))), template)


def _structural(table: str, f: Field | None) -> list[tuple[str, dict[str, Any]]]:
    """The checks ``terminology.omop_cdm`` implies for one table (``f`` None) or field, with parameters."""
    if f is None:
        return [("cdmTable", {})]
    out: list[tuple[str, dict[str, Any]]] = [("cdmField", {})]
    if f.required:
        out.append(("isRequired", {}))
    if f.datatype == "integer":
        out.append(("cdmDatatype", {"datatype": f.datatype}))
    if f.primary_key:
        out.append(("isPrimaryKey", {}))
    if f.fk_table:
        out.append(("isForeignKey", {"fk_table": f.fk_table, "fk_field": f.fk_field}))
    if f.fk_domain:
        out.append(("fkDomain", {"fk_domain": f.fk_domain}))
    if f.fk_class:
        out.append(("fkClass", {"fk_class": f.fk_class}))
    return out


class _Builder:
    """Parses the instance files of one catalogue directory into CheckSpecs."""

    def __init__(self, types: dict[str, CheckType], params: dict[str, tuple[str, ...]]):
        self.types, self.params = types, params
        self.specs: dict[str, CheckSpec] = {}
        self.origin: dict[str, _Row] = {}
        self.concept_names: dict[int, str] = {}
        self.name_origin: dict[int, _Row] = {}
        for table in CDM.tables.values():
            for check, p in _structural(table.name, None):
                self._add_derived(CheckSpec(check, table.name, **p))
            for f in table.fields:
                for check, p in _structural(table.name, f):
                    self._add_derived(CheckSpec(check, table.name, f.name, **p))
        self.derived = set(self.specs)

    def _add_derived(self, spec: CheckSpec) -> None:
        if spec.check_name in self.types:  # a catalogue without a check type simply lacks its instances
            self.specs[spec.check_id] = spec

    # -- cells -------------------------------------------------------------------------------------------------

    def _check(self, row: _Row, levels: tuple[str, ...]) -> str:
        name = row.cells["check_name"]
        if name not in self.types:
            raise row.error("check_name", f"unknown check {name!r}")
        ctype = self.types[name]
        if ctype.level not in levels:
            raise row.error("check_name", f"{name!r} is a {ctype.level}-level check; this file holds {'/'.join(levels)}")
        return name

    def _table(self, row: _Row, column: str = "table") -> str:
        name = row.cells[column]
        if name not in CDM.tables:
            raise row.error(column, f"{name!r} is not a table of terminology.omop_cdm.CDM")
        return name

    def _field(self, row: _Row, table: str, column: str = "field") -> str:
        name = row.cells[column]
        if name not in CDM.table(table):
            raise row.error(column, f"{table!r} has no field {name!r} in terminology.omop_cdm.CDM")
        return name

    def _plausible(self, row: _Row, column: str, field_type: str, *, today: bool) -> float | str:
        """A bound for a field of ``field_type`` (``concept``: value_as_number, no 'today')."""
        raw = row.cells[column]
        today = today and field_type != "concept"
        if today and raw == "today":
            return raw
        if field_type in ("date", "datetime"):
            if not _ISO_DATE.match(raw):
                raise row.error(column, f"{raw!r} is not a date YYYY-MM-DD{' or today' if today else ''}")
            try:
                date.fromisoformat(raw)
            except ValueError:
                raise row.error(column, f"{raw!r} is not a valid date") from None
            return raw
        if not _NUMBER.match(raw):
            raise row.error(column, f"{raw!r} is not a number{' or today' if today else ''}")
        value = float(raw)
        if not math.isfinite(value):
            raise row.error(column, f"{raw!r} is not a finite number")
        return value

    def _params(self, row: _Row, check: str, table: str, field_type: str) -> dict[str, Any]:
        """The parameter cells of ``row`` (only those its check type takes may be set), parsed."""
        c = row.cells
        out: dict[str, Any] = {}
        for column in _PARAMETER_NAMES:
            if column not in c or c[column] == "":
                continue
            if column not in self.params[check]:
                raise row.error(column, f"{check!r} takes no {column!r}; it takes {list(self.params[check]) or 'none'}")
            raw = c[column]
            if column in ("fk_table", "temporal_after_table"):
                out[column] = self._table(row, column)
            elif column == "fk_field":
                fk_table = c.get("fk_table") or ""
                if fk_table and fk_table in CDM.tables and raw not in CDM.table(fk_table):
                    raise row.error(column, f"{fk_table!r} has no field {raw!r} in terminology.omop_cdm.CDM")
                out[column] = raw
            elif column == "temporal_after_field":
                other = c.get("temporal_after_table") or ""
                if other in CDM.tables and raw not in CDM.table(other):
                    raise row.error(column, f"{other!r} has no field {raw!r} in terminology.omop_cdm.CDM")
                out[column] = raw
            elif column in ("start_before_end_field", "standard_concept_field"):
                out[column] = self._field(row, table, column)
            elif column == "datatype":
                if not _DATATYPE.match(raw):
                    raise row.error(column, f"{raw!r} is not a CDM datatype")
                out[column] = raw
            elif column == "plausible_value_low":
                out[column] = self._plausible(row, column, field_type, today=False)
            elif column == "plausible_value_high":
                out[column] = self._plausible(row, column, field_type, today=True)
            elif column == "plausible_gender":
                if raw not in _GENDERS:
                    raise row.error(column, f"{raw!r} is not one of {', '.join(_GENDERS)}")
                out[column] = raw
            elif column == "unit_concept_ids":
                parts = raw.split(",")
                if not all(_INT.match(p) for p in parts):
                    raise row.error(column, f"{raw!r} is not a comma-separated list of concept ids")
                ids = tuple(int(p) for p in parts)
                if len(set(ids)) != len(ids):
                    raise row.error(column, f"{raw!r} repeats a concept id")
                out[column] = ids
            else:  # fk_domain, fk_class: free text
                out[column] = raw
        if ("fk_table" in out) != ("fk_field" in out) or ("temporal_after_table" in out) != ("temporal_after_field" in out):
            raise row.error(None, f"{check!r}: a table parameter and its field parameter go together")
        return out

    def _name(self, row: _Row, concept_id: int, column: str) -> None:
        name = row.cells[column]
        if not name:
            raise row.error(column, "empty concept name")
        known = self.concept_names.get(concept_id)
        if known is not None and known != name:
            first = self.name_origin[concept_id]
            raise row.error(column, f"concept {concept_id} is named {known!r} on line {first.line}, here {name!r}")
        self.concept_names[concept_id] = name
        self.name_origin.setdefault(concept_id, row)

    # -- rows --------------------------------------------------------------------------------------------------

    def _put(self, row: _Row, spec: CheckSpec, given: dict[str, Any]) -> None:
        cid = spec.check_id
        if cid in self.origin:
            raise row.error("check_name", f"duplicate check {cid!r} (first on line {self.origin[cid].line})")
        self.origin[cid] = row
        if cid in self.derived:  # a row for a structural check: sets its threshold, parameters must agree
            base = self.specs[cid]
            for column, value in given.items():
                if getattr(base, column) != value:
                    raise row.error(
                        column, f"{value!r} contradicts terminology.omop_cdm, which gives {getattr(base, column)!r}"
                    )
            spec = dataclasses.replace(base, threshold=spec.threshold)
        missing = [p for p in self.params[spec.check_name] if getattr(spec, p) in (None, ())]
        if missing:
            raise row.error(missing[0], f"{spec.check_name!r} needs {missing}")
        self.specs[cid] = spec

    def table_row(self, row: _Row) -> None:
        check = self._check(row, ("TABLE",))
        table = self._table(row)
        self._put(row, CheckSpec(check, table, threshold=_threshold(row)), {})

    def field_row(self, row: _Row) -> None:
        table = self._table(row)
        name = self._field(row, table)
        check = self._check(row, ("FIELD",))
        threshold = _threshold(row)
        given = self._params(row, check, table, CDM.table(table).field(name).base_type)
        self._put(row, CheckSpec(check, table, name, threshold=threshold, **given), given)

    def concept_row(self, row: _Row) -> None:
        table = self._table(row)
        name = self._field(row, table)
        if not CDM.table(table).field(name).is_concept_id:
            raise row.error("field", f"{table}.{name} is not a concept_id field")
        concept_id = _int(row, "concept_id", positive=True)
        check = row.cells["check_name"]
        if check not in self.types:
            raise row.error("check_name", f"unknown check {check!r}")
        per_unit = check in ("plausibleValueLow", "plausibleValueHigh")
        if self.types[check].level != "CONCEPT" and not per_unit:
            raise row.error("check_name", f"{check!r} is a {self.types[check].level}-level check, not a concept check")
        unit = None
        if row.cells["unit_concept_id"]:
            if not per_unit:
                raise row.error("unit_concept_id", f"{check!r} is not checked per unit")
            unit = _int(row, "unit_concept_id", positive=True)
            self._name(row, unit, "unit_concept_name")
        elif row.cells["unit_concept_name"]:
            raise row.error("unit_concept_name", "a unit name without a unit_concept_id")
        self._name(row, concept_id, "concept_name")
        threshold = _threshold(row)
        given = self._params(row, check, table, "concept")
        spec = CheckSpec(check, table, name, concept_id=concept_id, unit_concept_id=unit, threshold=threshold, **given)
        self._put(row, spec, given)


def _order_key(types: Mapping[str, CheckType]) -> Any:
    """Sort key: CDM table order, level, check type order, field order, concept id, unit id."""
    tables = {t: i for i, t in enumerate(CDM.tables)}
    type_index = {t: i for i, t in enumerate(types)}
    levels = {lvl: i for i, lvl in enumerate(_LEVELS)}
    field_index = {(t.name, f.name): i for t in CDM.tables.values() for i, f in enumerate(t.fields)}

    def key(spec: CheckSpec) -> tuple[int, ...]:
        level = "CONCEPT" if spec.concept_id is not None else types[spec.check_name].level
        return (
            tables[spec.table],
            levels[level],
            type_index[spec.check_name],
            field_index[(spec.table, spec.field)] if spec.field else -1,
            spec.concept_id if spec.concept_id is not None else -1,
            spec.unit_concept_id if spec.unit_concept_id is not None else -1,
        )

    return key


def load_catalogue(dir: str | Path | None = None) -> Catalogue:  # noqa: A002 - the brief's name
    """Parse the catalogue TSVs (the packaged ones unless ``dir`` is given) strictly.

    Raises :class:`CatalogueError` naming file, line and column for an unknown check name,
    table or field, a bad number, a parameter a check does not take or lacks, or a duplicate check.
    """
    directory = None if dir is None else Path(dir)
    if directory is None:
        types, params, concept_templates = _packaged_types()
    else:
        types, params, concept_templates = _parse_check_types(*_text(directory, TYPES_FILE))
    builder = _Builder(types, params)
    for name, columns, parse in (
        (TABLE_FILE, TABLE_COLUMNS, builder.table_row),
        (FIELD_FILE, FIELD_COLUMNS, builder.field_row),
        (CONCEPT_FILE, CONCEPT_COLUMNS, builder.concept_row),
    ):
        for row in _rows(*_text(directory, name), columns):
            parse(row)
    checks = tuple(sorted(builder.specs.values(), key=_order_key(types)))
    return Catalogue(
        check_types=dict(types),
        parameters=dict(params),
        concept_templates=dict(concept_templates),
        checks=checks,
        concept_names=dict(builder.concept_names),
        source="validators/dqd/data" if directory is None else str(directory),
    )


@lru_cache(maxsize=1)
def _packaged_catalogue() -> Catalogue:
    return load_catalogue()


# ---------------------------------------------------------------------------- overrides


def _override_value(key: str, value: object) -> dict[str, Any]:
    def threshold(v: object) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not 0 <= v <= 100:
            raise CatalogueError(f"override {key!r}: threshold must be a percentage in 0..100, got {v!r}")
        return float(v)

    if isinstance(value, Mapping):
        unknown = sorted(set(value) - {"threshold", "severity"})
        if unknown or not value:
            raise CatalogueError(f"override {key!r}: give 'threshold' and/or 'severity', got keys {sorted(value)}")
        out: dict[str, Any] = {}
        if "threshold" in value:
            out["threshold"] = threshold(value["threshold"])
        if "severity" in value:
            if value["severity"] not in SEVERITIES:
                raise CatalogueError(f"override {key!r}: severity must be one of {SEVERITIES}, got {value['severity']!r}")
            out["severity"] = value["severity"]
        return out
    return {"threshold": threshold(value)}


def _resolve_overrides(catalogue: Catalogue, overrides: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """check_id -> changed attributes; a check id beats ``checkName.table`` beats ``checkName``."""
    if not isinstance(overrides, Mapping):
        raise CatalogueError(f"overrides must be a mapping, got {type(overrides).__name__}")
    ids = catalogue.by_id
    by_type: dict[str, list[str]] = {}
    by_type_table: dict[str, list[str]] = {}
    for spec in catalogue.checks:
        by_type.setdefault(spec.check_name, []).append(spec.check_id)
        by_type_table.setdefault(f"{spec.check_name}.{spec.table}", []).append(spec.check_id)
    unknown = sorted(k for k in overrides if not (k in ids or k in by_type or k in by_type_table))
    if unknown:
        raise CatalogueError(
            f"unknown override keys {unknown}: use a check id, a check name, or 'checkName.table' of a declared check"
        )
    changes: dict[str, dict[str, Any]] = {}
    for tier in (by_type, by_type_table, {k: [k] for k in ids}):
        for key, value in overrides.items():
            if key in tier:
                change = _override_value(key, value)
                for cid in tier[key]:
                    changes.setdefault(cid, {}).update(change)
    return changes


# ---------------------------------------------------------------------------- the packaged catalogue


def declared_checks(
    tables: Iterable[str] | None = None,
    *,
    overrides: Mapping[str, float | dict[str, Any]] | None = None,
) -> list[CheckSpec]:
    """Every check instance for ``tables`` (default all CDM tables) in the stable order.

    Order: table order of the CDM declaration, then level (TABLE, FIELD, CONCEPT), then check type
    order of ``check_types.tsv``, then field order, then concept and unit id.  ``overrides`` maps a
    check id, a check name or ``checkName.table`` to a threshold (percent) or to
    ``{"threshold": x, "severity": s}``; unknown keys raise :class:`CatalogueError`.
    """
    return _packaged_catalogue().select(tables, overrides=overrides)


def render_description(spec: CheckSpec, catalogue: Catalogue | None = None) -> str:
    """The description of ``spec`` with its table, field, concept and parameters filled in."""
    return (catalogue or _packaged_catalogue()).render_description(spec)


def severity_of(spec: CheckSpec) -> str:
    """``spec.severity`` when set (a site override), else the check type's severity."""
    if spec.severity is not None:
        return spec.severity
    try:
        return _packaged_types()[0][spec.check_name].severity
    except KeyError:
        raise CatalogueError(f"unknown check type {spec.check_name!r}") from None
