"""DQD check counts per person partition, added up for the whole run (issues 6 and 9).

A person-partitioned run (``crossbridge run … --partitions N``) builds each partition's OMOP
tables in its own task.  Most OMOP checks count rows of one person's records against that same
person's other records (birth, death, visits, observation periods) or against the vocabulary:
over person partitions their numerators and denominators add up to the counts over the merged
database.  Those checks run in the partition tasks, in parallel; the validate stage adds the
counts up and runs only the others on the merged database.

Counted per partition (:data:`ADDITIVE_CHECKS`, on tables with a ``person_id``, and ``person``):
every check type but

* ``cdmTable`` / ``cdmField``: structure, read from the merged database (no scan);
* ``isPrimaryKey``: a duplicate id may sit in two partitions;
* ``isForeignKey``: the referenced row may be a shared one (care_site, location, provider);
* ``sourceValueCompleteness``: counts distinct source values, which partitions share.

Shared tables (location, care_site, ...) are built by several partitions, so none of their
checks add up; they run on the merged database.  The sums are tested against the counts over the
merged database (``tests/e2e/test_partitioned_runs.py``).

The counts come from the same SQL the GX expectation runs (:mod:`validators.dqd.sql`, grouped as
in :func:`validators.omop_run.validate_omop`), executed here directly on the partition's DuckDB
database: the checks' results and Data Docs are made once, by the validate stage.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import duckdb

from terminology.omop_cdm import CDM
from validators.dqd import catalogue, sql
from validators.dqd.spec import CheckSpec

#: check types whose counts over person partitions add up to the counts over the whole database
ADDITIVE_CHECKS = frozenset(catalogue.CHECK_TYPES) - {
    "cdmTable", "cdmField", "isPrimaryKey", "isForeignKey", "sourceValueCompleteness"}


class PartitionChecksError(RuntimeError):
    """Partition check counts are missing or do not belong together."""


def person_table(table: str) -> bool:
    return table == "person" or (table in CDM.tables and "person_id" in CDM.tables[table])


def partition_specs(specs: Iterable[CheckSpec]) -> list[CheckSpec]:
    """The checks of ``specs`` whose counts add up over person partitions."""
    return [s for s in specs if s.check_name in ADDITIVE_CHECKS and person_table(s.table)]


def partition_check_counts(con: duckdb.DuckDBPyConnection, specs: Iterable[CheckSpec]) -> dict[str, Any]:
    """``{"counts": {check_id: [violated, denominator]}, "errors": {check_id: message},
    "skipped": {check_id: reason}}`` of the additive checks of ``specs`` on the database of ``con``
    (a partition's, with the vocabulary tables visible as in the work database).

    A check whose table or fields are missing here is skipped (the validate stage decides it on
    the merged database); a check of an empty table counts over no rows.
    """
    specs = list(specs)
    columns: dict[str, set[str]] = {}
    for table, column in con.execute(sql.table_columns_sql("duckdb")).fetchall():
        columns.setdefault(str(table).lower(), set()).add(str(column).lower())
    present = {t: 1 for t in columns}  # emptiness is decided on the merged database, not here
    counts: dict[str, list[int]] = {}
    skipped: dict[str, str] = {}
    wanted = []
    for spec in partition_specs(specs):
        reason = sql.not_applicable_reason(spec, columns, present)
        if reason is None:
            wanted.append(spec)
        else:
            skipped[spec.check_id] = reason
    groups, errors = sql.grouped(wanted, "duckdb")
    for members in groups.values():  # one query per table and body, as in validate_omop
        try:
            row = con.execute(sql.group_sql([p for _, p in members])).fetchone()
            for i, (spec, _) in enumerate(members):
                counts[spec.check_id] = [int(row[2 * i] or 0), int(row[2 * i + 1] or 0)]
        except duckdb.Error:
            for spec, _ in members:  # each on its own: one bad check errors alone
                try:
                    v, d = con.execute(sql.check_sql(spec, "duckdb")).fetchone()
                    counts[spec.check_id] = [int(v or 0), int(d or 0)]
                except duckdb.Error as exc:
                    errors[spec.check_id] = str(exc).splitlines()[0][:500]
    return {"counts": counts, "errors": errors, "skipped": skipped}


def added_up(docs: Sequence[Mapping[str, Any]], partitions: int) -> dict[str, Any]:
    """The counts of the partitions' documents (``docs[k]``: :func:`partition_check_counts`'s result
    with ``partition`` = k and ``partitions``) added up: ``{"counts": {check_id: (violated,
    denominator)}, "errors": {check_id: message}}``, for the checks every partition counted (the
    others are left to the merged database).  Raises :class:`PartitionChecksError` when a document
    belongs to another partition or split."""
    for k, doc in enumerate(docs):
        if doc.get("partitions") != partitions or doc.get("partition") != k:
            got = f"{doc.get('partition')} of {doc.get('partitions')}"
            raise PartitionChecksError(f"counts of another partition or split: got those of partition {got}, "
                                       f"expected {k} of {partitions}")
    errors: dict[str, str] = {}
    for k, doc in enumerate(docs):
        for check_id, message in doc["errors"].items():
            errors.setdefault(check_id, f"partition {k}: {message}")
    common = set.intersection(*(set(d["counts"]) for d in docs)) if docs else set()
    counts = {c: (sum(d["counts"][c][0] for d in docs), sum(d["counts"][c][1] for d in docs))
              for c in sorted(common - set(errors))}
    return {"counts": counts, "errors": errors}


__all__ = ["ADDITIVE_CHECKS", "PartitionChecksError", "added_up", "partition_check_counts", "partition_specs",
           "person_table"]
