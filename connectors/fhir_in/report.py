"""Counts of a FHIR feed staging run: per file, per table, per reason, and their reconciliation.

Every input item (a resource, a bundle entry, a line or document that is
not a resource) is counted once in ``rows_in`` of its file and ends in
exactly one of: a staging table (``staged``), ``merged/`` (``reference``
data, or a ``duplicate_resource`` / ``superseded_version`` of a kept
resource) or quarantine (by reason).  ``reconciled`` says that
``rows_in == staged + reference + merged + quarantined`` for every file.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


def _add(into: dict[str, int], more: dict[str, int]) -> dict[str, int]:
    for k, n in more.items():
        into[k] = into.get(k, 0) + int(n)
    return into


@dataclass
class FileReport:
    """One input file: what was read (read step) and where it went (resolve step)."""

    source_file: str
    file_type: str  # the input kind: fhir_ndjson | fhir_json
    bytes: int = 0
    chunks: int = 0
    rows_in: int = 0  # items: resources, bundle entries, refused lines/documents
    by_type: dict[str, int] = field(default_factory=dict)  # resource type -> items ('(none)' if not a resource)
    blank_lines: int = 0
    empty_bundles: int = 0
    validated: int = 0  # resources checked against their fhir.resources R4B model
    components_not_staged: int = 0  # Observation.component elements of staged observations
    read_staged: dict[str, int] = field(default_factory=dict)  # staging table -> rows after the read step
    read_quarantined: dict[str, int] = field(default_factory=dict)  # reason -> items refused by the read step
    # after the resolve step
    staged: int = 0
    reference: int = 0
    merged: dict[str, int] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)  # reason -> items (read and resolve steps)

    @property
    def accounted(self) -> int:
        return self.staged + self.reference + sum(self.merged.values()) + sum(self.quarantined.values())


@dataclass
class FhirReadReport:
    """The read step (``stage_landing``): per file what was read and refused."""

    files: list[FileReport] = field(default_factory=list)
    unrecognised_files: list[str] = field(default_factory=list)
    validate: str = "sample"
    seconds: float = 0.0

    @property
    def rows_in(self) -> int:
        return sum(f.rows_in for f in self.files)

    def to_dict(self) -> dict:
        """Plain data for the run ledger (``files[*].source_file/file_type/rows_in`` as the sites' reports)."""
        quarantined: dict[str, int] = {}
        for f in self.files:
            _add(quarantined, f.read_quarantined)
        return {
            "files": [asdict(f) for f in self.files],
            "unrecognised_files": list(self.unrecognised_files),
            "rows_in": self.rows_in,
            "quarantined": quarantined,
            "validate": self.validate,
            "validated": sum(f.validated for f in self.files),
            "seconds": round(self.seconds, 3),
        }


@dataclass
class TableReport:
    """One staging table in the resolve step."""

    file_type: str
    rows_in: int = 0  # rows of the read step
    rows_out: int = 0  # rows in tables/
    quarantined: dict[str, int] = field(default_factory=dict)
    merged: dict[str, int] = field(default_factory=dict)


@dataclass
class FhirResolveReport:
    """The resolve step (``consolidate_landing``): duplicates, references, tables written."""

    tables: dict[str, TableReport] = field(default_factory=dict)
    files: dict[str, dict] = field(default_factory=dict)  # source file -> staged/reference/merged/quarantined
    reference: dict[str, int] = field(default_factory=dict)  # resource type -> reference resources kept
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {
            "tables": {k: asdict(v) for k, v in self.tables.items()},
            "files": self.files,
            "reference": dict(self.reference),
            "seconds": round(self.seconds, 3),
        }


@dataclass
class FhirStageReport:
    """:func:`connectors.fhir_in.stage_fhir`: both steps, per file, with the reconciliation."""

    read: FhirReadReport
    resolve: FhirResolveReport
    files: list[FileReport] = field(default_factory=list)

    @property
    def resources_in(self) -> int:
        return sum(f.rows_in for f in self.files)

    @property
    def staged(self) -> dict[str, int]:
        return {k: t.rows_out for k, t in self.resolve.tables.items()}

    @property
    def reference(self) -> dict[str, int]:
        return dict(self.resolve.reference)

    @property
    def merged(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.files:
            _add(out, f.merged)
        return out

    @property
    def quarantined(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.files:
            _add(out, f.quarantined)
        return out

    @property
    def unreconciled(self) -> list[str]:
        """Files whose items do not add up (empty when reconciled)."""
        return [f"{f.source_file}: {f.rows_in} in, {f.staged} staged + {f.reference} reference + "
                f"{sum(f.merged.values())} merged + {sum(f.quarantined.values())} quarantined"
                for f in self.files if f.rows_in != f.accounted]

    @property
    def reconciled(self) -> bool:
        return not self.unreconciled

    def to_dict(self) -> dict:
        by_type: dict[str, int] = {}
        for f in self.files:
            _add(by_type, f.by_type)
        return {
            "files": [asdict(f) for f in self.files],
            "resources_in": self.resources_in,
            "resources_in_by_type": by_type,
            "staged": self.staged,
            "reference": self.reference,
            "merged": self.merged,
            "quarantined": self.quarantined,
            "reconciled": self.reconciled,
            "unreconciled": self.unreconciled,
            "unrecognised_files": list(self.read.unrecognised_files),
            "validated": sum(f.validated for f in self.files),
            "components_not_staged": sum(f.components_not_staged for f in self.files),
            "seconds": round(self.read.seconds + self.resolve.seconds, 3),
        }
