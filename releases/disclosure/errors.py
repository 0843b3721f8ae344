"""Domain errors of disclosure control (one base class, one subclass per failure)."""

from __future__ import annotations


class DisclosureError(ValueError):
    """Base class: a disclosure-control input or result is not acceptable."""


class UnknownJurisdiction(DisclosureError):
    """A threshold was asked for a jurisdiction that has no default and no override."""


class InvalidThreshold(DisclosureError):
    """A threshold (or k) is not an integer >= 1."""


class InvalidHierarchy(DisclosureError):
    """A generalisation hierarchy is malformed (a level is not a coarsening of the one below)."""


class UnknownHierarchyCode(DisclosureError):
    """A value of a quasi-identifier column is not covered by its hierarchy."""


class KAnonymityUnattainable(DisclosureError):
    """No node of the generalisation lattice reaches k within the allowed suppression."""


class KAnonymityViolation(DisclosureError):
    """A frame that should be k-anonymous has equivalence classes smaller than k."""


class TableStructureError(DisclosureError):
    """An aggregate table is not a well-formed table of counts (duplicates, negatives, missing margins)."""


class InconsistentTable(DisclosureError):
    """Published numbers contradict each other (a margin is not the sum of its cells)."""


class AuditSolverError(DisclosureError):
    """The LP/MILP solver failed for a reason other than unboundedness."""
