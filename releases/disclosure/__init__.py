"""Disclosure control for releases leaving a site.

Row-level releases: :func:`k_anonymise` generalises the declared
quasi-identifiers (year of birth, sex, region, rare diagnoses; constructors in
:mod:`~releases.disclosure.hierarchies`) and suppresses the rest until the
study's k holds; :func:`check_k_anonymity` / :func:`assert_k_anonymous`
verify a frame before it is packaged.

Aggregate releases: :func:`suppress_table` applies small-cell suppression with
the jurisdiction's threshold (:func:`threshold_for`) and complementary
suppression over all margins; :func:`audit_suppression` is the attacker that
checks no suppressed cell can be recomputed from the published numbers.

Modules: ``thresholds`` (per-jurisdiction defaults), ``hierarchies``
(quasi-identifiers), ``kanon`` (lattice search), ``cube`` (tables with
margins), ``tables`` (suppression), ``audit`` (LP attacker), ``errors``.
"""

from releases.disclosure.audit import AuditResult, audit_suppression
from releases.disclosure.cube import MARGIN
from releases.disclosure.errors import (
    AuditSolverError,
    DisclosureError,
    InconsistentTable,
    InvalidHierarchy,
    InvalidThreshold,
    KAnonymityUnattainable,
    KAnonymityViolation,
    TableStructureError,
    UnknownHierarchyCode,
    UnknownJurisdiction,
)
from releases.disclosure.hierarchies import (
    QuasiIdentifier,
    diagnosis,
    from_parent_maps,
    icd10_chapter,
    parent_maps_from_table,
    region,
    sex,
    year_of_birth,
)
from releases.disclosure.kanon import KAnonResult, assert_k_anonymous, check_k_anonymity, k_anonymise
from releases.disclosure.tables import COMPLEMENTARY, PRIMARY, SuppressionResult, suppress_table
from releases.disclosure.thresholds import JURISDICTION_THRESHOLDS, threshold_for

__all__ = [
    "COMPLEMENTARY",
    "JURISDICTION_THRESHOLDS",
    "MARGIN",
    "PRIMARY",
    "AuditResult",
    "AuditSolverError",
    "DisclosureError",
    "InconsistentTable",
    "InvalidHierarchy",
    "InvalidThreshold",
    "KAnonResult",
    "KAnonymityUnattainable",
    "KAnonymityViolation",
    "QuasiIdentifier",
    "SuppressionResult",
    "TableStructureError",
    "UnknownHierarchyCode",
    "UnknownJurisdiction",
    "assert_k_anonymous",
    "audit_suppression",
    "check_k_anonymity",
    "diagnosis",
    "from_parent_maps",
    "icd10_chapter",
    "k_anonymise",
    "parent_maps_from_table",
    "region",
    "sex",
    "suppress_table",
    "threshold_for",
    "year_of_birth",
]
