"""Study specifications: one YAML file, one question, run at every site (docs/studies.md).

:func:`parse_study` checks everything that can be checked without data: unknown keys, types,
impossible windows, overlapping or empty-by-design strata, measures that name concept sets
that do not exist.  Every error names the field at fault as a path (``measures[2].window``),
so a consortium can fix the file before any site runs it.  What needs a vocabulary (codes
that match no concept) is checked by :func:`studies.concept_sets.resolve_concept_sets`, and
what needs the site's rules (a threshold below the jurisdiction's minimum) by the runner,
still before any query touches patient data.

Pure: no IO besides :func:`load_study` reading the file, no heavy imports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MEASURE_TYPES = ("count", "prevalence", "incidence", "time_to_event", "drug_utilisation", "feasibility")
STRATA_DIMS = ("period", "age_group", "sex")
SEXES = ("female", "male", "other")  # gender_concept_id 8532, 8507, anything else (incl. 0 / unknown)
CONSENT_MODES = ("required", "any")
MAX_AGE = 150
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_STUDY_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
_SITE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


class StudySpecError(ValueError):
    """A study specification that cannot run; ``field`` is the path of the value at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class ConceptSetSpec:
    name: str
    system: str  # a vocabulary the terminology service knows, 'standard' or 'concept_id'
    codes: tuple[str, ...]
    include_descendants: bool = True


@dataclass(frozen=True)
class CohortSpec:
    """Target cohort: a person's first-ever event of ``entry``, with ``prior_observation_days``
    of observation before it (washout) and age at entry within ``age``."""

    entry: str
    prior_observation_days: int = 365
    age: tuple[int, int] = (0, MAX_AGE)
    name: str = ""


@dataclass(frozen=True)
class MeasureSpec:
    name: str
    type: str
    title: str
    event: str | None = None  # prevalence, incidence, time_to_event: the concept set
    drug: str | None = None  # drug_utilisation
    washout_days: int = 365  # incidence: observation before person-time starts
    window: tuple[int, int] = (0, 365)  # drug_utilisation: days relative to cohort entry
    require_full_window: bool = True
    max_days: int = 1095  # time_to_event: administrative censoring
    interval_days: int = 30  # time_to_event: grid of published times
    exclude_prior: bool = True  # time_to_event: persons with the event before entry leave
    by: tuple[str, ...] = STRATA_DIMS  # strata reported
    condition: str | None = None  # feasibility
    specimen: str | None = None  # feasibility
    consent: str = "required"  # feasibility


@dataclass(frozen=True)
class SiteSpec:
    name: str
    jurisdiction: str
    permit: str
    years: tuple[int, int] | None = None  # the years the permit covers (periods outside are refused)


@dataclass(frozen=True)
class Study:
    study_id: str
    title: str
    description: str
    concept_sets: dict[str, ConceptSetSpec]
    cohort: CohortSpec | None
    periods: tuple[tuple[int, int], ...]
    age_groups: tuple[tuple[int, int], ...]
    by_sex: bool
    measures: tuple[MeasureSpec, ...]
    threshold: int | None
    sites: dict[str, SiteSpec]
    source: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    def measure(self, name: str) -> MeasureSpec:
        for m in self.measures:
            if m.name == name:
                return m
        raise KeyError(name)

    def age_label(self, band: tuple[int, int]) -> str:
        return f"{band[0]}-{band[1]}" if band[1] < MAX_AGE else f"{band[0]}+"

    def period_label(self, period: tuple[int, int]) -> str:
        return str(period[0]) if period[0] == period[1] else f"{period[0]}-{period[1]}"

    @property
    def years(self) -> tuple[int, int]:
        return self.periods[0][0], self.periods[-1][1]


# ---- field checks (each names its path) --------------------------------------------------------------------
def _mapping(value: Any, where: str, allowed: set[str], required: set[str] = frozenset()) -> dict:
    if not isinstance(value, dict):
        raise StudySpecError(where or "study", f"must be a mapping, got {type(value).__name__}")
    unknown = sorted(str(k) for k in value if k not in allowed)
    if unknown:
        raise StudySpecError(_join(where, unknown[0]), f"unknown key (allowed: {', '.join(sorted(allowed))})")
    missing = sorted(required - set(value))
    if missing:
        raise StudySpecError(_join(where, missing[0]), "is required")
    return value


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _int(value: Any, where: str, lo: int | None = None, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise StudySpecError(where, f"must be an integer, got {value!r}")
    if lo is not None and value < lo:
        raise StudySpecError(where, f"must be >= {lo}, got {value}")
    if hi is not None and value > hi:
        raise StudySpecError(where, f"must be <= {hi}, got {value}")
    return value


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise StudySpecError(where, f"must be true or false, got {value!r}")
    return value


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise StudySpecError(where, f"must be a non-empty text, got {value!r}")
    return value.strip()


def _name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise StudySpecError(where, f"must be a name of lower-case letters, digits and _ (got {value!r})")
    return value


def _pair(value: Any, where: str, lo: int, hi: int, what: str) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value, value]
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise StudySpecError(where, f"must be a pair [first, last] of {what}, got {value!r}")
    a, b = _int(value[0], f"{where}[0]", lo, hi), _int(value[1], f"{where}[1]", lo, hi)
    if a > b:
        raise StudySpecError(where, f"impossible {what} range [{a}, {b}]: first is after last")
    return a, b


def _bands(values: Any, where: str, lo: int, hi: int, what: str) -> tuple[tuple[int, int], ...]:
    if not isinstance(values, list) or not values:
        raise StudySpecError(where, f"must be a non-empty list of [first, last] {what}")
    bands = [_pair(v, f"{where}[{i}]", lo, hi, what) for i, v in enumerate(values)]
    order = sorted(range(len(bands)), key=lambda i: bands[i])
    for i, j in zip(order, order[1:]):
        if bands[j][0] <= bands[i][1]:
            raise StudySpecError(f"{where}[{j}]", f"{list(bands[j])} overlaps {where}[{i}] {list(bands[i])}: "
                                 "a person would be counted twice")
    return tuple(bands[i] for i in order)


# ---- blocks --------------------------------------------------------------------------------------------------
def _concept_set(name: str, d: Any, where: str) -> ConceptSetSpec:
    d = _mapping(d, where, {"system", "codes", "include_descendants", "description"}, {"system", "codes"})
    codes = d["codes"]
    if isinstance(codes, (str, int)) and not isinstance(codes, bool):
        codes = [codes]
    if not isinstance(codes, list) or not codes:
        raise StudySpecError(f"{where}.codes", "must be a non-empty list of codes or LIKE patterns")
    out = []
    for i, c in enumerate(codes):
        if isinstance(c, bool) or not isinstance(c, (str, int)) or not str(c).strip():
            raise StudySpecError(f"{where}.codes[{i}]", f"must be a code, got {c!r}")
        out.append(str(c).strip())
    return ConceptSetSpec(name, _text(d["system"], f"{where}.system"), tuple(out),
                          _bool(d.get("include_descendants", True), f"{where}.include_descendants"))


def _set_ref(value: Any, where: str, sets: dict[str, ConceptSetSpec]) -> str:
    if value not in sets:
        known = ", ".join(sorted(sets)) or "none"
        raise StudySpecError(where, f"names no concept set ({value!r}; concept_sets: {known})")
    return value


def _by(value: Any, where: str, declared: tuple[str, ...]) -> tuple[str, ...]:
    if not isinstance(value, list) or any(v not in STRATA_DIMS for v in value) or len(set(value)) != len(value):
        raise StudySpecError(where, f"must be a list of distinct strata among {', '.join(STRATA_DIMS)}, got {value!r}")
    absent = [v for v in value if v not in declared]
    if absent:
        raise StudySpecError(where, f"stratum {absent[0]!r} is not declared (strata give: {', '.join(declared)})")
    return tuple(v for v in STRATA_DIMS if v in value)


_MEASURE_KEYS = {
    "count": set(),
    "prevalence": {"event"},
    "incidence": {"event", "washout_days"},
    "time_to_event": {"event", "max_days", "interval_days", "exclude_prior"},
    "drug_utilisation": {"drug", "window", "require_full_window"},
    "feasibility": {"condition", "specimen", "consent"},
}
_NEEDS_COHORT = {"count", "time_to_event", "drug_utilisation"}


def _measure(d: Any, where: str, sets: dict[str, ConceptSetSpec], cohort: CohortSpec | None,
             declared: tuple[str, ...]) -> MeasureSpec:
    d = _mapping(d, where, {"name", "type", "title", "by", *set().union(*_MEASURE_KEYS.values())}, {"name", "type"})
    kind = d["type"]
    if kind not in MEASURE_TYPES:
        raise StudySpecError(f"{where}.type", f"unknown measure {kind!r} (known: {', '.join(MEASURE_TYPES)})")
    extra = sorted(set(d) - {"name", "type", "title", "by"} - _MEASURE_KEYS[kind])
    if extra:
        raise StudySpecError(f"{where}.{extra[0]}", f"does not apply to a {kind} measure")
    if kind in _NEEDS_COHORT and cohort is None:
        raise StudySpecError(f"{where}.type", f"a {kind} measure is computed on the target cohort: add a cohort block")
    name = _name(d["name"], f"{where}.name")
    args: dict[str, Any] = {"name": name, "type": kind, "title": str(d.get("title") or name.replace("_", " "))}
    default_by = declared if kind != "time_to_event" else tuple(s for s in declared if s != "period")
    if kind == "feasibility":
        default_by = ()
    args["by"] = _by(d["by"], f"{where}.by", declared) if "by" in d else default_by
    if kind in ("prevalence", "incidence", "time_to_event"):
        if "event" not in d:
            raise StudySpecError(f"{where}.event", "is required (a concept set)")
        args["event"] = _set_ref(d["event"], f"{where}.event", sets)
    if kind == "incidence":
        args["washout_days"] = _int(d.get("washout_days", 365), f"{where}.washout_days", 0, 36525)
    if kind == "feasibility" and "period" in args["by"]:
        raise StudySpecError(f"{where}.by", "a feasibility count is not split by calendar period (it counts "
                             "persons over all the data; age is taken at the start of the first period)")
    if kind == "time_to_event":
        if "period" in args["by"]:
            raise StudySpecError(f"{where}.by", "time to event is not split by calendar period (follow-up crosses "
                                 "periods); entry periods are set by the cohort")
        max_days = _int(d.get("max_days", 1095), f"{where}.max_days", 1, 36525)
        interval = _int(d.get("interval_days", 30), f"{where}.interval_days", 1)
        if interval > max_days:
            raise StudySpecError(f"{where}.interval_days", f"impossible window: interval {interval} days is longer "
                                 f"than the follow-up max_days {max_days}")
        args.update(max_days=max_days, interval_days=interval,
                    exclude_prior=_bool(d.get("exclude_prior", True), f"{where}.exclude_prior"))
    if kind == "drug_utilisation":
        if "drug" not in d:
            raise StudySpecError(f"{where}.drug", "is required (a concept set)")
        args["drug"] = _set_ref(d["drug"], f"{where}.drug", sets)
        args["window"] = _pair(d.get("window", [0, 365]), f"{where}.window", -36525, 36525, "days")
        args["require_full_window"] = _bool(d.get("require_full_window", True), f"{where}.require_full_window")
    if kind == "feasibility":
        for key in ("condition", "specimen"):
            if key in d:
                args[key] = _set_ref(d[key], f"{where}.{key}", sets)
        if "condition" not in args and "specimen" not in args:
            raise StudySpecError(f"{where}.condition", "a feasibility count needs a condition, a specimen or both")
        consent = d.get("consent", "required")
        if consent not in CONSENT_MODES:
            raise StudySpecError(f"{where}.consent", f"must be one of {', '.join(CONSENT_MODES)}, got {consent!r}")
        args["consent"] = consent
    return MeasureSpec(**args)


def _site(name: str, d: Any, where: str) -> SiteSpec:
    if not _SITE.match(str(name)):
        raise StudySpecError(where, f"site name must be lower-case letters, digits, - or _ (got {name!r})")
    d = _mapping(d, where, {"jurisdiction", "permit", "years"}, {"permit"})
    years = _pair(d["years"], f"{where}.years", 1800, 2200, "years") if "years" in d else None
    return SiteSpec(name, _text(d.get("jurisdiction", name), f"{where}.jurisdiction"),
                    _text(d["permit"], f"{where}.permit"), years)


_TOP = {"study_id", "title", "description", "concept_sets", "cohort", "periods", "strata", "measures",
        "disclosure", "sites"}


def parse_study(data: Any, source: str = "") -> Study:
    """Check a study specification (the YAML's data) and return it; StudySpecError names the field at fault."""
    d = _mapping(data, "", _TOP, {"study_id", "title", "concept_sets", "periods", "measures", "sites"})
    study_id = d["study_id"]
    if not isinstance(study_id, str) or not _STUDY_ID.match(study_id):
        raise StudySpecError("study_id", f"must be 2-63 characters of a-z, 0-9 and - (got {study_id!r})")
    if not isinstance(d["concept_sets"], dict) or not d["concept_sets"]:
        raise StudySpecError("concept_sets", "must map names to concept sets (at least one)")
    sets = {_name(k, f"concept_sets.{k}"): _concept_set(k, v, f"concept_sets.{k}")
            for k, v in d["concept_sets"].items()}

    periods = _bands(d["periods"], "periods", 1800, 2200, "years")
    strata = _mapping(d.get("strata", {}), "strata", {"age", "sex"})
    age_groups = _bands(strata["age"], "strata.age", 0, MAX_AGE, "ages") if "age" in strata else ((0, MAX_AGE),)
    by_sex = _bool(strata.get("sex", False), "strata.sex")
    declared = ("period",) + (("age_group",) if "age" in strata else ()) + (("sex",) if by_sex else ())

    cohort = None
    if "cohort" in d:
        c = _mapping(d["cohort"], "cohort", {"entry", "prior_observation_days", "age", "name"}, {"entry"})
        cohort = CohortSpec(_set_ref(c["entry"], "cohort.entry", sets),
                            _int(c.get("prior_observation_days", 365), "cohort.prior_observation_days", 0, 36525),
                            _pair(c.get("age", [0, MAX_AGE]), "cohort.age", 0, MAX_AGE, "ages"),
                            str(c.get("name") or c["entry"]))
        lo, hi = cohort.age
        for i, raw in enumerate(strata.get("age", [])):
            band = _pair(raw, f"strata.age[{i}]", 0, MAX_AGE, "ages")
            if band[1] < lo or band[0] > hi:
                raise StudySpecError(f"strata.age[{i}]", f"stratum {list(band)} lies outside cohort.age [{lo}, {hi}]: "
                                     "it is empty by design (every cell would be 0 or suppressed)")

    if not isinstance(d["measures"], list) or not d["measures"]:
        raise StudySpecError("measures", "must be a non-empty list")
    measures = tuple(_measure(m, f"measures[{i}]", sets, cohort, declared) for i, m in enumerate(d["measures"]))
    seen: set[str] = set()
    for i, m in enumerate(measures):
        if m.name in seen:
            raise StudySpecError(f"measures[{i}].name", f"{m.name!r} is used twice (names name the result files)")
        seen.add(m.name)

    disclosure = _mapping(d.get("disclosure", {}), "disclosure", {"threshold"})
    threshold = _int(disclosure["threshold"], "disclosure.threshold", 1) if "threshold" in disclosure else None

    if not isinstance(d["sites"], dict) or not d["sites"]:
        raise StudySpecError("sites", "must map each site that runs the study to its permit")
    sites = {str(k): _site(k, v, f"sites.{k}") for k, v in d["sites"].items()}
    for site in sites.values():
        if site.years is None:
            continue
        for i, (a, b) in enumerate(periods):
            if a < site.years[0] or b > site.years[1]:
                raise StudySpecError(f"periods[{i}]", f"[{a}, {b}] lies outside the years sites.{site.name}.years "
                                     f"{list(site.years)} permits: that stratum is empty by design")
    return Study(study_id, _text(d["title"], "title"), str(d.get("description") or "").strip(), sets, cohort,
                 periods, age_groups, by_sex, measures, threshold, sites, source, dict(d))


def load_study(path: str | Path) -> Study:
    """Read and check a study file (YAML)."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StudySpecError("spec", f"no study file at {path}") from None
    except yaml.YAMLError as exc:
        raise StudySpecError("spec", f"{path} is not valid YAML: {exc}") from None
    return parse_study(data, str(path))


__all__ = [
    "CohortSpec", "ConceptSetSpec", "MEASURE_TYPES", "MeasureSpec", "SEXES", "STRATA_DIMS", "SiteSpec", "Study",
    "StudySpecError", "load_study", "parse_study",
]
