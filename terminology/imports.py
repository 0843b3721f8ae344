"""Import specs: which non-Athena files to load into the vocabulary store, written as one string each.

    FORMAT=PATH[?key=value&key=value]

FORMAT is one of:

* ``athena``: another Athena-format folder (an overlay, e.g. a site's local vocabularies);
* ``usagi``: a Usagi or FinOMOP usagi-extended file — keys ``vocabulary`` (required),
  ``offset`` (first concept id of its block), ``version``, ``name``;
* ``fhir-codesystem``: a FHIR R4 CodeSystem (JSON) as a new source vocabulary — keys
  ``offset`` (required unless the file carries concept ids), ``vocabulary``, ``version``;
* ``fhir-conceptmap``: a FHIR R4 ConceptMap (JSON) adding mappings between loaded concepts;
* ``stcm``: an OMOP SOURCE_TO_CONCEPT_MAP file (CSV or TSV) — keys ``offset``, ``name``, ``version``;
* ``names``: a names file (``vocabulary_id, concept_code, language, name``) adding Chinese,
  Finnish or English names to loaded concepts by code — key ``unknown`` (``error`` or ``skip``).

Several specs are joined with ``;`` in the setting ``CROSSBRIDGE_VOCABULARY_IMPORTS``
(or ``vocabulary_imports`` in the config file).  Paths are taken as given (relative to the
current directory).  A malformed spec raises :class:`ImportSpecError` naming it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl

FORMATS = ("athena", "usagi", "fhir-codesystem", "fhir-conceptmap", "stcm", "names")
_KEYS = {
    "athena": (),
    "usagi": ("vocabulary", "offset", "version", "name"),
    "fhir-codesystem": ("vocabulary", "offset", "version"),
    "fhir-conceptmap": (),
    "stcm": ("offset", "name", "version"),
    "names": ("unknown",),
}


class ImportSpecError(ValueError):
    """An import spec that cannot be understood."""


@dataclass(frozen=True)
class ImportSpec:
    format: str
    path: Path
    options: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        opts = "&".join(f"{k}={v}" for k, v in sorted(self.options.items()))
        return f"{self.format}={self.path}" + (f"?{opts}" if opts else "")

    def _int(self, key: str) -> int | None:
        if key not in self.options:
            return None
        try:
            return int(self.options[key])
        except ValueError:
            raise ImportSpecError(f"{self}: {key} must be an integer, not {self.options[key]!r}") from None


def parse_import_spec(text: str) -> ImportSpec:
    """Parse ``FORMAT=PATH[?k=v&...]``; the file or folder must exist."""
    head, _, query = text.strip().partition("?")
    fmt, sep, path = head.partition("=")
    fmt = fmt.strip().lower()
    if not sep or not path.strip():
        raise ImportSpecError(f"import spec {text!r}: expected FORMAT=PATH[?key=value&...]")
    if fmt not in FORMATS:
        raise ImportSpecError(f"import spec {text!r}: unknown format {fmt!r} (known: {', '.join(FORMATS)})")
    try:
        options = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)))
    except ValueError:
        raise ImportSpecError(f"import spec {text!r}: options must look like key=value&key=value") from None
    unknown = sorted(set(options) - set(_KEYS[fmt]))
    if unknown:
        raise ImportSpecError(f"import spec {text!r}: unknown option(s) {unknown} for {fmt} "
                              f"(allowed: {', '.join(_KEYS[fmt]) or 'none'})")
    spec = ImportSpec(fmt, Path(path.strip()), options)
    if fmt == "athena" and not spec.path.is_dir():
        raise ImportSpecError(f"import spec {text!r}: {spec.path} is not a folder")
    if fmt != "athena" and not spec.path.is_file():
        raise ImportSpecError(f"import spec {text!r}: {spec.path} does not exist")
    if fmt == "usagi" and "vocabulary" not in options:
        raise ImportSpecError(f"import spec {text!r}: a Usagi file needs vocabulary=VOCABULARY_ID")
    for key in ("offset",):
        spec._int(key)
    return spec


def parse_import_specs(text: str) -> list[ImportSpec]:
    """Parse a ``;``-separated list of specs (empty text: none)."""
    return [parse_import_spec(part) for part in text.split(";") if part.strip()]


@dataclass
class LoadPlan:
    """What :func:`terminology.athena.load_athena` needs from a list of specs."""

    overlays: list[Path] = field(default_factory=list)
    usagi_files: list[tuple] = field(default_factory=list)
    imports: list = field(default_factory=list)
    files: list[Path] = field(default_factory=list)  # every file or folder, for cache keys


def load_plan(specs: list[ImportSpec]) -> LoadPlan:
    """Turn specs into loader arguments (importer modules are imported only when used)."""
    plan = LoadPlan()
    for spec in specs:
        plan.files.append(spec.path)
        o = spec.options
        if spec.format == "athena":
            plan.overlays.append(spec.path)
        elif spec.format == "usagi":
            plan.usagi_files.append((spec.path, o["vocabulary"], spec._int("offset"), o.get("version"),
                                     o.get("name")))
        elif spec.format == "fhir-codesystem":
            from terminology.fhir_terminology import import_codesystem

            offset = spec._int("offset")
            plan.imports.append(lambda con, s=spec, off=offset: import_codesystem(
                s.path, vocabulary_id=s.options.get("vocabulary"), concept_id_offset=off,
                vocabulary_version=s.options.get("version")))
        elif spec.format == "fhir-conceptmap":
            from terminology.fhir_terminology import import_conceptmap

            plan.imports.append(import_conceptmap(spec.path))
        elif spec.format == "stcm":
            from terminology.source_to_concept_map import read_source_to_concept_map

            plan.imports.append(read_source_to_concept_map(
                spec.path, concept_id_offset=spec._int("offset"), vocabulary_name=o.get("name"),
                vocabulary_version=o.get("version")))
        elif spec.format == "names":
            from terminology.names import names_overlay

            plan.imports.append(names_overlay(spec.path, unknown=o.get("unknown", "error")))
    return plan


__all__ = ["FORMATS", "ImportSpec", "ImportSpecError", "LoadPlan", "load_plan", "parse_import_spec",
           "parse_import_specs"]
