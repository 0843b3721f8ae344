"""The inbound HL7 v2 feed: extract -> stage -> map -> validate -> load -> export_fhir -> summarise.

The stage step is two hops, and each is reconciled on its own:

1. **messages** -- :func:`connectors.hl7v2.read_hl7v2` splits the landing files
   (:mod:`connectors.hl7v2.layout`) into messages and checks every one; a refused
   message is written to ``staging/quarantine/stage/hl7v2/`` with its reason (one row
   per message, ``row_number`` = its position in the file).  The mapped ones become
   FHIR R4 resources (:func:`mappings.fhir_r4.hl7v2.messages_to_fhir`: encounters
   folded over ADT events, A40 merges applied, one Observation per OBX) written as
   NDJSON to ``staging/hl7v2_fhir/``.  ``messages_in = mapped + quarantined``, per file.
2. **resources** -- those NDJSON files are staged by the FHIR feed's read step
   (:func:`connectors.fhir_in.stage.read_inputs`), so HL7 v2 reaches OMOP through
   the same staging tables, terminology translation and build as FHIR partners' data.

``summary.json`` has the sites' fields, with ``rows_in`` / ``rows_quarantined`` of the
landing files counted in **messages**, and a ``messages`` section (in, mapped,
quarantined per reason, by type, merges, reconciled); the intermediate NDJSON files'
resources are in ``rows_in_derived`` and reconciled like any staged file.

The ledger's site name is ``hl7v2`` (warehouse ``<workdir>/warehouse/hl7v2.duckdb``);
``feed_site`` (taiwan / finland / none) says which national identifiers ``NI`` means,
the pseudonym system, the default time zone (``feed_timezone`` overrides it) and
the national profiles of the FHIR resources.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from crossbridge.pipeline import site

SITE = "hl7v2"
FHIR_DIR = "hl7v2_fhir"  # under staging: the resources made from the messages
QUARANTINE_DIR = ("quarantine", "stage", "hl7v2")


class Hl7v2StageReport:
    """What :func:`stage_messages` did: the FHIR read report of the derived files plus the message counts."""

    def __init__(self, fhir_read, messages: dict[str, Any], fhir_dir: Path, written: dict[str, Path]):
        self.fhir_read = fhir_read
        self.messages = messages
        self.fhir_dir = fhir_dir
        self.written = written

    def to_dict(self) -> dict[str, Any]:
        out = self.fhir_read.to_dict()
        out["messages"] = self.messages
        out["fhir_from_messages"] = {"dir": str(self.fhir_dir),
                                     "files": {t: p.name for t, p in sorted(self.written.items())}}
        return out


def stage_messages(
    landing: Path,
    staging: Path,
    secret: str,
    encoding: str | None = None,
    chunk_bytes: int = 16 << 20,
    progress: Callable[[str, int, int], None] | None = None,
    workers: int = 1,
    *,
    site: str | None = None,
    timezone: str | None = None,
) -> Hl7v2StageReport:
    """The stage function of the HL7 v2 feed (``SitePipeline.stage_function``).

    ``encoding`` is ignored: each message declares its own (MSH-18) and undeclared
    bytes are detected (:mod:`connectors.hl7v2.encoding`).
    """
    from connectors.fhir_in.stage import read_inputs
    from connectors.hl7v2 import read_hl7v2, write_ndjson
    from connectors.hl7v2.layout import identify
    from connectors.quarantine import write_quarantine
    from mappings.fhir_r4.hl7v2 import messages_to_fhir

    landing, staging = Path(landing), Path(staging)
    if not landing.is_dir():
        raise FileNotFoundError(f"landing folder {landing} does not exist")
    paths = [p for p in sorted(landing.rglob("*")) if p.is_file() and identify(p.name) is not None
             and not any(part.startswith(("_", ".")) for part in p.relative_to(landing).parts)]
    tick = None if progress is None else (lambda done: progress("HL7 v2 messages", done, 0))
    batch = read_hl7v2(paths, secret=secret, site=site, workers=workers, progress=tick, timezone=timezone)
    fhir = messages_to_fhir(batch.messages, site=site)
    batch = batch.with_fhir(fhir.resources, fhir.counts)

    qdir = staging.joinpath(*QUARANTINE_DIR)
    if qdir.exists():
        shutil.rmtree(qdir)
    if batch.quarantine.num_rows:
        from connectors.hl7v2 import REASONS

        write_quarantine(batch.quarantine, qdir / "messages.parquet", allowed=REASONS)
    fhir_dir = staging / FHIR_DIR
    if fhir_dir.exists():
        shutil.rmtree(fhir_dir)
    written = write_ndjson(batch, fhir_dir)
    if written:
        fhir_read = read_inputs(fhir_dir, staging, secret, site=site, chunk_bytes=chunk_bytes, progress=progress,
                                workers=workers)
    else:  # nothing mapped: no FHIR file to stage, the feed's staging outputs are cleared all the same
        from connectors.fhir_in.report import FhirReadReport
        from connectors.fhir_in.stage import clear_fhir_outputs

        clear_fhir_outputs(staging)
        fhir_read = FhirReadReport()
    counts = {k: v for k, v in batch.counts.items()}
    return Hl7v2StageReport(fhir_read, counts, fhir_dir, written)


PIPELINE = site.SitePipeline(
    site=SITE,
    dag_id="hl7v2_to_omop",
    layout_module="connectors.hl7v2.layout",
    stage_function="crossbridge.pipeline.hl7v2:stage_messages",
    consolidate_function="connectors.fhir_in.resolve:consolidate_landing",
    table_columns_function="connectors.fhir_in.layout:table_columns",
    site_mapping="mappings.omop_cdm_v54.fhir_feed:FHIR_FEED",
    encoding_setting=False,
    stage_settings=(("site", "feed_site"), ("timezone", "feed_timezone")),
)


(start_run, extract, stage, map_to_omop, validate, load, export_fhir, summarise,
 run_all) = site.stage_functions(PIPELINE)
