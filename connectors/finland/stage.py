"""Stage the Finnish landing zone with the site-independent engine (:mod:`connectors.staging`).

Register files are Latin-1 and ``;``-separated, the FinnGen file UTF-8 and
tab-separated with ``NA`` for missing (each file type declares its own, see
:mod:`connectors.finland.layout`); henkilötunnus columns are validated and
replaced at once by the site pseudonym, temporary numbers flagged.
"""

from __future__ import annotations

from pathlib import Path

from connectors.finland import layout
from connectors.finland.consolidate import clear_consolidated
from connectors.layout import SiteLayout
from connectors.staging import DEFAULT_WORKERS, Progress, StageReport, stage_landing
from connectors.text_chunks import DEFAULT_CHUNK_BYTES

SITE = SiteLayout("finland", layout.FILE_TYPES, layout.QUARANTINE_REASONS, clear_consolidated)


def stage_finland(
    landing: Path,
    staging: Path,
    secret: str,
    encoding: str | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    progress: Progress | None = None,
    workers: int = DEFAULT_WORKERS,
) -> StageReport:
    """Stage every recognised Finnish landing file (each file type's own encoding unless ``encoding`` is given)."""
    return stage_landing(SITE, landing, staging, secret, encoding, chunk_bytes, progress, workers)
