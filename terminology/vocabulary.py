"""Facade: load a site's vocabulary (Athena download + project-local vocabularies).

A site points the setting ``CROSSBRIDGE_VOCABULARY_DIR`` (read by
``crossbridge`` settings, not here) at its unzipped, licensed Athena download
and passes that folder as ``athena_dir``; without one, the project's demo
stand-in (``terminology/demo_vocabulary/athena``) is used.  The NHI local
vocabularies (``terminology/demo_vocabulary/nhi_local``) are always loaded on
top.
"""

from __future__ import annotations

from pathlib import Path

from terminology.athena import VocabularyLoadReport, load_athena
from terminology.demo_vocabulary import ATHENA_DIR as DEMO_ATHENA_DIR
from terminology.demo_vocabulary import LOCAL_DIR as LOCAL_VOCABULARY_DIR


def load_site_vocabulary(con, athena_dir: str | Path | None = None, *,
                         replace: bool = False) -> VocabularyLoadReport:
    """Load ``athena_dir`` (default: the demo stand-in) plus the local vocabularies into ``con``."""
    base = Path(athena_dir) if athena_dir is not None else DEMO_ATHENA_DIR
    return load_athena(con, base, overlays=(LOCAL_VOCABULARY_DIR,), replace=replace)


__all__ = ["DEMO_ATHENA_DIR", "LOCAL_VOCABULARY_DIR", "load_site_vocabulary"]
