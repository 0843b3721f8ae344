"""The run summary: counts per file and table, reconciliation, coverage, quality outcome.

Counts are taken from the files each stage wrote (staging tables, quarantine,
merged, the work database), not from the stages' own claims, so that the
reconciliation is an independent check:

    for every source file:   rows_in = rows_quarantined + rows_merged + rows_staged
    for every staged table:  rows_staged = rows that contributed to >= 1 OMOP row

An HL7 v2 feed (:mod:`crossbridge.pipeline.hl7v2`) adds a hop before staging: its
landing files hold messages, each mapped to FHIR resources or quarantined, and the
FHIR files made from them are what is staged:

    for every HL7 v2 file:   messages_in = messages quarantined (read back) + messages mapped
    for every derived file:  resources in = quarantined + merged + staged (as above)

``rows_in`` then counts messages, ``rows_in_derived`` the derived files' resources.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from crossbridge.ledger import Run, utc_now, write_json_atomic
from crossbridge.settings import Settings


def _group_counts(con: duckdb.DuckDBPyConnection, folder: Path, keys: str) -> list[tuple]:
    files = list(folder.rglob("*.parquet")) if folder.is_dir() else []
    if not files:
        return []
    return con.execute(
        f"SELECT {keys}, count(*) FROM read_parquet('{folder}/**/*.parquet', union_by_name=true) "
        f"GROUP BY ALL ORDER BY ALL"
    ).fetchall()


def staged_accounting(staging: Path) -> dict[str, Any]:
    """Per source file: quarantined by reason, merged by reason, staged (in tables/)."""
    con = duckdb.connect()
    try:
        quarantined = _group_counts(con, staging / "quarantine", "source_file, reason")
        merged = _group_counts(con, staging / "merged", "source_file, reason")
        staged = _group_counts(con, staging / "tables", "_source_file")
    finally:
        con.close()
    files: dict[str, dict[str, Any]] = {}

    def entry(name: str) -> dict[str, Any]:
        return files.setdefault(name, {"quarantined": {}, "merged": {}, "staged": 0})

    for name, reason, n in quarantined:
        entry(name)["quarantined"][reason] = n
    for name, reason, n in merged:
        entry(name)["merged"][reason] = n
    for name, n in staged:
        entry(name)["staged"] = n
    return files


UNKNOWN_VOCABULARY = "(unknown code system)"


def coverage(work_db: Path, top: int = 10) -> dict[str, Any]:
    """Share of records and of distinct codes mapped to a standard concept, per source vocabulary.

    Codes of a system no vocabulary is known for (an inbound feed's) count under
    :data:`UNKNOWN_VOCABULARY`: all of them unmapped, none dropped.
    """
    con = duckdb.connect(str(work_db), read_only=True)
    try:
        con.execute(f"""CREATE TEMP VIEW usage AS SELECT coalesce(vocabulary_id, '{UNKNOWN_VOCABULARY}') AS vocabulary_id,
                        * EXCLUDE (vocabulary_id) FROM code_usage""")
        rows = con.execute(
            """
            SELECT vocabulary_id,
                   sum(n_records) AS records,
                   sum(n_records) FILTER (WHERE target_concept_id <> 0) AS records_mapped,
                   count(DISTINCT source_code) AS codes,
                   count(DISTINCT source_code) FILTER (WHERE target_concept_id <> 0) AS codes_mapped
            FROM usage GROUP BY vocabulary_id ORDER BY vocabulary_id
            """
        ).fetchall()
        unmapped = con.execute(
            """
            SELECT vocabulary_id, source_code, sum(n_records) AS n
            FROM usage WHERE target_concept_id = 0
            GROUP BY ALL ORDER BY vocabulary_id, n DESC, source_code
            """
        ).fetchall()
    finally:
        con.close()
    out: dict[str, Any] = {}
    for vocab, records, rmapped, codes, cmapped in rows:
        rmapped = rmapped or 0
        cmapped = cmapped or 0
        out[vocab] = {
            "records": int(records),
            "records_mapped": int(rmapped),
            "record_share": round(rmapped / records, 4) if records else None,
            "codes": int(codes),
            "codes_mapped": int(cmapped),
            "code_share": round(cmapped / codes, 4) if codes else None,
            "top_unmapped": [],
        }
    for vocab, code, n in unmapped:
        lst = out[vocab]["top_unmapped"]
        if len(lst) < top:
            lst.append({"code": code, "records": int(n)})
    return out


def summarise(run: Run, settings: Settings, site: str) -> dict[str, Any]:
    with run.stage("summarise") as report:
        extract = run.stage_report("extract")
        stage = run.stage_report("stage")
        mapped = run.stage_report("map")
        loaded = run.stage_report("load")
        read_files: dict[str, dict[str, Any]] = {f["source_file"]: f for f in stage["read"]["files"]}
        acct = staged_accounting(run.path("staging"))
        messages = stage["read"].get("messages")  # HL7 v2: landing files of messages, staged as FHIR files

        rows_in: dict[str, int] = {}
        rows_quarantined: dict[str, dict[str, int]] = {}
        problems: list[str] = []
        msg_files = messages["files"] if messages is not None else {}
        for name, f in sorted(msg_files.items()):
            rows_in[name] = int(f["messages_in"])
            q = {k: int(v) for k, v in sorted(acct.get(name, {"quarantined": {}})["quarantined"].items())}
            if q:
                rows_quarantined[name] = q
            if sum(q.values()) + int(f["mapped"]) != rows_in[name]:
                problems.append(f"{name}: {rows_in[name]} messages in, but {sum(q.values())} quarantined + "
                                f"{f['mapped']} mapped = {sum(q.values()) + int(f['mapped'])}")
        # staged files: the landing files, or for HL7 v2 the FHIR files derived from the messages
        staged_in: dict[str, int] = {}
        for name, r in sorted(read_files.items()):
            staged_in[name] = int(r["rows_in"])
            a = acct.get(name, {"quarantined": {}, "merged": {}, "staged": 0})
            q = {k: int(v) for k, v in sorted(a["quarantined"].items())}
            if q:
                rows_quarantined[name] = q
            accounted = sum(q.values()) + sum(a["merged"].values()) + a["staged"]
            if accounted != staged_in[name]:
                problems.append(
                    f"{name}: {staged_in[name]} rows in, but {sum(q.values())} quarantined + "
                    f"{sum(a['merged'].values())} merged + {a['staged']} staged = {accounted}"
                )
        if messages is None:
            rows_in.update(staged_in)
        elif not messages.get("reconciled", False):
            problems.append(f"HL7 v2 reader: {messages['messages_in']} messages in, {messages['mapped']} mapped, "
                            f"{messages['quarantined_total']} quarantined")
        for name in sorted(set(acct) - set(read_files) - set(msg_files)):
            problems.append(f"{name}: rows in staging from a file the read stage did not report")

        staged_by_table = {k: int(v["rows_out"]) for k, v in stage["consolidate"]["tables"].items()}
        lineage = {k.removeprefix("stg_"): int(v) for k, v in mapped["lineage_counts"].items()}
        for table, n in sorted(staged_by_table.items()):
            used = lineage.get(table, 0)
            if used != n:
                problems.append(f"staged table {table}: {n} rows staged but {used} reached an OMOP table")

        cov = coverage(run.path("omop.duckdb"))
        rows_out = {k: int(v) for k, v in mapped["rows_out"].items()}
        file_types = {name: r["file_type"] for name, r in read_files.items()}
        file_types.update({name: "hl7v2" for name in msg_files})
        checks = quality_checks({**staged_in, **rows_in}, rows_quarantined, rows_out, cov, problems, settings,
                                file_types)
        checks.extend(_round_trip_checks(_stage_report_or_none(run, "export_fhir")))
        outcome = "failed" if any(c["status"] == "failed" for c in checks) else (
            "warn" if any(c["status"] == "warn" for c in checks) else "passed")
        quality: dict[str, Any] = {"outcome": outcome, "checks": checks}
        validated = _stage_report_or_none(run, "validate")
        if validated is not None:  # the validate stage (GX suites and DQD checks) ran and passed the gate
            order = ("passed", "warn", "failed")
            quality["outcome"] = max(outcome, validated["outcome"], key=order.index)
            quality["validation"] = validated

        report.update({
            "rows_in": rows_in,
            **({"rows_in_derived": staged_in, "messages": _messages_summary(messages)} if messages else {}),
            "rows_quarantined": rows_quarantined,
            "rows_merged": {k: v["merged"] for k, v in sorted(acct.items()) if v["merged"]},
            "rows_staged": staged_by_table,
            "rows_out": rows_out,
            "coverage": cov,
            "reconciled": not problems,
            "reconciliation_problems": problems,
            "quality": quality,
        })
    summary = run.summary()
    durations = {k: v.get("seconds") for k, v in summary["stages"].items()}
    summary.update({
        "state": "succeeded",
        "finished": utc_now(),
        "stage_seconds": durations,
        "landing": extract["landing"],
        "unrecognised_files": extract["unrecognised_files"],
        "rows_in": report["rows_in"],
        **{k: report[k] for k in ("rows_in_derived", "messages") if k in report},
        "rows_quarantined": report["rows_quarantined"],
        "rows_merged": report["rows_merged"],
        "rows_out": report["rows_out"],
        "coverage": report["coverage"],
        "reconciled": report["reconciled"],
        "reconciliation_problems": report["reconciliation_problems"],
        "warehouse": loaded["warehouse"],
        "vocabulary": mapped.get("vocabulary", {}),
        "quality": report["quality"],
        "fhir": _fhir_summary(_stage_report_or_none(run, "export_fhir")),
    })
    write_json_atomic(run.summary_path, summary)
    return summary


def _messages_summary(m: dict[str, Any]) -> dict[str, Any]:
    """The HL7 v2 message counts of the stage report, for ``summary.json``."""
    keys = ("messages_in", "mapped", "quarantined", "quarantined_total", "by_type", "versions", "encodings",
            "assumed_timezone", "merges", "merge_conflicts", "merge_self", "obx_extra_values_dropped", "resources",
            "reconciled")
    return {k: m[k] for k in keys if k in m}


def _fhir_summary(report: dict[str, Any] | None) -> dict[str, Any] | None:
    """The FHIR export in a few fields (the stage report has the rest)."""
    if report is None or "skipped" in report:
        return None
    v = report.get("validation")
    rt = report.get("round_trip")
    return {"dir": report["out_dir"], "resources": report["resources"], "total": report["total"],
            "not_expressed": {t: r["rows"] for t, r in report["not_expressed"].items()},
            "validation": None if v is None else {"outcome": v["outcome"], "validate": v["validate"]},
            "round_trip": None if rt is None else {
                "agreed": rt["agreed"], "resources_without_person": rt["resources_without_person"],
                "persons_differing": {t: r["persons_differing"] for t, r in rt["tables"].items()
                                      if r["persons_differing"]}}}


def _round_trip_checks(report: dict[str, Any] | None) -> list[dict]:
    """A warning when the FHIR export's resources per person and table differ from the OMOP rows."""
    rt = (report or {}).get("round_trip")
    if rt is None or rt["agreed"]:
        return []
    differing = {t: r["persons_differing"] for t, r in rt["tables"].items() if r["persons_differing"]}
    return [{"check": "fhir_round_trip", "status": "warn",
             "detail": f"FHIR resources per person differ from the OMOP rows: persons differing per table "
                       f"{differing}, resources without a person {rt['resources_without_person']} "
                       f"(stages/export_fhir.json has examples)"}]


def _stage_report_or_none(run: Run, name: str) -> dict[str, Any] | None:
    path = run.path("stages", f"{name}.json")
    return run.stage_report(name) if path.exists() else None


def quality_checks(rows_in, rows_quarantined, rows_out, cov, problems, settings: Settings,
                   file_types: dict[str, str]) -> list[dict]:
    """Run-level checks (the Great Expectations suites per table come with the quality work)."""
    checks = [{
        "check": "reconciliation",
        "status": "passed" if not problems else "failed",
        "detail": "every input row is in an output or in quarantine" if not problems else problems[:20],
    }]
    checks.append({
        "check": "person_table_not_empty",
        "status": "passed" if rows_out.get("person", 0) > 0 else "failed",
        "detail": f"{rows_out.get('person', 0)} persons",
    })
    per_type: dict[str, list[int]] = {}
    for name, n in rows_in.items():  # per file type: monthly files are too small to judge alone
        acc = per_type.setdefault(file_types.get(name, name), [0, 0])
        acc[0] += n
        acc[1] += sum(rows_quarantined.get(name, {}).values())
    for ft, (n, q) in sorted(per_type.items()):
        share = q / n if n else 0.0
        if share > settings.max_quarantine_share:
            checks.append({
                "check": "quarantine_share",
                "status": "warn",
                "detail": f"{ft}: {q} of {n} rows quarantined ({share:.1%} > "
                          f"{settings.max_quarantine_share:.1%})",
            })
    for vocab, c in sorted(cov.items()):
        if c["record_share"] is not None and c["record_share"] < 0.95:
            checks.append({
                "check": "mapping_coverage",
                "status": "warn",
                "detail": f"{vocab}: {c['record_share']:.1%} of records mapped to a standard concept",
            })
    return checks
