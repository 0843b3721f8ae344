"""FHIR inbound feed: FHIR R4 Bundles and Bulk Data NDJSON -> staging Parquet (the OMOP build reads it).

Inputs are Kanta-style partner exports and the output of the hub's own HL7 v2
connector: NDJSON files (one resource per line, any types mixed, or one file
per type; a line may also hold a Bundle) and JSON documents (a Bundle of type
transaction, batch, collection, searchset, document, message or history, or
a single resource), each optionally gzip-compressed.

Two steps, so the pipeline can run them as its stage and consolidate steps:

* **read** (:mod:`.stage`, :func:`stage_landing`): per file and block, JSON
  parsed and flattened by DuckDB (:mod:`.flatten`), identities pseudonymised
  (:mod:`.identity`), rows that cannot be staged quarantined with a reason;
* **resolve** (:mod:`.resolve`, :func:`consolidate_landing`): across files,
  duplicates, subject / encounter / medication references, and the staging
  tables ``tables/<table>/`` of :mod:`.layout`.

:func:`stage_fhir` runs both and returns a :class:`FhirStageReport` in which
every input item is accounted for: staged, reference data, merged (a
duplicate or an older version of a kept resource) or quarantined.

Public API::

    stage_fhir(inputs, staging, secret, *, site=None, validate="sample", progress=None, workers=1)
        -> FhirStageReport (.to_dict())
    FILE_TYPES, table_columns(file_type), identify(file_name)
    stage_landing(landing, staging, secret, encoding, chunk_bytes, progress, workers)   # SitePipeline stage
    consolidate_landing(staging, memory_limit=, threads=)                              # SitePipeline consolidate

The OMOP mapping of these tables is ``mappings.omop_cdm_v54.fhir_feed.FHIR_FEED``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from .layout import BY_KEY, FILE_TYPES, MERGE_REASONS, QUARANTINE_REASONS, identify, table_columns
from .read import DEFAULT_CHUNK_BYTES
from .report import FhirReadReport, FhirResolveReport, FhirStageReport, FileReport
from .resolve import consolidate_landing, resolve_staging
from .stage import Progress, read_inputs, stage_landing


def stage_fhir(
    inputs: Path | Iterable[Path],
    staging: Path,
    secret: str,
    *,
    site: str | None = None,
    validate: str = "sample",
    progress: Progress | None = None,
    workers: int = 1,
    sample_size: int = 20,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    memory_limit: str = "1GB",
    threads: int = 2,
) -> FhirStageReport:
    """Stage FHIR files and folders ``inputs`` into ``staging`` (both steps; see the module docstring).

    ``secret``: the site secret for pseudonyms.  ``site`` ('taiwan',
    'finland' or None): with a site, only that site's Crossbridge pseudonym
    system is kept as a pseudonym (:mod:`.identity`).  ``validate``: 'all',
    'sample' (the first ``sample_size`` resources of each type per file) or
    'none' structural validation with the fhir.resources R4B models.
    ``progress(file, bytes_done, bytes_total)``; ``workers`` processes read
    files in parallel.
    """
    read = read_inputs(inputs, staging, secret, site=site, validate=validate, sample_size=sample_size,
                       chunk_bytes=chunk_bytes, progress=progress, workers=workers)
    resolved = resolve_staging(staging, memory_limit=memory_limit, threads=threads)
    files = []
    for f in read.files:  # files
        got = resolved.files.get(f.source_file, {})
        f.staged = int(got.get("staged", 0))
        f.reference = int(got.get("reference", 0))
        f.merged = dict(got.get("merged", {}))
        f.quarantined = dict(got.get("quarantined", {}))
        files.append(f)
    return FhirStageReport(read, resolved, files)


__all__ = [
    "BY_KEY", "FILE_TYPES", "FhirReadReport", "FhirResolveReport", "FhirStageReport", "FileReport",
    "MERGE_REASONS", "QUARANTINE_REASONS", "consolidate_landing", "identify", "stage_fhir", "stage_landing",
    "table_columns",
]
