"""Write FHIR resources as NDJSON, one file per resource type (``<Type>.ndjson``), sorted by id.

Deterministic: resources sorted by ``id``, keys sorted, compact separators, UTF-8,
one resource per line, ``\\n`` line ends; the same resources give byte-identical files.
A type with no resources gets no file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

__all__ = ["write_ndjson"]


def write_ndjson(resources: Mapping[str, list[dict]] | object, out_dir: Path | str) -> dict[str, Path]:
    """Write ``{type: [resource, ...]}`` (or a batch's ``.resources``) under ``out_dir``; returns
    {type: path} of the files written."""
    if not isinstance(resources, Mapping):
        resources = resources.resources  # an Hl7v2Batch after with_fhir()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for rtype in sorted(resources):
        items = resources[rtype]
        if not items:
            continue
        path = out / f"{rtype}.ndjson"
        lines = (json.dumps(r, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
                 for r in sorted(items, key=lambda r: r["id"]))
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        written[rtype] = path
    return written
