"""What one DataQualityDashboard-style check is: its type and one concrete instance.

A :class:`CheckType` is one of the DQD's 27 check types (``isRequired``,
``plausibleAfterBirth`` ...) with its level, Kahn category and default severity.
A :class:`CheckSpec` is that type applied to one table, field or concept with
its threshold and parameters; ``validators.dqd.catalogue`` declares them and
``validators.dqd.sql`` turns each into one SQL query returning
``num_violated_rows, num_denominator_rows``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Level = Literal["TABLE", "FIELD", "CONCEPT"]
Severity = Literal["fatal", "convention", "characterization"]
SEVERITIES: tuple[str, ...] = ("fatal", "convention", "characterization")


@dataclass(frozen=True)
class CheckType:
    name: str  # DQD checkName, e.g. "isRequired"
    level: Level
    description: str  # template with @cdmTableName, @cdmFieldName, @conceptId ... placeholders
    kahn_context: str  # Verification | Validation
    kahn_category: str  # Conformance | Completeness | Plausibility
    kahn_subcategory: str | None  # Relational | Value | Computational | Atemporal | Temporal | None
    severity: Severity


@dataclass(frozen=True)
class CheckSpec:
    """One check instance.  ``threshold`` is a percentage (0..100): the check fails when the
    share of violated rows, in percent, is above it (the DQD rule)."""

    check_name: str
    table: str  # lower-case CDM table name
    field: str | None = None  # lower-case CDM field name (FIELD and CONCEPT levels)
    concept_id: int | None = None  # CONCEPT level
    unit_concept_id: int | None = None  # CONCEPT level (plausibleValueLow/High per unit)
    threshold: float = 0.0
    # parameters, set only for the check types that use them
    fk_table: str | None = None  # isForeignKey
    fk_field: str | None = None  # isForeignKey
    fk_domain: str | None = None  # fkDomain (concept.domain_id)
    fk_class: str | None = None  # fkClass (concept.concept_class_id)
    datatype: str | None = None  # cdmDatatype: declared CDM datatype, e.g. "integer"
    plausible_value_low: float | str | None = None  # number, or a date 'YYYY-MM-DD' for date fields
    plausible_value_high: float | str | None = None  # number, a date, or 'today' (DQD: current date)
    temporal_after_table: str | None = None  # plausibleTemporalAfter
    temporal_after_field: str | None = None  # plausibleTemporalAfter
    start_before_end_field: str | None = None  # plausibleStartBeforeEnd: the end field
    standard_concept_field: str | None = None  # sourceValueCompleteness: the standard concept field beside it
    plausible_gender: str | None = None  # plausibleGender*: 'Male' or 'Female'
    unit_concept_ids: tuple[int, ...] = ()  # plausibleUnitConceptIds
    severity: Severity | None = None  # overrides the check type's severity when set

    @property
    def check_id(self) -> str:
        """Stable key: ``checkName.table[.field][.conceptId[.unitConceptId]]``."""
        parts = [self.check_name, self.table]
        if self.field:
            parts.append(self.field)
        if self.concept_id is not None:
            parts.append(str(self.concept_id))
            if self.unit_concept_id is not None:
                parts.append(str(self.unit_concept_id))
        return ".".join(parts)
