"""Run a study at a site and package its aggregates: checks, SQL measures, disclosure control, manifest.

``run_study`` is what ``crossbridge study run`` and the ``cross_border_study`` DAG call
(docs/studies.md).  Order matters: everything that can reject the specification (the file,
the site's permit and threshold, the concept sets in the site's vocabulary) runs before the
first query on patient tables; the package is written into a temporary folder next to
``out`` and renamed when complete, so a failed run leaves nothing that looks like results.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from studies.spec import MeasureSpec, Study, StudySpecError, load_study

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

RESULT_COLUMNS = {
    "count": ("persons",), "feasibility": ("persons",),
    "prevalence": ("cases", "persons", "proportion", "lower", "upper"),
    "drug_utilisation": ("users", "persons", "proportion", "lower", "upper"),
    "incidence": ("events", "person_years", "rate", "lower", "upper"),
    "time_to_event": ("time", "at_risk", "survival", "lower", "upper"),
}

COUNT_RESULT_COLUMNS = frozenset({"persons", "cases", "users", "events", "at_risk", "time"})


class StudyRunError(RuntimeError):
    """The study cannot run here (output folder in the way, site not in the specification...)."""


@dataclass(frozen=True)
class StudyRun:
    out: Path
    study: Study
    site: str
    threshold: int
    summary: dict[str, Any]


def choose_site(study: Study, site: str | None) -> str:
    """The site running ``study``: ``site`` if given, else the only one in ``sites``."""
    if site is not None:
        if site not in study.sites:
            raise StudySpecError("sites", f"the study names no site {site!r} (sites: {', '.join(study.sites)})")
        return site
    if len(study.sites) == 1:
        return next(iter(study.sites))
    raise StudyRunError(f"the study has sites {', '.join(study.sites)}: say which one this is (--site)")


def site_threshold(study: Study, site: str) -> int:
    """The larger of the study's threshold and the site jurisdiction's minimum; refuses a lower study value."""
    from releases.disclosure.errors import UnknownJurisdiction
    from releases.disclosure.thresholds import threshold_for

    spec = study.sites[site]
    try:
        minimum = threshold_for(spec.jurisdiction)
    except UnknownJurisdiction as exc:
        raise StudySpecError(f"sites.{site}.jurisdiction", str(exc)) from None
    if study.threshold is not None and study.threshold < minimum:
        raise StudySpecError("disclosure.threshold", f"{study.threshold} is below the minimum {minimum} of "
                             f"jurisdiction {spec.jurisdiction!r} (site {site}): cells that small may not leave")
    return max(study.threshold or minimum, minimum)


# ---- disclosure control per measure ----------------------------------------------------------------------------
def _suppress(frame: pd.DataFrame, dims: list[str], col: str, threshold: int) -> pd.DataFrame:
    """Counts with complementary suppression and margins; a table without strata: primary only."""
    import pandas as pd

    from releases.disclosure import suppress_table

    if not dims:
        value = int(frame[col].sum())
        return pd.DataFrame({col: pd.array([pd.NA if 0 < value < threshold else value], dtype="Int64")})
    res = suppress_table(frame[dims + [col]], dims, col, threshold)
    return res.table.drop(columns=[res.flag_col]).astype({d: "string" for d in dims})


def _two_way(frame: pd.DataFrame, dims: list[str], yes: str, total: str, threshold: int) -> pd.DataFrame:
    """``yes`` of ``total`` protected together: suppress the table of with/without, publish yes and total."""
    import pandas as pd

    from studies.results import MARGIN

    long = pd.concat([frame[dims].assign(status="yes", n=frame[yes]),
                      frame[dims].assign(status="no", n=frame[total] - frame[yes])], ignore_index=True)
    pub = _suppress(long, dims + ["status"], "n", threshold)
    wide = pub.pivot(index=dims, columns="status", values="n") if dims else None
    if wide is None:  # only the status dimension
        pub = pub.set_index("status")["n"]
        return pd.DataFrame({yes: pd.array([pub["yes"]], dtype="Int64"),
                             total: pd.array([pub[MARGIN]], dtype="Int64")})
    wide = wide.reset_index()
    return wide[dims].assign(**{yes: wide["yes"].astype("Int64"), total: wide[MARGIN].astype("Int64")})


def publish_measure(study: Study, m: MeasureSpec, raw: pd.DataFrame, threshold: int) -> pd.DataFrame:
    """The published table of one measure (counts suppressed, estimates where their counts are published),
    rows in declared stratum order with the ``(all)`` margins after each stratum's labels."""
    from studies.results import MARGIN, order_rows, strata_labels

    dims = list(m.by)
    labels = strata_labels(study, m, raw)
    table = _published(study, m, raw, threshold)
    if m.type == "prevalence" and "period" in dims:
        # persons are counted once per period they are observed in: a sum over periods is no prevalence
        table = table[table["period"] != MARGIN]
    for dim in dims:  # the margin of a stratum with one label repeats its rows
        if len(labels[dim]) == 1:
            table = table[table[dim] != MARGIN]
    return order_rows(table, dims, labels, then=["time"] if m.type == "time_to_event" else ())


def _published(study: Study, m: MeasureSpec, raw: pd.DataFrame, threshold: int) -> pd.DataFrame:
    from studies.results import (PERSON_DAYS_PER_YEAR, complete_grid, estimate_columns, km_grid, strata_labels,
                                 sum_margins)

    dims = list(m.by)
    if m.type in ("count", "feasibility"):
        return _suppress(complete_grid(raw, study, m, ["persons"]), dims, "persons", threshold)
    if m.type in ("prevalence", "drug_utilisation"):
        yes = "cases" if m.type == "prevalence" else "users"
        table = _two_way(complete_grid(raw, study, m, [yes, "persons"]), dims, yes, "persons", threshold)
        return estimate_columns(table, "proportion", yes, "persons")
    if m.type == "incidence":
        grid = complete_grid(raw, study, m, ["events", "person_days"])
        table = _suppress(grid, dims, "events", threshold)
        days = sum_margins(grid, dims, ["person_days"]) if dims else grid[["person_days"]]
        table = table.merge(days.astype({d: "string" for d in dims}), on=dims, how="left") if dims else \
            table.assign(person_days=days["person_days"].to_numpy())
        table["person_years"] = (table.pop("person_days") / PERSON_DAYS_PER_YEAR).round(2)
        return estimate_columns(table, "rate", "events", "person_years")
    if m.type == "time_to_event":
        labels = strata_labels(study, m, raw)
        curve = km_grid(raw, dims, m.max_days, m.interval_days, labels)
        return _protect_curve(curve, dims, threshold)
    raise ValueError(f"unknown measure type {m.type!r}")


def _protect_curve(curve: pd.DataFrame, dims: list[str], threshold: int) -> pd.DataFrame:
    """Numbers at risk suppressed per grid time across strata (margins included); estimates published only
    while the stratum's number at risk is published, and never again after the first time it is not."""
    import numpy as np
    import pandas as pd

    from studies.results import MARGIN

    curve = curve.copy()
    if dims:
        inner = ~curve[dims].eq(MARGIN).any(axis=1)
        published = []
        for t, part in curve[inner].groupby("time", sort=True):  # one small table per grid time
            pub = _suppress(part[dims + ["at_risk"]].reset_index(drop=True), dims, "at_risk", threshold)
            published.append(pub.assign(time=t))
        pub = pd.concat(published, ignore_index=True).rename(columns={"at_risk": "at_risk_pub"})
        curve = curve.merge(pub, on=dims + ["time"], how="left")
        ok = curve["at_risk_pub"].notna() & (curve["at_risk"] >= threshold)
        curve = curve.drop(columns="at_risk_pub")
    else:
        ok = curve["at_risk"] >= threshold
    curve["_ok"] = ok.to_numpy()
    # cut at the first unpublished time: cumulative minimum of ok within each stratum, in time order
    curve = curve.sort_values([*dims, "time"], kind="stable")
    if dims:
        curve["_ok"] = curve.groupby(dims, sort=False)["_ok"].cummin()
    else:
        curve["_ok"] = curve["_ok"].cummin()
    bad = ~curve["_ok"].to_numpy(dtype=bool)
    curve["at_risk"] = pd.array(np.where(bad, 0, curve["at_risk"]), dtype="Int64")
    curve.loc[bad, "at_risk"] = pd.NA
    curve.loc[bad, ["survival", "lower", "upper"]] = np.nan
    return curve.drop(columns="_ok").reset_index(drop=True)


def _publish_coverage(cov: dict[str, dict], threshold: int) -> dict[str, dict]:
    def cell(n: int) -> int | None:
        return None if 0 < n < threshold else n

    return {name: {"tables": c["tables"], "records": cell(c["records"]),
                   "by_source_vocabulary": {k: cell(v) for k, v in c["by_source_vocabulary"].items()},
                   "missed": {k: cell(v) for k, v in c["missed"].items()}} for name, c in cov.items()}


# ---- the run --------------------------------------------------------------------------------------------------
def _cdm_source(db) -> dict[str, Any]:
    if not db.has("cdm_source"):
        return {"name": db.label, "vocabulary_version": None}
    frame = db.query(f"SELECT cdm_source_name, cdm_source_abbreviation, vocabulary_version, cdm_version "
                     f"FROM {db.table('cdm_source')}")
    if frame.empty:
        return {"name": db.label, "vocabulary_version": None}
    row = frame.iloc[0]
    return {"name": str(row["cdm_source_name"]), "abbreviation": str(row["cdm_source_abbreviation"]),
            "vocabulary_version": None if row["vocabulary_version"] is None else str(row["vocabulary_version"]),
            "cdm_version": None if row["cdm_version"] is None else str(row["cdm_version"])}


def _vocabulary_versions(db, vocabularies: set[str]) -> dict[str, str]:
    if not vocabularies or not db.has("vocabulary", vocabulary=True):
        return {}
    names = ", ".join("'" + v.replace("'", "''") + "'" for v in sorted(vocabularies))
    frame = db.query(f"SELECT vocabulary_id, vocabulary_version FROM {db.vocab_table('vocabulary')} "
                     f"WHERE vocabulary_id IN ({names})")
    return {str(r.vocabulary_id): str(r.vocabulary_version or "") for r in frame.itertuples()}


def _prepare_out(out: Path) -> Path:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise StudyRunError(f"{out} exists and is not an empty folder: results are never overwritten")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "results").mkdir(parents=True)
    return tmp


def check_study(spec: str | Path, omop: str | None = None, site: str | None = None) -> dict[str, Any]:
    """Everything ``run_study`` checks before touching patient tables; returns what was resolved."""
    study = load_study(spec)
    name = choose_site(study, site)
    threshold = site_threshold(study, name)
    result: dict[str, Any] = {"study_id": study.study_id, "site": name, "threshold": threshold,
                              "measures": [m.name for m in study.measures]}
    if omop is not None:
        from studies.concept_sets import resolve_concept_sets
        from studies.database import open_study_database

        with open_study_database(omop) as db:
            resolved = resolve_concept_sets(db, study, name)
        result["concept_sets"] = {n: {"standard_concepts": len(r.standard),
                                      "site_codes": {v: len(c) for v, c in r.site_codes.items()}}
                                  for n, r in resolved.items()}
    return result


def run_study(spec: str | Path, omop: str, out: str | Path, *, site: str | None = None,
              progress: Callable[[str], None] | None = None) -> StudyRun:
    """Run ``spec`` on ``omop`` and write the package to ``out`` (see the module docstring)."""
    from crossbridge.pipeline.common import code_version
    from releases.manifest import build_manifest, write_manifest
    from studies.concept_sets import coverage, resolve_concept_sets
    from studies.database import open_study_database
    from studies.measures import compute_measures

    say = progress or (lambda _msg: None)
    t0 = time.perf_counter()
    spec_path = Path(spec)
    study = load_study(spec_path)
    name = choose_site(study, site)
    threshold = site_threshold(study, name)
    out = Path(out)
    tmp = _prepare_out(out)
    timings: dict[str, float] = {}
    try:
        with open_study_database(omop) as db:
            say(f"resolving {len(study.concept_sets)} concept sets in the vocabulary of {db.label}")
            resolved = resolve_concept_sets(db, study, name)
            timings["concept_sets_s"] = round(time.perf_counter() - t0, 3)
            t1 = time.perf_counter()
            raw = compute_measures(db, study, {n: r.concept_ids for n, r in resolved.items()},
                                   domains={n: r.domains for n, r in resolved.items()},
                                   progress=lambda m, i, n: say(f"measure {i + 1}/{n}: {m}"))
            timings["measures_s"] = round(time.perf_counter() - t1, 3)
            cov = coverage(db, resolved)
            cdm = _cdm_source(db)
            vocabs = {s["vocabulary_id"] for r in resolved.values() for s in r.standard}
            vocabs |= {v for r in resolved.values() for v in r.site_codes}
            vocabulary_versions = _vocabulary_versions(db, vocabs)
        t2 = time.perf_counter()
        index = []
        for m in study.measures:
            say(f"disclosure control: {m.name}")
            table = publish_measure(study, m, raw[m.name], threshold)
            cols = list(m.by) + list(RESULT_COLUMNS[m.type])
            table = table[cols].astype({c: "Int64" for c in cols if c in COUNT_RESULT_COLUMNS})
            path = tmp / "results" / f"{m.name}.csv"
            table.to_csv(path, index=False, float_format="%.10g")
            index.append({"name": m.name, "type": m.type, "title": m.title, "file": f"results/{m.name}.csv",
                          "by": list(m.by), "columns": cols, "rows": len(table)})
        timings["disclosure_s"] = round(time.perf_counter() - t2, 3)
        published_cov = _publish_coverage(cov, threshold)
        sets_doc = {n: {**r.to_dict(), "coverage": published_cov[n]} for n, r in resolved.items()}
        (tmp / "concept_sets.json").write_text(json.dumps(sets_doc, indent=2, ensure_ascii=False) + "\n",
                                               encoding="utf-8")
        spec_bytes = spec_path.read_bytes()
        (tmp / "spec.yml").write_bytes(spec_bytes)
        created = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
        site_spec = study.sites[name]
        summary = {
            "study_id": study.study_id, "title": study.title, "site": name, "permit": site_spec.permit,
            "jurisdiction": site_spec.jurisdiction, "threshold": threshold,
            "spec_sha256": hashlib.sha256(spec_bytes).hexdigest(), "created": created, "cdm_source": cdm,
            "omop": db.label, "cohort": {"name": study.cohort.name} if study.cohort else None,
            "measures": index, "timings": {**timings, "total_s": round(time.perf_counter() - t0, 3)},
        }
        (tmp / "study.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        meta = {"release_id": f"{study.study_id}-{name}-{created[:10]}", "study_id": study.study_id,
                "permit_id": site_spec.permit, "created": created, "code_version": code_version(),
                "vocabulary_versions": vocabulary_versions, "source_runs": [], "kind": "study-aggregates",
                "site": name}
        write_manifest(tmp, build_manifest(tmp, meta))
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    say(f"study {study.study_id} at {name}: package in {out}")
    return StudyRun(out, study, name, threshold, summary)


def feasibility_count(omop: str, *, condition: tuple[str, list[str]] | None = None,
                      specimen: tuple[str, list[str]] | None = None, consent: str = "required",
                      jurisdiction: str = "ohdsi", threshold: int | None = None, year: int | None = None,
                      by_sex: bool = False) -> dict[str, Any]:
    """A planning count without a study file: consented persons with ``condition`` (system, codes) and a
    biobank sample of ``specimen`` (system, codes), suppressed under the jurisdiction's threshold."""
    from studies.concept_sets import resolve_concept_sets
    from studies.database import open_study_database
    from studies.measures import compute_measures
    from studies.spec import parse_study

    sets, measure = {}, {"name": "feasibility", "type": "feasibility", "consent": consent}
    for key, value in (("condition", condition), ("specimen", specimen)):
        if value is not None:
            system, codes = value
            sets[key] = {"system": system, "codes": list(codes),
                         "include_descendants": key == "condition"}
            measure[key] = key
    if by_sex:
        measure["by"] = ["sex"]
    y = year or datetime.now(timezone.utc).year
    data = {"study_id": "feasibility", "title": "Feasibility count", "concept_sets": sets, "periods": [[y, y]],
            "strata": {"sex": True} if by_sex else {}, "measures": [measure],
            "sites": {"here": {"jurisdiction": jurisdiction, "permit": "planning"}}}
    if threshold is not None:
        data["disclosure"] = {"threshold": threshold}
    study = parse_study(data, "feasibility query")
    limit = site_threshold(study, "here")
    with open_study_database(omop) as db:
        try:
            resolved = resolve_concept_sets(db, study, None)
        except StudySpecError as exc:  # name the option, not a study file's field
            option = "--" + exc.field.split(".")[1]
            raise StudySpecError(option, str(exc).split(": ", 1)[1]) from None
        raw = compute_measures(db, study, {n: r.concept_ids for n, r in resolved.items()},
                               domains={n: r.domains for n, r in resolved.items()})
        label = db.label
    table = publish_measure(study, study.measures[0], raw["feasibility"], limit)
    rows = [{k: (None if v is None else int(v) if k == "persons" else str(v)) for k, v in r.items()}
            for r in table.astype(object).where(table.notna(), None).to_dict("records")]
    return {"omop": label, "threshold": limit, "consent": consent,
            "concept_sets": {n: {"standard_concepts": len(r.standard)} for n, r in resolved.items()},
            "rows": rows}


def check_task(spec: str, settings, *, site: str | None = None, omop: str | None = None) -> dict[str, Any]:
    """The DAG's check step: :func:`check_study` on ``omop`` (default: the chosen site's warehouse)."""
    name = choose_site(load_study(spec), site)
    return check_study(spec, omop or settings.warehouse_url(name), name)


def study_task(spec: str, settings, *, site: str | None = None, omop: str | None = None,
               out: str | None = None, tag: str = "") -> dict[str, Any]:
    """The DAG's run step: ``spec`` at ``site`` (default: the study's only site) on ``omop`` (default: the
    site's warehouse), into ``out`` (default ``<workdir>/studies/<study_id>/<site>-<tag>``); a retry of the
    same tag reuses a complete package instead of failing on the existing folder."""
    study = load_study(spec)
    name = choose_site(study, site)
    target = Path(out) if out else settings.workdir / "studies" / study.study_id / f"{name}-{tag or 'manual'}"
    if (target / "manifest.json").is_file():
        return {"dir": str(target), "reused": True}
    run = run_study(spec, omop or settings.warehouse_url(name), target, site=name)
    return {"dir": str(run.out), "reused": False, "threshold": run.threshold}


def compare_studies(folders: list[Path], out: Path) -> Path:
    """Verify each package's manifest, then write the side-by-side report (studies.compare)."""
    from connectors.stores import open_store
    from releases.verify import verify_release
    from studies.compare import CompareError, write_comparison

    for folder in folders:
        report = verify_release(open_store(str(Path(folder).resolve())))
        if not report.ok:
            raise CompareError(f"{folder}: the package does not match its manifest ({report.status}): "
                               f"{report.message}")
    return write_comparison([Path(f) for f in folders], Path(out))


__all__ = [
    "RESULT_COLUMNS", "StudyRun", "StudyRunError", "check_study", "check_task", "choose_site", "compare_studies",
    "feasibility_count", "publish_measure", "run_study", "site_threshold", "study_task",
]
