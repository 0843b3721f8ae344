"""Stage the Taiwan landing zone with the site-independent engine (:mod:`connectors.staging`)."""

from __future__ import annotations

from pathlib import Path

from connectors.layout import SiteLayout
from connectors.staging import (  # noqa: F401  (re-exported for callers of the Taiwan connector)
    DEFAULT_WORKERS,
    DuplicateSourceName,
    LayoutMismatch,
    Progress,
    StageReport,
    stage_landing,
)
from connectors.taiwan import layout
from connectors.taiwan.consolidate import clear_consolidated
from connectors.text_chunks import DEFAULT_CHUNK_BYTES

SITE = SiteLayout("taiwan", layout.FILE_TYPES, layout.QUARANTINE_REASONS, clear_consolidated)


def stage_taiwan(
    landing: Path,
    staging: Path,
    secret: str,
    encoding: str = "cp950",
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    progress: Progress | None = None,
    workers: int = DEFAULT_WORKERS,
) -> StageReport:
    """Stage every recognised Taiwan landing file (CP950 unless ``encoding`` says otherwise)."""
    return stage_landing(SITE, landing, staging, secret, encoding, chunk_bytes, progress, workers)
