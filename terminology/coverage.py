"""Mapping coverage per site and source vocabulary, and the unmapped codes a mapper needs.

Input: per site, a ``code_usage`` table as the OMOP build writes it (one row
per source table, column group and code: ``vocabulary_id``, ``source_code``,
``source_concept_id``, ``target_concept_id``, ``n_records``).  A code counts as
mapped when any of its rows reached a standard concept (``target_concept_id
<> 0``); a record counts as mapped when its row did.

For each site and vocabulary the report gives records and distinct codes,
how many of each are mapped and the shares, and the top unmapped codes by
record count with what a mapper needs to act: the code's name in the store
(English, plus Chinese and Finnish names when the store has them), whether
the code is in the vocabulary at all (``in_vocabulary``: a code missing from
the vocabulary needs a new source concept; a code present without a 'Maps
to' needs a mapping), and the source tables it came from.  Everything is
computed in DuckDB (joins and group-bys); :func:`coverage_html` renders the
same report as one self-contained HTML page.
"""

from __future__ import annotations

import html
import uuid
from typing import Any

import pyarrow as pa

from terminology.concepts import LANGUAGE_CHINESE, LANGUAGE_FINNISH

USAGE_COLUMNS = ("vocabulary_id", "source_code", "source_concept_id", "target_concept_id", "n_records")


def _check(usage: pa.Table, site: str) -> None:
    missing = [c for c in (*USAGE_COLUMNS, "source_table") if c not in usage.column_names]
    if missing:
        raise ValueError(f"code_usage of site {site!r} lacks column(s) {missing}")


def coverage_report(con, usage_by_site: dict[str, pa.Table], *, top: int = 20,
                    runs: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The coverage report (JSON-ready, deterministic order) for every site's code usage.

    ``con`` holds the vocabulary store (names); ``runs`` optionally describes
    where each site's usage came from (run id, finished, summary path) and is
    copied into the report.
    """
    if top < 0:
        raise ValueError("top must be >= 0")
    parts = []
    for site, usage in sorted(usage_by_site.items()):
        _check(usage, site)
        parts.append(usage.select(["source_table", *USAGE_COLUMNS]).append_column(
            "site", pa.array([site] * usage.num_rows, pa.string())))
    if not parts:
        raise ValueError("no site usage given: run a site pipeline first")
    name = f"_xb_usage_{uuid.uuid4().hex}"
    con.register(name, pa.concat_tables(parts))
    try:
        vocab_rows = con.execute(f"""
            WITH codes AS (
                SELECT site, vocabulary_id, source_code, sum(n_records) AS records,
                       sum(n_records) FILTER (WHERE target_concept_id <> 0) AS records_mapped,
                       bool_or(target_concept_id <> 0) AS mapped
                FROM {name} GROUP BY ALL)
            SELECT site, vocabulary_id, sum(records)::BIGINT, coalesce(sum(records_mapped), 0)::BIGINT,
                   count(*)::BIGINT, count(*) FILTER (WHERE mapped)::BIGINT
            FROM codes GROUP BY ALL ORDER BY site, vocabulary_id""").fetchall()
        unmapped = con.execute(f"""
            WITH u AS (
                SELECT site, vocabulary_id, source_code, max(source_concept_id) AS source_concept_id,
                       sum(n_records)::BIGINT AS records,
                       string_agg(DISTINCT source_table, ',' ORDER BY source_table) AS tables
                FROM {name} WHERE target_concept_id = 0 OR target_concept_id IS NULL GROUP BY ALL),
            ranked AS (
                SELECT *, row_number() OVER (PARTITION BY site, vocabulary_id
                                             ORDER BY records DESC, source_code) AS rank FROM u)
            SELECT r.site, r.vocabulary_id, r.source_code, r.records, r.tables, r.rank,
                   c.concept_id IS NOT NULL AS in_vocabulary, c.concept_name,
                   (SELECT min(s.concept_synonym_name) FROM concept_synonym s
                     WHERE s.concept_id = c.concept_id AND s.language_concept_id = {LANGUAGE_CHINESE}) AS name_zh,
                   (SELECT min(s.concept_synonym_name) FROM concept_synonym s
                     WHERE s.concept_id = c.concept_id AND s.language_concept_id = {LANGUAGE_FINNISH}) AS name_fi
            FROM ranked r
            LEFT JOIN concept c ON c.vocabulary_id = r.vocabulary_id AND c.concept_code = r.source_code
                                AND (r.source_concept_id IS NULL OR r.source_concept_id = 0
                                     OR c.concept_id = r.source_concept_id)
            WHERE r.rank <= {int(top)}
            ORDER BY r.site, r.vocabulary_id, r.rank""").fetchall()
    finally:
        con.unregister(name)
    sites: dict[str, Any] = {}
    for site, vocab, records, rmapped, codes, cmapped in vocab_rows:
        entry = sites.setdefault(site, {"vocabularies": {}, "records": 0, "records_mapped": 0})
        entry["records"] += int(records)
        entry["records_mapped"] += int(rmapped)
        entry["vocabularies"][vocab] = {
            "records": int(records), "records_mapped": int(rmapped),
            "record_share": round(rmapped / records, 4) if records else None,
            "codes": int(codes), "codes_mapped": int(cmapped),
            "code_share": round(cmapped / codes, 4) if codes else None,
            "codes_unmapped": int(codes - cmapped), "top_unmapped": [],
        }
    seen: set[tuple[str, str, str]] = set()
    for site, vocab, code, records, tables, _rank, in_vocab, cname, zh, fi in unmapped:
        if (site, vocab, code) in seen:  # a code present twice in the store: keep the first name
            continue
        seen.add((site, vocab, code))
        item = {"code": code, "records": int(records), "in_vocabulary": bool(in_vocab),
                "name": cname, "source_tables": tables.split(",") if tables else []}
        if zh:
            item["name_zh"] = zh
        if fi:
            item["name_fi"] = fi
        sites[site]["vocabularies"][vocab]["top_unmapped"].append(item)
    for entry in sites.values():
        r, m = entry["records"], entry["records_mapped"]
        entry["record_share"] = round(m / r, 4) if r else None
    report: dict[str, Any] = {"top": top, "sites": sites}
    if runs:
        report["runs"] = {k: runs[k] for k in sorted(runs)}
    return report


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def coverage_html(report: dict[str, Any], *, title: str = "Crossbridge mapping coverage") -> str:
    """One self-contained HTML page (no scripts, no external resources) for a coverage report."""
    e = html.escape
    out = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{e(title)}</title>",
           "<style>body{font-family:sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse;"
           "margin:1em 0}td,th{border:1px solid #bbb;padding:.25em .6em;text-align:left}"
           "td.n{text-align:right}.bar{background:#dde;height:.8em;display:inline-block}"
           ".low{color:#a00;font-weight:bold}</style></head><body>", f"<h1>{e(title)}</h1>"]
    for site, entry in report["sites"].items():
        run = report.get("runs", {}).get(site, {})
        out.append(f"<h2>{e(site)}</h2>")
        if run:
            out.append(f"<p>run {e(str(run.get('run_id', '')))}, finished {e(str(run.get('finished', '')))}</p>")
        out.append(f"<p>{entry['records_mapped']:,} of {entry['records']:,} coded records mapped "
                   f"({_pct(entry['record_share'])}).</p>")
        out.append("<table><tr><th>vocabulary</th><th>records</th><th>mapped</th><th>share of records</th>"
                   "<th>codes</th><th>mapped</th><th>share of codes</th></tr>")
        for vocab, v in entry["vocabularies"].items():
            low = " class='low'" if v["record_share"] is not None and v["record_share"] < 0.9 else ""
            width = int(100 * (v["record_share"] or 0))
            out.append(f"<tr><td>{e(vocab)}</td><td class='n'>{v['records']:,}</td>"
                       f"<td class='n'>{v['records_mapped']:,}</td><td{low}><span class='bar' "
                       f"style='width:{width}px'></span> {_pct(v['record_share'])}</td>"
                       f"<td class='n'>{v['codes']:,}</td><td class='n'>{v['codes_mapped']:,}</td>"
                       f"<td>{_pct(v['code_share'])}</td></tr>")
        out.append("</table>")
        for vocab, v in entry["vocabularies"].items():
            if not v["top_unmapped"]:
                continue
            out.append(f"<h3>{e(site)} · {e(vocab)}: top unmapped codes ({v['codes_unmapped']:,} in all)</h3>")
            out.append("<table><tr><th>#</th><th>code</th><th>records</th><th>in vocabulary</th><th>name</th>"
                       "<th>source tables</th></tr>")
            for i, u in enumerate(v["top_unmapped"], 1):
                names = " / ".join(e(n) for n in (u.get("name"), u.get("name_zh"), u.get("name_fi")) if n)
                out.append(f"<tr><td class='n'>{i}</td><td><code>{e(u['code'])}</code></td>"
                           f"<td class='n'>{u['records']:,}</td><td>{'yes' if u['in_vocabulary'] else 'no'}</td>"
                           f"<td>{names}</td><td>{e(', '.join(u['source_tables']))}</td></tr>")
            out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out)


__all__ = ["USAGE_COLUMNS", "coverage_html", "coverage_report"]
