"""Vocabulary release drift: what changed between two releases, and which warehouse records it moves.

Two releases (OLD, NEW) are compared inside one DuckDB connection in which
both are attached as databases (``old`` and ``new`` by default), each holding
the vocabulary tables of :data:`terminology.athena.VOCABULARY_TABLES` in its
``main`` schema.  :func:`attach_release` attaches either kind of input: an
Athena download folder (loaded with :func:`terminology.athena.load_athena`, or
a given ``loader``, into a DuckDB file in a work folder) or a vocabulary store
``.duckdb`` file built by the hub (attached read-only).

Rules:

* Concepts are matched by ``concept_id`` (OMOP ids are stable across
  releases); a changed ``concept_code`` is reported as a code change.
* A concept's standard targets are those of the ``source_to_standard`` view:
  valid 'Maps to' rows whose target is a valid standard concept in the same
  release.  Target sets are compared as sorted lists of concept ids.
* Source-concept changes (used by the 'Maps to' section and the warehouse
  impact) are classified, first match wins: ``removed`` (concept absent from
  NEW), ``gained`` (no targets -> some), ``lost`` (some -> none: records would
  get concept 0), ``changed`` (different target set), ``deprecated``
  (targets unchanged but ``invalid_reason`` newly set).  Only concepts present
  in OLD are classified; concepts new in NEW are reported as added concepts.
* All comparisons are SQL joins and group-bys; Python only loops over
  vocabularies, attributes and tables, and over the bounded sample rows.
* Output is deterministic: samples ordered by code then concept id, top codes
  by record count then code; :meth:`VocabularyDiff.to_json` sorts keys.

Bad input fails loudly: a folder that is not a vocabulary, or a ``.duckdb``
file without the vocabulary tables, raises :class:`VocabularyFormatError`
naming the path; a missing warehouse file raises :class:`FileNotFoundError`.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from terminology.athena import load_athena
from terminology.errors import VocabularyFormatError
from terminology.omop_cdm import CDM

#: Concept attributes compared (concept_code is reported separately as a code change).
CONCEPT_ATTRIBUTES = ("concept_name", "domain_id", "vocabulary_id", "concept_class_id", "standard_concept",
                      "valid_start_date", "valid_end_date", "invalid_reason")
#: Source-concept change kinds, in classification order.
CHANGE_KINDS = ("removed", "gained", "lost", "changed", "deprecated")
#: Tables a release must hold to be compared.
REQUIRED_TABLES = ("concept", "concept_relationship", "vocabulary")
#: CDM table groups whose ``*_source_concept_id`` columns the warehouse impact looks at.
IMPACT_GROUPS = ("clinical", "health_system", "health_economics", "derived")

Loader = Callable[[Any, Path], object]
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _ident(name: str) -> str:
    if not _IDENT.match(name):
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return name


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# ---- inputs --------------------------------------------------------------------------------

def _tables_in(con, alias: str, schema: str = "main") -> set[str]:
    return {r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_catalog = ? AND table_schema = ?",
        [alias, schema]).fetchall()}


def attach_release(con, source: str | Path, alias: str, workdir: str | Path, *,
                   loader: Loader | None = None) -> str:
    """Attach one release to ``con`` as database ``alias``; returns a label (the resolved path).

    ``source`` is an Athena download folder, loaded by ``loader(con, folder)``
    (default :func:`load_athena`) into ``workdir/<alias>.duckdb``, or a
    vocabulary store ``.duckdb`` file, attached read-only.
    """
    _ident(alias)
    path = Path(source)
    if path.is_dir():
        store = Path(workdir) / f"{alias}.duckdb"
        store.unlink(missing_ok=True)
        tmp = duckdb.connect(str(store))
        try:
            (loader or load_athena)(tmp, path)
        finally:
            tmp.close()
    elif path.is_file():
        store = path
    else:
        raise VocabularyFormatError("vocabulary release does not exist (expected an Athena folder or a "
                                    ".duckdb vocabulary store)", path)
    try:
        con.execute(f"ATTACH {_lit(str(store))} AS {alias} (READ_ONLY)")
    except duckdb.IOException as exc:
        raise VocabularyFormatError(f"not a DuckDB vocabulary store ({exc})", path) from None
    missing = [t for t in REQUIRED_TABLES if t not in _tables_in(con, alias)]
    if missing:
        con.execute(f"DETACH {alias}")
        raise VocabularyFormatError(f"not a vocabulary store: missing table(s) {', '.join(missing)}", path)
    return str(path.resolve())


# ---- the diff ------------------------------------------------------------------------------

@dataclass(frozen=True)
class VocabularyChange:
    """What changed in one vocabulary (each part a JSON-ready dict; see :meth:`to_dict`)."""

    vocabulary_id: str
    status: str  # 'added', 'removed' or 'kept'
    version: dict[str, str | None]  # {'old': ..., 'new': ...}
    concepts: dict[str, int]  # {'old': n, 'new': n}
    added: dict[str, Any]
    removed: dict[str, Any]
    code_changed: dict[str, Any]
    changed: dict[str, dict[str, Any]]  # attribute -> {'count', 'sample'}; only attributes that changed
    changed_concepts: int  # concepts with any attribute change other than the code
    deprecated: dict[str, Any]
    maps_to: dict[str, dict[str, Any]]  # 'gained' | 'lost' | 'changed' | 'removed' -> {'count', 'sample'}

    @property
    def has_changes(self) -> bool:
        """True when the status, version, concepts or mappings differ between the releases."""
        return (self.status != "kept" or self.version["old"] != self.version["new"] or self.added["count"] > 0
                or self.removed["count"] > 0 or self.code_changed["count"] > 0 or self.changed_concepts > 0
                or any(v["count"] for v in self.maps_to.values()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "vocabulary_id": self.vocabulary_id, "status": self.status, "version": dict(self.version),
            "version_changed": self.version["old"] != self.version["new"], "concepts": dict(self.concepts),
            "added": self.added, "removed": self.removed, "code_changed": self.code_changed,
            "changed": self.changed, "changed_concepts": self.changed_concepts, "deprecated": self.deprecated,
            "maps_to": self.maps_to,
        }


@dataclass(frozen=True)
class VocabularyDiff:
    """The difference between two attached releases (aliases kept for :func:`warehouse_impact`)."""

    old: str
    new: str
    vocabularies_added: tuple[str, ...]
    vocabularies_removed: tuple[str, ...]
    vocabularies: tuple[VocabularyChange, ...]
    totals: dict[str, int]
    sample: int
    old_alias: str = field(default="old", compare=False)
    new_alias: str = field(default="new", compare=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; vocabularies keyed by id (unchanged ones listed by id only)."""
        return {
            "old": self.old, "new": self.new, "sample": self.sample,
            "vocabularies_added": list(self.vocabularies_added),
            "vocabularies_removed": list(self.vocabularies_removed),
            "vocabularies_unchanged": [v.vocabulary_id for v in self.vocabularies if not v.has_changes],
            "vocabularies": {v.vocabulary_id: v.to_dict() for v in self.vocabularies if v.has_changes},
            "totals": dict(self.totals),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, indent=2, ensure_ascii=False)


def _counted(con, rows_sql: str, keys: tuple[str, ...], cols: tuple[str, ...], sample: int
             ) -> dict[tuple, dict[str, Any]]:
    """Group ``rows_sql`` by ``keys``: {key: {'count': n, 'sample': [first ``sample`` rows by code, id]}}."""
    k = ", ".join(keys)
    out: dict[tuple, dict[str, Any]] = {}
    for row in con.execute(f"SELECT {k}, count(*) FROM ({rows_sql}) GROUP BY {k} ORDER BY {k}").fetchall():
        out[tuple(row[:-1])] = {"count": int(row[-1]), "sample": []}
    if sample > 0 and out:
        rows = con.execute(
            f"""SELECT {k}, {', '.join(cols)} FROM ({rows_sql})
                QUALIFY row_number() OVER (PARTITION BY {k} ORDER BY code, concept_id) <= {int(sample)}
                ORDER BY {k}, code, concept_id""").fetchall()
        for row in rows:
            out[tuple(row[:len(keys)])]["sample"].append(dict(zip(cols, row[len(keys):])))
    return out


def _empty() -> dict[str, Any]:
    return {"count": 0, "sample": []}


def _build_concept_changes(con, old: str, new: str) -> None:
    """Temp table ``_xb_concepts``: one row per concept added, removed or differing in any attribute."""
    cols = ("concept_code", *CONCEPT_ATTRIBUTES)
    sel = ", ".join(f"o.{c} AS o_{c}, n.{c} AS n_{c}" for c in cols)
    differs = " OR ".join(f"o.{c} IS DISTINCT FROM n.{c}" for c in cols)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _xb_concepts AS
        SELECT coalesce(o.concept_id, n.concept_id) AS concept_id,
               coalesce(o.vocabulary_id, n.vocabulary_id) AS vocab,
               o.concept_id IS NOT NULL AS in_old, n.concept_id IS NOT NULL AS in_new, {sel}
        FROM {old}.main.concept o FULL OUTER JOIN {new}.main.concept n ON n.concept_id = o.concept_id
        WHERE o.concept_id IS NULL OR n.concept_id IS NULL OR {differs}""")


def _targets_sql(alias: str) -> str:
    """Per source concept: sorted distinct standard targets in one release (as source_to_standard)."""
    return f"""SELECT r.concept_id_1 AS source_id, list_sort(list_distinct(list(r.concept_id_2))) AS targets
        FROM {alias}.main.concept_relationship r
        JOIN {alias}.main.concept t ON t.concept_id = r.concept_id_2
         AND t.standard_concept = 'S' AND t.invalid_reason IS NULL
        WHERE r.relationship_id = 'Maps to' AND r.invalid_reason IS NULL
        GROUP BY r.concept_id_1"""


def build_source_changes(con, old: str = "old", new: str = "new") -> None:
    """Temp table ``_xb_source_change``: OLD concepts whose standard targets (or validity) change in NEW.

    Columns: source_id, vocabulary_id, code, old_targets, new_targets, change
    (one of :data:`CHANGE_KINDS`).
    """
    old, new = _ident(old), _ident(new)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _xb_source_change AS
        WITH mo AS ({_targets_sql(old)}), mn AS ({_targets_sql(new)}),
        j AS (
            SELECT o.concept_id AS source_id, o.vocabulary_id, o.concept_code AS code,
                   coalesce(mo.targets, []::INTEGER[]) AS old_targets,
                   CASE WHEN n.concept_id IS NULL THEN []::INTEGER[]
                        ELSE coalesce(mn.targets, []::INTEGER[]) END AS new_targets,
                   n.concept_id IS NULL AS is_removed,
                   n.concept_id IS NOT NULL AND o.invalid_reason IS NULL
                       AND n.invalid_reason IS NOT NULL AS is_deprecated
            FROM {old}.main.concept o
            LEFT JOIN {new}.main.concept n ON n.concept_id = o.concept_id
            LEFT JOIN mo ON mo.source_id = o.concept_id
            LEFT JOIN mn ON mn.source_id = o.concept_id),
        c AS (
            SELECT source_id, vocabulary_id, code, old_targets, new_targets,
                   CASE WHEN is_removed THEN 'removed'
                        WHEN len(old_targets) = 0 AND len(new_targets) > 0 THEN 'gained'
                        WHEN len(old_targets) > 0 AND len(new_targets) = 0 THEN 'lost'
                        WHEN old_targets <> new_targets THEN 'changed'
                        WHEN is_deprecated THEN 'deprecated' END AS change
            FROM j)
        SELECT * FROM c WHERE change IS NOT NULL""")


def diff_vocabularies(con, old: str = "old", new: str = "new", *, sample: int = 20,
                      labels: tuple[str, str] | None = None) -> VocabularyDiff:
    """Compare the releases attached to ``con`` as ``old`` and ``new`` (see the module rules).

    ``sample`` bounds every sample list; ``labels`` name the releases in the
    output (default: the aliases).  Leaves temp tables ``_xb_concepts`` and
    ``_xb_source_change`` in ``con`` (the latter is reused by :func:`warehouse_impact`).
    """
    old, new = _ident(old), _ident(new)
    for alias in (old, new):
        missing = [t for t in REQUIRED_TABLES if t not in _tables_in(con, alias)]
        if missing:
            raise VocabularyFormatError(f"database {alias!r} lacks vocabulary table(s) {', '.join(missing)}")
    _build_concept_changes(con, old, new)
    build_source_changes(con, old, new)

    versions = con.execute(f"""
        SELECT coalesce(o.vocabulary_id, n.vocabulary_id), o.vocabulary_id IS NOT NULL, n.vocabulary_id IS NOT NULL,
               o.vocabulary_version, n.vocabulary_version
        FROM {old}.main.vocabulary o FULL OUTER JOIN {new}.main.vocabulary n ON n.vocabulary_id = o.vocabulary_id
        """).fetchall()
    counts = {side: dict(con.execute(
        f"SELECT vocabulary_id, count(*) FROM {alias}.main.concept GROUP BY 1").fetchall())
        for side, alias in (("old", old), ("new", new))}

    added = _counted(con, "SELECT vocab, concept_id, n_concept_code AS code, n_concept_name AS name, "
                          "n_standard_concept AS standard_concept FROM _xb_concepts WHERE NOT in_old",
                     ("vocab",), ("concept_id", "code", "name", "standard_concept"), sample)
    removed = _counted(con, "SELECT vocab, concept_id, o_concept_code AS code, o_concept_name AS name, "
                            "o_standard_concept AS standard_concept FROM _xb_concepts WHERE NOT in_new",
                       ("vocab",), ("concept_id", "code", "name", "standard_concept"), sample)
    both = "FROM _xb_concepts WHERE in_old AND in_new"
    code_changed = _counted(con, f"SELECT vocab, concept_id, o_concept_code AS code, n_concept_code AS new_code "
                                 f"{both} AND o_concept_code IS DISTINCT FROM n_concept_code",
                            ("vocab",), ("concept_id", "code", "new_code"), sample)
    attr_rows = " UNION ALL ".join(
        f"SELECT vocab, '{a}' AS attribute, concept_id, n_concept_code AS code, "
        f"CAST(o_{a} AS VARCHAR) AS old, CAST(n_{a} AS VARCHAR) AS new {both} AND o_{a} IS DISTINCT FROM n_{a}"
        for a in CONCEPT_ATTRIBUTES)
    changed = _counted(con, attr_rows, ("vocab", "attribute"), ("concept_id", "code", "old", "new"), sample)
    any_attr = " OR ".join(f"o_{a} IS DISTINCT FROM n_{a}" for a in CONCEPT_ATTRIBUTES)
    changed_concepts = dict(con.execute(f"SELECT vocab, count(*) {both} AND ({any_attr}) GROUP BY 1").fetchall())
    deprecated = _counted(con, f"""
        SELECT d.vocab, d.concept_id, d.n_concept_code AS code, d.n_invalid_reason AS invalid_reason,
               coalesce(rb.targets, []::INTEGER[]) AS replaced_by
        FROM (SELECT * {both} AND o_invalid_reason IS NULL AND n_invalid_reason IS NOT NULL) d
        LEFT JOIN (SELECT concept_id_1, list_sort(list_distinct(list(concept_id_2))) AS targets
                   FROM {new}.main.concept_relationship
                   WHERE relationship_id = 'Concept replaced by' AND invalid_reason IS NULL
                   GROUP BY 1) rb ON rb.concept_id_1 = d.concept_id""",
        ("vocab",), ("concept_id", "code", "invalid_reason", "replaced_by"), sample)
    replaced = dict(con.execute(f"""
        SELECT d.vocab, count(*) FROM (SELECT * {both} AND o_invalid_reason IS NULL AND n_invalid_reason IS NOT NULL) d
        SEMI JOIN {new}.main.concept_relationship r ON r.concept_id_1 = d.concept_id
             AND r.relationship_id = 'Concept replaced by' AND r.invalid_reason IS NULL
        GROUP BY 1""").fetchall())
    maps = _counted(con, """
        SELECT vocabulary_id AS vocab, change, source_id AS concept_id, code, old_targets, new_targets
        FROM _xb_source_change
        WHERE change IN ('gained', 'lost', 'changed') OR (change = 'removed' AND len(old_targets) > 0)""",
                    ("vocab", "change"), ("concept_id", "code", "old_targets", "new_targets"), sample)

    vocab_ids = sorted({v[0] for v in versions} | {k[0] for d in (added, removed, changed) for k in d}
                       | {k[0] for k in maps})
    info = {v[0]: v for v in versions}
    changes = []
    for vid in vocab_ids:
        _, in_old, in_new, v_old, v_new = info.get(vid, (vid, vid in counts["old"], vid in counts["new"], None, None))
        status = "added" if not in_old else "removed" if not in_new else "kept"
        dep = deprecated.get((vid,), _empty())
        changes.append(VocabularyChange(
            vocabulary_id=vid, status=status, version={"old": v_old, "new": v_new},
            concepts={"old": int(counts["old"].get(vid, 0)), "new": int(counts["new"].get(vid, 0))},
            added=added.get((vid,), _empty()), removed=removed.get((vid,), _empty()),
            code_changed=code_changed.get((vid,), _empty()),
            changed={a: changed[(vid, a)] for a in CONCEPT_ATTRIBUTES if (vid, a) in changed},
            changed_concepts=int(changed_concepts.get(vid, 0)),
            deprecated={**dep, "with_replacement": int(replaced.get(vid, 0))},
            maps_to={k: maps.get((vid, k), _empty()) for k in ("gained", "lost", "changed", "removed")},
        ))
    totals = {
        "concepts_added": sum(c.added["count"] for c in changes),
        "concepts_removed": sum(c.removed["count"] for c in changes),
        "concepts_changed": sum(c.changed_concepts for c in changes),
        "codes_changed": sum(c.code_changed["count"] for c in changes),
        "concepts_deprecated": sum(c.deprecated["count"] for c in changes),
        **{f"maps_to_{k}": sum(c.maps_to[k]["count"] for c in changes) for k in ("gained", "lost", "changed",
                                                                                  "removed")},
    }
    lo, ln = labels or (old, new)
    return VocabularyDiff(
        old=lo, new=ln,
        vocabularies_added=tuple(c.vocabulary_id for c in changes if c.status == "added"),
        vocabularies_removed=tuple(c.vocabulary_id for c in changes if c.status == "removed"),
        vocabularies=tuple(changes), totals=totals, sample=sample, old_alias=old, new_alias=new)


# ---- warehouse impact ----------------------------------------------------------------------

def source_concept_columns() -> list[tuple[str, str, str]]:
    """(table, source column, standard column) for every ``*_source_concept_id`` of the CDM v5.4
    tables in :data:`IMPACT_GROUPS` that has a matching ``*_concept_id`` column."""
    out = []
    for t in CDM.tables.values():
        if t.group not in IMPACT_GROUPS:
            continue
        for f in t.fields:
            if f.name.endswith("_source_concept_id"):
                std = f.name.replace("_source_concept_id", "_concept_id")
                if std in t:
                    out.append((t.name, f.name, std))
    return out


def warehouse_impact(con, diff_ctx: VocabularyDiff | tuple[str, str], warehouse: str | Path, *,
                     schema: str = "main", top: int = 20, alias: str = "wh") -> dict[str, Any]:
    """Records of an OMOP CDM v5.4 DuckDB warehouse whose standard concept would change from OLD to NEW.

    ``diff_ctx`` is the :class:`VocabularyDiff` (or the ``(old, new)`` aliases)
    of releases attached to ``con``.  The warehouse is attached read-only as
    ``alias`` (detached afterwards); ``schema`` is the CDM schema in it.  For
    each (table, source column) of :func:`source_concept_columns`, records
    whose source concept is in ``_xb_source_change`` are counted per source
    vocabulary and change kind, with the ``top`` codes by record count.  Tables
    or columns missing from the warehouse are skipped and listed.
    """
    old, new = ((diff_ctx.old_alias, diff_ctx.new_alias) if isinstance(diff_ctx, VocabularyDiff)
                else tuple(diff_ctx))
    alias, schema = _ident(alias), _ident(schema)
    path = Path(warehouse)
    if not path.is_file():
        raise FileNotFoundError(f"warehouse file does not exist: {path}")
    build_source_changes(con, old, new)
    try:
        con.execute(f"ATTACH {_lit(str(path))} AS {alias} (READ_ONLY)")
    except duckdb.IOException as exc:
        raise ValueError(f"{path}: not a DuckDB warehouse ({exc})") from None
    try:
        present = dict.fromkeys(_tables_in(con, alias, schema))
        columns = {(t, c) for t, c in con.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_catalog = ? "
            "AND table_schema = ?", [alias, schema]).fetchall()}
        con.execute("CREATE OR REPLACE TEMP TABLE _xb_wh_counts (table_name VARCHAR, source_column VARCHAR, "
                    "source_id INTEGER, records BIGINT)")
        skipped: list[dict[str, str]] = []
        scanned: list[tuple[str, str, str, int]] = []
        for table, src, std in source_concept_columns():
            if table not in present:
                if not any(s["table"] == table for s in skipped):
                    skipped.append({"table": table, "reason": "table missing"})
                continue
            if (table, src) not in columns:
                skipped.append({"table": table, "column": src, "reason": "column missing"})
                continue
            q = f"{alias}.{schema}.{table}"
            con.execute(f"""INSERT INTO _xb_wh_counts
                SELECT {_lit(table)}, {_lit(src)}, {src}, count(*) FROM {q}
                WHERE {src} IS NOT NULL AND {src} <> 0 GROUP BY {src}""")
            total = int(con.execute(f"SELECT count(*) FROM {q}").fetchall()[0][0])
            scanned.append((table, src, std, total))
    finally:
        con.execute(f"DETACH {alias}")

    by_vocab: dict[tuple[str, str], dict[str, dict[str, int]]] = {}
    for table, src, vocab, change, records in con.execute("""
            SELECT w.table_name, w.source_column, s.vocabulary_id, s.change, sum(w.records)
            FROM _xb_wh_counts w JOIN _xb_source_change s ON s.source_id = w.source_id
            GROUP BY ALL ORDER BY ALL""").fetchall():
        by_vocab.setdefault((table, src), {}).setdefault(vocab, {})[change] = int(records)
    with_source = {(t, c): int(n) for t, c, n in con.execute(
        "SELECT table_name, source_column, sum(records) FROM _xb_wh_counts GROUP BY ALL").fetchall()}
    tops: dict[tuple[str, str], list[dict[str, Any]]] = {}
    if top > 0:
        for row in con.execute(f"""
                SELECT w.table_name, w.source_column, s.vocabulary_id, s.code, s.source_id, w.records, s.change,
                       s.old_targets, s.new_targets
                FROM _xb_wh_counts w JOIN _xb_source_change s ON s.source_id = w.source_id
                QUALIFY row_number() OVER (PARTITION BY w.table_name, w.source_column
                                           ORDER BY w.records DESC, s.vocabulary_id, s.code, s.source_id) <= {int(top)}
                ORDER BY w.table_name, w.source_column, w.records DESC, s.vocabulary_id, s.code, s.source_id
                """).fetchall():
            tops.setdefault((row[0], row[1]), []).append(dict(zip(
                ("vocabulary_id", "code", "source_concept_id", "records", "change", "old_standard_concepts",
                 "new_standard_concepts"), row[2:])))

    tables = []
    by_change = dict.fromkeys(CHANGE_KINDS, 0)
    for table, src, std, total in scanned:
        vocabs = by_vocab.get((table, src), {})
        for per in vocabs.values():
            per["total"] = sum(per.values())
            for k in CHANGE_KINDS:
                by_change[k] += per.get(k, 0)
        tables.append({
            "table": table, "source_column": src, "concept_column": std, "records": total,
            "records_with_source_concept": with_source.get((table, src), 0),
            "affected_records": sum(v["total"] for v in vocabs.values()),
            "by_vocabulary": vocabs, "top_codes": tops.get((table, src), []),
        })
    return {
        "warehouse": str(path.resolve()), "schema": schema, "tables": tables, "skipped": skipped,
        "totals": {"affected_records": sum(by_change.values()), "by_change": by_change},
    }


# ---- convenience ---------------------------------------------------------------------------

def diff_report(old: str | Path, new: str | Path, *, warehouse: str | Path | None = None, sample: int = 20,
                loader: Loader | None = None, schema: str = "main") -> dict[str, Any]:
    """Attach OLD and NEW (folders or stores) in a fresh connection, diff them and, with ``warehouse``,
    measure its impact; returns ``{'diff': ..., 'warehouse_impact': ... | None}`` (JSON-ready)."""
    if warehouse is not None and not Path(warehouse).is_file():
        raise FileNotFoundError(f"warehouse file does not exist: {warehouse}")
    with tempfile.TemporaryDirectory(prefix="xb_vocab_diff_") as work:
        con = duckdb.connect()
        try:
            lo = attach_release(con, old, "old", work, loader=loader)
            ln = attach_release(con, new, "new", work, loader=loader)
            diff = diff_vocabularies(con, "old", "new", sample=sample, labels=(lo, ln))
            impact = (warehouse_impact(con, diff, warehouse, schema=schema, top=sample)
                      if warehouse is not None else None)
        finally:
            con.close()
    return {"diff": diff.to_dict(), "warehouse_impact": impact}


def _targets(ids: list[int]) -> str:
    return ",".join(str(i) for i in ids) if ids else "0"


def format_diff(report: dict[str, Any]) -> str:
    """A short text summary of a :func:`diff_report` result (a few lines per changed vocabulary)."""
    d = report["diff"]
    t = d["totals"]
    lines = [f"Vocabulary diff: {d['old']} -> {d['new']}",
             f"  concepts: +{t['concepts_added']} -{t['concepts_removed']} ~{t['concepts_changed']} changed, "
             f"{t['codes_changed']} code changes, {t['concepts_deprecated']} deprecated; 'Maps to': "
             f"{t['maps_to_changed']} changed, {t['maps_to_lost']} lost, {t['maps_to_gained']} gained, "
             f"{t['maps_to_removed']} removed"]
    if d["vocabularies_added"] or d["vocabularies_removed"]:
        lines.append(f"  vocabularies added: {', '.join(d['vocabularies_added']) or '-'}; "
                     f"removed: {', '.join(d['vocabularies_removed']) or '-'}")
    for vid, v in d["vocabularies"].items():
        ver = v["version"]
        lines.append(f"{vid} [{v['status']}] {ver['old']} -> {ver['new']}: concepts {v['concepts']['old']} -> "
                     f"{v['concepts']['new']} (+{v['added']['count']} -{v['removed']['count']} "
                     f"~{v['changed_concepts']}, {v['code_changed']['count']} code changes, "
                     f"{v['deprecated']['count']} deprecated)")
        if v["changed"]:
            lines.append("  changed: " + ", ".join(f"{a} {c['count']}" for a, c in v["changed"].items()))
        m = v["maps_to"]
        if any(m[k]["count"] for k in m):
            lines.append("  'Maps to': " + ", ".join(f"{k} {m[k]['count']}" for k in m if m[k]["count"]))
    if d["vocabularies_unchanged"]:
        lines.append(f"{len(d['vocabularies_unchanged'])} vocabularies unchanged")
    w = report.get("warehouse_impact")
    if w:
        lines.append(f"Warehouse {w['warehouse']}: {w['totals']['affected_records']} records would change "
                     "standard concept")
        for tb in w["tables"]:
            if not tb["affected_records"]:
                continue
            lines.append(f"  {tb['table']}.{tb['source_column']}: {tb['affected_records']} of {tb['records']} "
                         "records (" + ", ".join(f"{voc} {per['total']}" for voc, per in tb["by_vocabulary"].items())
                         + ")")
            for c in tb["top_codes"][:5]:
                lines.append(f"    {c['vocabulary_id']} {c['code']}: {c['records']} records, {c['change']}: "
                             f"{_targets(c['old_standard_concepts'])} -> {_targets(c['new_standard_concepts'])}")
        if w["skipped"]:
            lines.append("  skipped (not in warehouse): " + ", ".join(
                f"{s['table']}.{s['column']}" if "column" in s else s["table"] for s in w["skipped"]))
    return "\n".join(lines)


__all__ = [
    "CHANGE_KINDS", "CONCEPT_ATTRIBUTES", "VocabularyChange", "VocabularyDiff", "attach_release",
    "build_source_changes", "diff_report", "diff_vocabularies", "format_diff", "source_concept_columns",
    "warehouse_impact",
]
