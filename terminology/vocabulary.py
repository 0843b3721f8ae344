"""Facade: load a site's vocabulary (Athena download + project-local vocabularies + Finnish Usagi files).

A site points the setting ``CROSSBRIDGE_VOCABULARY_DIR`` (read by
``crossbridge`` settings, not here) at its unzipped, licensed Athena download
and passes that folder as ``athena_dir``; without one, the project's demo
stand-in (``terminology/demo_vocabulary/athena``) is used.  The NHI local
vocabularies (``terminology/demo_vocabulary/nhi_local``) are always loaded on
top, then the Usagi overlays: by default (``usagi_files=None``) the demo
Finnish vocabularies listed in ``terminology/demo_vocabulary/finomop/
vocabularies.csv`` (ICD10fi, ICD9fi, ICD8fi, ICPC, NCSPfi, VNRfi, REIMB,
FI Biobank Specimen), so a default vocabulary covers both sites.  A site with
its own FinOMOP files passes them instead (``usagi_files=[(path,
vocabulary_id, offset), ...]``, e.g. from :func:`finomop_usagi_files`);
``usagi_files=()`` loads none.

Names files (``terminology/demo_vocabulary/names/*.tsv``: Traditional Chinese
names of the Taiwan source codes, attached by code) are loaded last, skipping
codes the base vocabulary lacks; ``names=False`` loads none.  Further imports
(FHIR CodeSystem / ConceptMap, SOURCE_TO_CONCEPT_MAP, more Usagi files or
Athena overlay folders) come from :mod:`terminology.imports` specs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from terminology.athena import UsagiSpec, VocabularyLoadReport, load_athena
from terminology.demo_vocabulary import ATHENA_DIR as DEMO_ATHENA_DIR
from terminology.demo_vocabulary import FINOMOP_DIR as DEMO_FINOMOP_DIR
from terminology.demo_vocabulary import LOCAL_DIR as LOCAL_VOCABULARY_DIR
from terminology.imports import ImportSpec, load_plan

DEMO_NAMES_DIR = Path(LOCAL_VOCABULARY_DIR).parent / "names"
from terminology.usagi import read_vocabularies_csv


def finomop_usagi_files(vocabularies_csv: str | Path, *, version: str | None = None
                        ) -> list[tuple[Path, str, int, str | None, str]]:
    """Usagi overlay specs (path, vocabulary_id, offset, version, name) from a FinOMOP ``vocabularies.csv``;
    rows marked ``ignore`` are skipped."""
    return [(s.path, s.vocabulary_id, s.offset, version, s.vocabulary_name)
            for s in read_vocabularies_csv(vocabularies_csv) if not s.ignore]


def demo_usagi_files() -> list[tuple[Path, str, int, str | None, str]]:
    """The demo Finnish vocabularies (``demo_vocabulary/finomop``), versioned as the demo vocabulary."""
    from terminology.demo_vocabulary.source import DEMO_VERSION

    return finomop_usagi_files(DEMO_FINOMOP_DIR / "vocabularies.csv", version=DEMO_VERSION)


def demo_names_files() -> list[Path]:
    """The project's names files (Chinese names of Taiwan source codes), in name order."""
    return sorted(DEMO_NAMES_DIR.glob("*.tsv")) if DEMO_NAMES_DIR.is_dir() else []


def load_site_vocabulary(con, athena_dir: str | Path | None = None, *, replace: bool = False,
                         usagi_files: Sequence[UsagiSpec] | None = None,
                         check_targets: bool = True, names: bool = True,
                         imports: Sequence[ImportSpec] = ()) -> VocabularyLoadReport:
    """Load ``athena_dir`` (default: the demo stand-in), the local vocabularies, the Usagi overlays,
    the names files and ``imports`` into ``con``.

    ``usagi_files=None`` loads the demo Finnish vocabularies; see the module
    docstring.  All-or-nothing, as :func:`terminology.athena.load_athena`.
    """
    base = Path(athena_dir) if athena_dir is not None else DEMO_ATHENA_DIR
    usagi = demo_usagi_files() if usagi_files is None else list(usagi_files)
    plan = load_plan(list(imports))
    builders = list(plan.imports)
    if names:
        from terminology.names import names_overlay

        builders += [names_overlay(p, unknown="skip") for p in demo_names_files()]
    return load_athena(con, base, overlays=(LOCAL_VOCABULARY_DIR, *plan.overlays), replace=replace,
                       usagi_files=[*usagi, *plan.usagi_files], check_targets=check_targets, imports=builders)


__all__ = [
    "DEMO_ATHENA_DIR", "DEMO_FINOMOP_DIR", "DEMO_NAMES_DIR", "demo_names_files", "LOCAL_VOCABULARY_DIR", "demo_usagi_files", "finomop_usagi_files",
    "load_site_vocabulary",
]
