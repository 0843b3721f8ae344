"""The release part of a study specification (YAML): who may receive what, and how it is protected.

A study file (``studies/examples/*.yml``) carries, besides the study's own analysis (issue 8),
the blocks a release is built from::

    study_id: t2d-tw-2026                 # [a-z0-9-], names the release and its key
    title: Type 2 diabetes and metformin, Taiwan
    description: ...
    purpose: ...                          # why the data is processed (catalogue record)
    legal_basis: ...                      # e.g. GDPR Art. 9(2)(j); Finnish Act 552/2019
    publisher: {name: ..., uri: ...}      # optional
    contact: mailto:...                   # optional
    site: taiwan                          # whose hub run the release is built from
    jurisdiction: taiwan                  # disclosure thresholds (releases.disclosure.thresholds)
    permit:
      id: HWDC-2026-0042
      issuer: Health and Welfare Data Science Center
      tables: [person, observation_period, visit_occurrence, condition_occurrence, drug_exposure, death]
      years: [2014, 2017]                 # events outside are removed (observation periods clipped)
      variables:                          # optional, per table: the columns allowed (ids are always kept)
        person: [gender_concept_id, year_of_birth, month_of_birth, location_id]
      population:                         # optional
        age: [18, 120]                    # age at the start of the permit years
        gender_concept_ids: [8507, 8532]
    release:
      key_env: CROSSBRIDGE_STUDY_KEY      # environment variable (or Airflow connection/variable) with the key
      dates: keep | month | shift
      shift_days: 180                     # dates: shift -> per-person shift in [-shift_days, +shift_days]
      k: 5
      quasi_identifiers: [year_of_birth, gender, region, rare_diagnosis]
      max_suppression: 0.05               # share of persons that may be suppressed to reach k
      fhir: true                          # also FHIR R4 NDJSON of the released tables
      csv: true                           # OMOP tables as CSV besides Parquet
    catalogue:                            # optional: the HealthDCAT-AP record (releases/catalogue.py)
      applicable_legislation: [http://data.europa.eu/eli/reg/2025/327/oj]   # ELI IRIs
      health_categories: [...]            # releases.catalogue.HEALTH_CATEGORIES codes
      languages: [ENG]
      countries: [TW]                     # default: the site's country

Nothing here is a secret: the key itself never appears in a spec (``key_env`` names where
it is). :func:`load_spec` refuses unknown keys, so a misspelt filter never silently does
nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATE_MODES = ("keep", "month", "shift")
QUASI_IDENTIFIERS = ("year_of_birth", "gender", "region", "rare_diagnosis")
_STUDY_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")


class StudySpecError(ValueError):
    """The study file is malformed or asks for something the release cannot do."""


@dataclass(frozen=True)
class Population:
    age: tuple[int, int] | None = None
    gender_concept_ids: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Permit:
    id: str
    issuer: str
    tables: tuple[str, ...]
    years: tuple[int, int] | None = None
    variables: dict[str, tuple[str, ...]] = field(default_factory=dict)
    population: Population = Population()


@dataclass(frozen=True)
class ReleaseOptions:
    key_env: str = "CROSSBRIDGE_STUDY_KEY"
    dates: str = "keep"
    shift_days: int = 0
    k: int = 5
    quasi_identifiers: tuple[str, ...] = QUASI_IDENTIFIERS
    max_suppression: float = 0.05
    fhir: bool = True
    csv: bool = True


@dataclass(frozen=True)
class StudySpec:
    study_id: str
    title: str
    site: str
    jurisdiction: str
    permit: Permit
    release: ReleaseOptions
    description: str = ""
    purpose: str = ""
    legal_basis: str = ""
    publisher: dict[str, str] = field(default_factory=dict)
    contact: str = ""
    catalogue: dict[str, tuple[str, ...]] = field(default_factory=dict)
    source: str = ""  # the file it was read from
    extra: dict[str, Any] = field(default_factory=dict)  # the study's analysis blocks (issue 8), kept as given


_TOP = {"study_id", "title", "description", "purpose", "legal_basis", "publisher", "contact", "site", "jurisdiction",
        "permit", "release", "catalogue"}
_CATALOGUE = {"applicable_legislation", "health_categories", "languages", "countries"}
_ANALYSIS = {"cohort", "outcome", "concept_sets", "measures", "strata", "windows", "periods", "disclosure",
             "feasibility", "sites"}  # blocks the study runner reads; not the release's business


def _keys(d: Any, allowed: set[str], where: str) -> dict:
    if not isinstance(d, dict):
        raise StudySpecError(f"{where} must be a mapping, got {type(d).__name__}")
    unknown = sorted(set(d) - allowed)
    if unknown:
        raise StudySpecError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")
    return d


def _year_pair(v: Any, where: str) -> tuple[int, int]:
    if not (isinstance(v, list) and len(v) == 2 and all(isinstance(x, int) for x in v) and v[0] <= v[1]):
        raise StudySpecError(f"{where} must be [first, last] with first <= last, got {v!r}")
    return int(v[0]), int(v[1])


def parse_spec(data: Any, source: str = "") -> StudySpec:
    """A :class:`StudySpec` from parsed YAML (see the module docstring)."""
    d = _keys(data, _TOP | _ANALYSIS, "study")
    for req in ("study_id", "title", "site", "permit"):
        if req not in d:
            raise StudySpecError(f"study: {req} is required")
    study_id = str(d["study_id"])
    if not _STUDY_ID.match(study_id):
        raise StudySpecError(f"study_id {study_id!r} must be 2-63 characters of a-z, 0-9 and '-'")
    p = _keys(d["permit"], {"id", "issuer", "tables", "years", "variables", "population"}, "permit")
    for req in ("id", "issuer", "tables"):
        if req not in p:
            raise StudySpecError(f"permit: {req} is required (a release is always built under a permit)")
    tables = p["tables"]
    if not (isinstance(tables, list) and tables and all(isinstance(t, str) for t in tables)):
        raise StudySpecError("permit.tables must be a non-empty list of OMOP table names")
    if "person" not in tables:
        raise StudySpecError("permit.tables must include person (every released row belongs to a person)")
    variables = {str(t): tuple(str(c) for c in cols)
                 for t, cols in _keys(p.get("variables") or {}, set(tables), "permit.variables").items()}
    pop = _keys(p.get("population") or {}, {"age", "gender_concept_ids"}, "permit.population")
    population = Population(
        age=_year_pair(pop["age"], "permit.population.age") if "age" in pop else None,
        gender_concept_ids=tuple(int(x) for x in pop["gender_concept_ids"]) if "gender_concept_ids" in pop else None)
    permit = Permit(id=str(p["id"]), issuer=str(p["issuer"]), tables=tuple(tables),
                    years=_year_pair(p["years"], "permit.years") if "years" in p else None,
                    variables=variables, population=population)

    r = _keys(d.get("release") or {}, {"key_env", "dates", "shift_days", "k", "quasi_identifiers",
                                       "max_suppression", "fhir", "csv"}, "release")
    opts = ReleaseOptions(**{k: (tuple(v) if k == "quasi_identifiers" else v) for k, v in r.items()})
    if not _ENV_NAME.match(opts.key_env):
        raise StudySpecError(f"release.key_env {opts.key_env!r} must be an environment variable name")
    if opts.dates not in DATE_MODES:
        raise StudySpecError(f"release.dates must be one of {DATE_MODES}, got {opts.dates!r}")
    if opts.dates == "shift" and not (isinstance(opts.shift_days, int) and 1 <= opts.shift_days <= 3650):
        raise StudySpecError("release.shift_days must be 1..3650 when dates: shift")
    if not (isinstance(opts.k, int) and opts.k >= 1):
        raise StudySpecError(f"release.k must be a whole number >= 1, got {opts.k!r}")
    bad = sorted(set(opts.quasi_identifiers) - set(QUASI_IDENTIFIERS))
    if bad:
        raise StudySpecError(f"release.quasi_identifiers: unknown {bad}; known: {list(QUASI_IDENTIFIERS)}")
    if not 0.0 <= float(opts.max_suppression) <= 0.5:
        raise StudySpecError("release.max_suppression must be between 0 and 0.5")
    cat = _keys(d.get("catalogue") or {}, _CATALOGUE, "catalogue")
    catalogue = {k: tuple(str(x) for x in (v if isinstance(v, list) else [v])) for k, v in cat.items()}
    return StudySpec(
        study_id=study_id, catalogue=catalogue, title=str(d["title"]), site=str(d["site"]),
        jurisdiction=str(d.get("jurisdiction") or d["site"]), permit=permit, release=opts,
        description=str(d.get("description") or ""), purpose=str(d.get("purpose") or ""),
        legal_basis=str(d.get("legal_basis") or ""),
        publisher={str(k): str(v) for k, v in (d.get("publisher") or {}).items()},
        contact=str(d.get("contact") or ""), source=source,
        extra={k: v for k, v in d.items() if k in _ANALYSIS})


def load_spec(path: str | Path) -> StudySpec:
    """Read and check a study file."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise StudySpecError(f"study file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise StudySpecError(f"{path}: not valid YAML: {exc}") from exc
    try:
        return parse_spec(data, str(path))
    except StudySpecError as exc:
        raise StudySpecError(f"{path}: {exc}") from None


__all__ = ["DATE_MODES", "Permit", "Population", "QUASI_IDENTIFIERS", "ReleaseOptions", "StudySpec",
           "StudySpecError", "load_spec", "parse_spec"]
