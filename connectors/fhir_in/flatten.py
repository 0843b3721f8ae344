"""One block of FHIR documents -> staged rows per table, reference data, quarantine and an index (DuckDB).

Steps (all in SQL over the block, except identity and the optional R4B validation):

1. **Documents -> items.**  A document that is not a JSON object ->
   ``invalid_json``.  A Bundle document contributes its entries (``fullUrl``
   and ``resource``; row number = the entry index in a JSON document file,
   ``BUNDLE_ROW_BASE + line * BUNDLE_LINE_FACTOR + entry index`` for a Bundle
   on an NDJSON line); any other document is one item (row number = its
   line, 0 for a JSON document file).  Items without a ``resourceType`` ->
   ``not_a_resource``; a Bundle inside a Bundle and types neither staged nor
   reference data -> ``unsupported_resource_type``.
2. **Keys.**  ``resource_key`` = ``<type>/<id>`` (a bundle entry without id:
   the id its absolute ``fullUrl`` ends with, else the ``fullUrl`` itself,
   else ``#<file>:<row>``).  An id shaped like a valid national identifier is
   replaced, here and in every reference to it, by ``masked-<HMAC prefix>``.
3. **References** (subject/patient, encounter/context, medicationReference,
   serviceProvider, specimen) are normalised to resource keys: a ``fullUrl`` of
   the same Bundle first, else ``Type/id`` (see :mod:`.sql`).  Whether the
   target exists is decided later, across all files (:mod:`.resolve`).
4. **Identity** (:mod:`.identity`) of Patients and of references by identifier.
5. **Validation** (optional): the fhir.resources R4B model of the type; a
   failure -> ``invalid_resource`` with the first error (location: message).
6. **Rows.**  Per staging table the columns of :mod:`.layout`, read as
   :mod:`.tables` declares; a row is quarantined, first reason wins, for a
   void status (``void_status``), an invalid identifier, a malformed or
   implausible date (``bad_date``), a missing required element or an unusable
   subject reference (``invalid_resource``, naming the element).

Reading is one JSON parse per resource for the elements every item needs
(:data:`HEADER_PATHS`) and one per resource for its table's elements.

Nothing here reads another block: the cross-file rules (duplicates,
reference targets) are :mod:`.resolve`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from connectors.finland.hetu import valid_mask as hetu_valid_mask
from connectors.quarantine import QUARANTINE_SCHEMA
from connectors.taiwan.national_id import valid_mask as taiwan_valid_mask
from terminology.systems import vocabulary_for_uri

from . import identity
from .layout import BY_KEY, REFERENCE_TYPES, RESOURCE_TABLES, STANDARD_VOCABULARIES, table_columns
from .sql import CONDITIONAL_RE, NATIONAL_ID_SHAPE, TYPE_RE, codings_sql, lit, reference_parts_sql
from .tables import REF_COLUMNS, SPECS, empty_raw_table, table_sql

#: row number of entry i of a Bundle on NDJSON line n: BUNDLE_ROW_BASE + n * BUNDLE_LINE_FACTOR + i
#: (100000300002 = line 3, entry 2); kept apart from plain line numbers, and below the 2**40 of provenance ids
BUNDLE_ROW_BASE = 10**11
BUNDLE_LINE_FACTOR = 10**5
INDEX_COLUMNS = ("_source_file", "_row_number", "resource_type", "resource_key", "table_key", "disposition",
                 "content_hash", "last_updated", "version_id")
REFERENCE_COLUMNS = ("resource_key", "resource_type", "name", "code_system", "vocabulary_id", "code",
                     "std_vocabulary_id", "std_code", "_source_file", "_row_number")
VALIDATE_MODES = ("all", "sample", "none")


class FhirInputError(ValueError):
    """A FHIR input cannot be staged as it is (e.g. a Bundle line too large to number its entries)."""


@dataclass
class FileState:
    """What one file's blocks share: names, keys, settings and running counters."""

    source: str  # the file's name as recorded in _source_file
    is_document: bool  # a JSON document file (not NDJSON)
    keys: identity.Pseudonymiser
    site: str | None = None
    validate: str = "sample"
    sample_size: int = 20
    validated: dict[str, int] = field(default_factory=dict)  # resource type -> resources validated so far


@dataclass
class BlockResult:
    tables: dict[str, pa.Table]  # staging table -> raw rows (staging columns + REF_COLUMNS)
    reference: pa.Table
    index: pa.Table
    quarantine: pa.Table
    empty_bundles: int = 0
    validated: int = 0
    components: int = 0


# ---------------------------------------------------------------------------------------------- steps
def _items(con, state: FileState) -> int:
    """Temp tables ``_doc`` (documents) and ``_item`` (resources and bundle entries); returns empty bundles.

    Resources stay JSON text (VARCHAR): DuckDB's JSON functions parse it where
    needed; only documents that may be Bundles (their text names "Bundle") are
    parsed here.
    """
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _doc AS
           SELECT line, text, json_valid(text) AND starts_with(ltrim(text, ' ' || chr(9) || chr(10) || chr(13)), '{')
                  AS ok,
                  contains(text, '"Bundle"') AS maybe_bundle
           FROM _blk""")
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _bundle AS
           SELECT line, text, json_extract(text, '$.entry[*]') AS entries FROM _doc
           WHERE ok AND maybe_bundle AND json_extract_string(text, '$.resourceType') = 'Bundle'""")
    src = lit(state.source)
    row = "s.i" if state.is_document else f"{BUNDLE_ROW_BASE} + line * {BUNDLE_LINE_FACTOR} + s.i"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _item AS
        SELECT line, line AS row_no, NULL::VARCHAR AS scope, NULL::VARCHAR AS full_url, text AS r,
               NULL::BIGINT AS entry
        FROM _doc d WHERE ok AND NOT (maybe_bundle AND line IN (SELECT line FROM _bundle))
        UNION ALL
        SELECT line, {row}, {src} || '#' || CAST(line AS VARCHAR), s.x->>'$.fullUrl',
               CAST(s.x->'$.resource' AS VARCHAR), s.i
        FROM (SELECT line, unnest(list_transform(entries, lambda x, i: {{'x': x, 'i': i - 1}})) AS s FROM _bundle)""")
    if not state.is_document:
        big = con.execute(f"SELECT min(line) FROM _item WHERE entry >= {BUNDLE_LINE_FACTOR} "
                          f"OR (entry IS NOT NULL AND line >= {(2**40 - 1 - BUNDLE_ROW_BASE) // BUNDLE_LINE_FACTOR})"
                          ).fetchall()[0][0]
        if big is not None:
            raise FhirInputError(f"{state.source} line {big}: a Bundle with more than {BUNDLE_LINE_FACTOR} entries "
                                 "on one NDJSON line, or a Bundle line after line 9,995,116, cannot be numbered; "
                                 "split the file or the bundle")
    return con.execute("SELECT count(*) FROM _bundle WHERE coalesce(len(entries), 0) = 0").fetchall()[0][0]


#: elements every item needs, read with one JSON parse per item (json_extract_string over a list of paths)
HEADER_PATHS = {
    "resource_type": "$.resourceType", "id": "$.id", "last_updated": "$.meta.lastUpdated",
    "version_id": "$.meta.versionId", "name": "$.name",
    "subject_reference": "$.subject.reference", "patient_reference": "$.patient.reference",
    "encounter_reference": "$.encounter.reference", "context_reference": "$.context.reference",
    "medication_reference": "$.medicationReference.reference", "provider_reference": "$.serviceProvider.reference",
    "specimen_reference": "$.specimen.reference",
    "subject_identifier_system": "$.subject.identifier.system",
    "subject_identifier_value": "$.subject.identifier.value",
    "patient_identifier_system": "$.patient.identifier.system",
    "patient_identifier_value": "$.patient.identifier.value",
}
#: reference roles -> the raw reference SQL over the header columns (``h.<name>``)
REFERENCE_ROLES = {
    "subject": "coalesce(h.subject_reference, h.patient_reference)",
    "encounter": "coalesce(h.encounter_reference, h.context_reference)",
    "medication": "CASE WHEN NOT starts_with(h.medication_reference, '#') THEN h.medication_reference END",
    "provider": "h.provider_reference",
    "specimen": "h.specimen_reference",
    "replaced_by": "h.replaced_by_reference",  # Patient.link replaced-by (an HL7 v2 A40 merge)
}
#: the reference of a Patient's link of type replaced-by, over the resource's JSON ``r``
REPLACED_BY_SQL = ("CASE WHEN contains(r, 'replaced-by') THEN list_filter(json_extract(r, '$.link[*]'), "
                   "lambda l: (l->>'$.type') = 'replaced-by')[1]->>'$.other.reference' END")


def _classify(con, state: FileState) -> None:
    """Temp table ``_res1``: every item with its resource type, table or disposition, id and raw references."""
    tables = " ".join(f"WHEN {lit(t)} THEN {lit(ft.key)}" for t, ft in RESOURCE_TABLES.items())
    refs = ", ".join(lit(t) for t in sorted(REFERENCE_TYPES))
    paths = ", ".join(lit(p) for p in HEADER_PATHS.values())
    heads = ", ".join(f"nullif(trim(_h[{i + 1}]), '') AS {name}" for i, name in enumerate(HEADER_PATHS))
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _res0 AS
        SELECT i.* EXCLUDE (_h), {heads}
        FROM (SELECT * EXCLUDE (r), json_extract_string(r, [{paths}]) AS _h, {REPLACED_BY_SQL} AS replaced_by_reference,
                     r IS NULL AS no_resource, md5(rtrim(r, ' ' || chr(9) || chr(10) || chr(13))) AS content_hash
              FROM _item) i""")
    roles = ", ".join(f"trim({expr.replace('h.', '')}) AS {role}_ref" for role, expr in REFERENCE_ROLES.items())
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _res1 AS
        SELECT * EXCLUDE (resource_type, id), resource_type, id AS id_raw,
               CASE WHEN resource_type IS NULL THEN 'not_a_resource'
                    WHEN NOT regexp_full_match(resource_type, {lit(TYPE_RE)}) THEN 'not_a_resource'
                    WHEN resource_type = 'Bundle' THEN 'unsupported_resource_type'
                    WHEN resource_type IN ({refs}) THEN NULL
                    WHEN (CASE resource_type {tables} END) IS NULL THEN 'unsupported_resource_type' END AS reason,
               CASE resource_type {tables} END AS table_key,
               coalesce(resource_type IN ({refs}), FALSE) AS is_reference,
               {reference_parts_sql('full_url')} AS url_parts,
               {roles},
               coalesce(subject_identifier_system, patient_identifier_system,
                        CASE WHEN subject_reference LIKE 'Patient?%' THEN
                             url_decode(nullif(regexp_extract(subject_reference, {lit(CONDITIONAL_RE)}, 1), '')) END)
                   AS subject_sys,
               coalesce(subject_identifier_value, patient_identifier_value,
                        CASE WHEN subject_reference LIKE 'Patient?%' THEN
                             url_decode(nullif(regexp_extract(subject_reference, {lit(CONDITIONAL_RE)}, 2), '')) END)
                   AS subject_val
        FROM _res0""")
    parts = ", ".join(f"{reference_parts_sql(role + '_ref')} AS {role}_parts" for role in REFERENCE_ROLES)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _res1 AS SELECT *, {parts} FROM _res1")



def _mask_ids(con, state: FileState) -> None:
    """Temp table ``_idmask`` (raw, masked): resource and reference ids shaped like valid national identifiers."""
    ids = " UNION ALL ".join(["SELECT id_raw AS v FROM _res1", "SELECT url_parts.i FROM _res1"]
                             + [f"SELECT {role}_parts.i FROM _res1" for role in REFERENCE_ROLES])
    cands = con.sql(
        f"SELECT DISTINCT v FROM ({ids}) WHERE regexp_full_match(v, {lit(NATIONAL_ID_SHAPE)})"
    ).to_arrow_table().column(0).combine_chunks().cast(pa.string())
    ok = np.zeros(len(cands), dtype=bool)
    if len(cands):
        ok = taiwan_valid_mask(cands) | hetu_valid_mask(cands)
    raw = cands.filter(pa.array(ok))
    masked = [  # distinct national-ID-shaped ids (rare), not rows
        "masked-" + state.keys.one("fhir-id|" + v)[:24] for v in raw.to_pylist()
    ]
    con.register("_idmask_arrow", pa.table({"raw": raw, "masked": pa.array(masked, pa.string())}))
    con.execute("CREATE OR REPLACE TEMP TABLE _idmask AS SELECT * FROM _idmask_arrow")
    con.unregister("_idmask_arrow")


def _keys(con, state: FileState) -> None:
    """Temp table ``_res``: ``_res1`` plus ``resource_key`` and ``content_hash``."""
    anon = f"'#' || {lit(state.source)} || ':' || CAST(row_no AS VARCHAR)"
    key_id = (f"coalesce(id_raw, CASE WHEN url_parts.t = resource_type THEN nullif(url_parts.i, '') END, "
              f"full_url, {anon})")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _res AS
        SELECT x.*, x.resource_type || '/' || coalesce(m.masked, x.key_id) AS resource_key
        FROM (SELECT *, {key_id} AS key_id FROM _res1) x
        LEFT JOIN _idmask m ON m.raw = x.key_id""")
    # the resources with their JSON text (kept once, in _item)
    con.execute("CREATE OR REPLACE TEMP VIEW _rr AS SELECT x.*, i.r FROM _res x JOIN _item i ON i.row_no = x.row_no")


def _resolve_local_references(con) -> None:
    """Temp table ``_ref``: per staged-type resource its references as resource keys (module docstring, step 3)."""
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _urls AS
           SELECT scope, full_url, min(resource_key) AS resource_key FROM _res
           WHERE scope IS NOT NULL AND full_url IS NOT NULL GROUP BY ALL""")
    keys, joins = [], []
    for role in REFERENCE_ROLES:
        local = (f"CASE WHEN x.{role}_parts.t <> '' THEN x.{role}_parts.t || '/' "
                 f"|| coalesce(m_{role}.masked, x.{role}_parts.i) END")
        keys.append(f"CAST(coalesce(u_{role}.resource_key, {local}) AS VARCHAR) AS {role}_key")
        joins.append(f"LEFT JOIN _urls u_{role} ON u_{role}.scope = x.scope AND u_{role}.full_url = x.{role}_ref "
                     f"LEFT JOIN _idmask m_{role} ON m_{role}.raw = x.{role}_parts.i")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _ref AS
        SELECT x.row_no, x.subject_ref, {', '.join(keys)}, x.subject_sys, x.subject_val
        FROM _res x {' '.join(joins)}
        WHERE x.reason IS NULL AND x.table_key IS NOT NULL""")
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _ref AS
           SELECT row_no, subject_ref, subject_key, encounter_key AS encounter_ref, medication_key AS medication_ref,
                  provider_key AS provider_ref, specimen_key AS specimen_ref, replaced_by_key AS replaced_by_ref,
                  subject_sys, subject_val FROM _ref""")


def _identities(con, state: FileState) -> None:
    """Temp table ``_ident`` (row_no, role patient|subject, person_key, identity_source, reason, detail, hetu_*)."""
    nationals = ", ".join(lit(s) for s in identity.NATIONAL_ID_SYSTEMS)
    own = (f"trim(x.value->>'$.system') = {lit(identity.pseudonym_system(state.site))}" if state.site
           else f"starts_with(trim(x.value->>'$.system'), {lit(identity.PSEUDONYM_PREFIX)})")
    requests = con.sql(
        f"""WITH ids AS (
                SELECT row_no, s.i AS i, s.x AS value
                FROM (SELECT row_no, unnest(list_transform(json_extract(r, '$.identifier[*]'),
                                                           lambda x, i: {{'x': x, 'i': i}})) AS s
                      FROM _rr WHERE table_key = 'fhir_patient' AND reason IS NULL)
            ), ranked AS (
                SELECT row_no, trim(x.value->>'$.system') AS system, trim(x.value->>'$.value') AS value,
                       i + CASE WHEN trim(x.value->>'$.system') IN ({nationals}) THEN 0
                                WHEN {own} THEN 1000000 ELSE 2000000 END AS rank
                FROM ids x WHERE nullif(trim(x.value->>'$.value'), '') IS NOT NULL
            ), chosen AS (
                SELECT row_no, arg_min({{'system': system, 'value': value}}, rank) AS c FROM ranked GROUP BY row_no
            )
            SELECT x.row_no, 'patient' AS role, c.c.system AS system, c.c.value AS value,
                   {lit(state.source)} || '|' || x.resource_key AS fallback
            FROM _res x LEFT JOIN chosen c USING (row_no)
            WHERE x.table_key = 'fhir_patient' AND x.reason IS NULL
            UNION ALL
            SELECT row_no, 'subject', trim(subject_sys), trim(subject_val), NULL
            FROM _ref WHERE subject_key IS NULL AND nullif(trim(subject_val), '') IS NOT NULL
            ORDER BY row_no, role"""
    ).to_arrow_table()
    got = identity.resolve(requests.column("system").combine_chunks(), requests.column("value").combine_chunks(),
                           requests.column("fallback").combine_chunks(), state.keys, state.site)
    out = identity.identities_table(got)
    out = out.add_column(0, "role", requests.column("role")).add_column(0, "row_no", requests.column("row_no"))
    con.register("_ident_arrow", out)
    con.execute("CREATE OR REPLACE TEMP TABLE _ident AS SELECT * FROM _ident_arrow")
    con.unregister("_ident_arrow")


def _validation(con, state: FileState) -> int:
    """Temp table ``_invalid`` (row_no, detail): resources failing their fhir.resources R4B model.

    'all' validates every staged and reference resource; 'sample' the first
    ``sample_size`` of each resource type of the file (counted across its
    blocks); 'none' nothing.  Returns the number of resources validated.
    """
    con.execute("CREATE OR REPLACE TEMP TABLE _invalid (row_no BIGINT, detail VARCHAR)")
    if state.validate == "none":
        return 0
    where = "reason IS NULL AND (table_key IS NOT NULL OR is_reference)"
    limit = f"WHERE k <= {int(state.sample_size)}" if state.validate == "sample" else ""
    rows = con.execute(
        f"""SELECT row_no, resource_type, CAST(json(r) AS VARCHAR) FROM (
                SELECT *, row_number() OVER (PARTITION BY resource_type ORDER BY row_no) AS k FROM _rr WHERE {where}
            ) {limit} ORDER BY row_no""").fetchall()
    if not rows:
        return 0
    from fhir.resources.R4B import get_fhir_model_class

    failed: list[tuple[int, str]] = []
    done = 0
    for row_no, rtype, text in rows:  # per resource by nature (a pydantic model); see the report for its cost
        if state.validate == "sample" and state.validated.get(rtype, 0) >= state.sample_size:
            continue
        state.validated[rtype] = state.validated.get(rtype, 0) + 1
        done += 1
        try:
            get_fhir_model_class(rtype).model_validate_json(text)
        except (ValueError, TypeError) as exc:  # pydantic's ValidationError is a ValueError
            failed.append((row_no, "R4B validation: " + first_error(exc)))
    if failed:
        con.executemany("INSERT INTO _invalid VALUES (?, ?)", failed)
    return done


def first_error(exc: Exception) -> str:
    """The first pydantic error as ``location: message (+n more)``, without the offending input value."""
    errs = exc.errors(include_input=False, include_url=False) if hasattr(exc, "errors") else []
    if not errs:
        return str(exc).splitlines()[0]
    first = errs[0]
    loc = ".".join(str(p) for p in first.get("loc", ())) or "(resource)"
    more = f" (+{len(errs) - 1} more)" if len(errs) > 1 else ""
    return f"{loc}: {first.get('msg', '')}{more}"


def _codes(con) -> None:
    """Temp tables ``_systems`` and ``_code`` (row_no, role, source and standard coding)."""
    cc = {
        "code": """CASE WHEN resource_type = 'Immunization' THEN r->'$.vaccineCode'
                        WHEN resource_type = 'Specimen' THEN r->'$.type'
                        WHEN starts_with(resource_type, 'Medication') AND resource_type <> 'Medication'
                        THEN coalesce(r->'$.medicationCodeableConcept',
                                      list_filter(json_extract(r, '$.contained[*]'), lambda c:
                                          (c->>'$.id') = substr((r->>'$.medicationReference.reference'), 2)
                                          AND starts_with((r->>'$.medicationReference.reference'), '#'))[1]->'$.code')
                        ELSE r->'$.code' END""",
        "value": "r->'$.valueCodeableConcept'",
    }
    union = "\nUNION ALL\n".join(
        f"SELECT row_no, {lit(role)} AS role, {expr} AS cc FROM _rr "
        "WHERE reason IS NULL AND (table_key IS NOT NULL OR resource_type = 'Medication')" for role, expr in cc.items())
    con.execute(f"CREATE OR REPLACE TEMP TABLE _cc AS SELECT * FROM ({union}) WHERE cc IS NOT NULL")
    systems = [s for (s,) in con.execute(
        "SELECT DISTINCT trim(unnest(json_extract_string(cc, '$.coding[*].system'))) FROM _cc").fetchall()
        if s]
    rows = []
    for uri in systems:  # distinct code systems (a handful), not data rows
        vocabulary = vocabulary_for_uri(uri)
        rows.append((uri, vocabulary, vocabulary in STANDARD_VOCABULARIES))
    con.execute("CREATE OR REPLACE TEMP TABLE _systems (uri VARCHAR, vocabulary_id VARCHAR, standard BOOLEAN)")
    if rows:
        con.executemany("INSERT INTO _systems VALUES (?, ?, ?)", rows)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _code AS {codings_sql('_cc', '_systems')}")


def flatten_block(con, docs: pa.Table, bad_utf8: list[int], state: FileState) -> BlockResult:
    """Items of one block of documents ``docs`` (line, text) -> :class:`BlockResult` (see the module docstring)."""
    con.register("_blk", docs)
    try:
        empty_bundles = _items(con, state)
    finally:
        con.unregister("_blk")
    _classify(con, state)
    _mask_ids(con, state)
    _keys(con, state)
    _resolve_local_references(con)
    _identities(con, state)
    validated = _validation(con, state)
    _codes(con)

    tables: dict[str, pa.Table] = {}
    quarantine = [_item_quarantine(con, state, bad_utf8)]
    present = {k for (k,) in con.execute(
        "SELECT DISTINCT table_key FROM _res WHERE reason IS NULL AND table_key IS NOT NULL").fetchall()}
    for key, spec in SPECS.items():
        if key not in present:  # a block (an NDJSON file of one type) usually feeds one table
            tables[key] = empty_raw_table(key)
            continue
        con.execute(f"CREATE OR REPLACE TEMP TABLE _t AS {table_sql(spec, state.source)}")
        names = [c for c, _ in table_columns(BY_KEY[key])] + list(REF_COLUMNS)
        tables[key] = con.sql(f"SELECT {', '.join(names)} FROM _t WHERE _reason IS NULL").to_arrow_table().cast(
            empty_raw_table(key).schema)  # the declared types (DuckDB gives e.g. UBIGINT for json_array_length)
        quarantine.append(con.sql(
            f"""SELECT {lit(state.source)} AS source_file, _row_number AS row_number, {lit(key)} AS file_type,
                       _reason AS reason, _column AS "column", _detail AS detail
                FROM _t WHERE _reason IS NOT NULL""").to_arrow_table())
        con.execute(f"CREATE OR REPLACE TEMP TABLE _d_{key} AS SELECT _row_number, _reason FROM _t")
    obs = tables["fhir_observation"]
    components = int(pc.sum(obs.column("component_count")).as_py() or 0) if obs.num_rows else 0
    reference = con.sql(
        f"""SELECT x.resource_key, x.resource_type, x.name, c.code_system, c.vocabulary_id, c.code,
                   c.std_vocabulary_id, c.std_code, {lit(state.source)} AS _source_file, x.row_no AS _row_number
            FROM _res x LEFT JOIN (SELECT * FROM _code WHERE role = 'code') c USING (row_no)
            WHERE x.reason IS NULL AND x.is_reference AND x.row_no NOT IN (SELECT row_no FROM _invalid)
            """).to_arrow_table()
    verdicts = " UNION ALL ".join(
        ["SELECT NULL::BIGINT AS row_no, NULL::VARCHAR AS _reason WHERE FALSE"]
        + [f"SELECT _row_number, _reason FROM _d_{k}" for k in SPECS if k in present])
    verdicts += " UNION ALL SELECT row_no, 'invalid_resource' FROM _invalid WHERE row_no IN " \
                "(SELECT row_no FROM _res WHERE is_reference)"
    index = con.sql(
        f"""SELECT {lit(state.source)} AS _source_file, i.row_no AS _row_number, x.resource_type, x.resource_key,
                   x.table_key,
                   CASE WHEN x.row_no IS NULL OR x.reason IS NOT NULL OR d._reason IS NOT NULL THEN 'quarantined'
                        WHEN x.is_reference THEN 'reference' ELSE 'staged' END AS disposition,
                   x.content_hash, x.last_updated, x.version_id
            FROM (SELECT row_no FROM _item UNION ALL SELECT line FROM _doc WHERE NOT ok) i
            LEFT JOIN _res x ON x.row_no = i.row_no
            LEFT JOIN ({verdicts}) d ON d.row_no = i.row_no
            ORDER BY i.row_no""").to_arrow_table()
    bad = pa.table({"_source_file": pa.array([state.source] * len(bad_utf8), pa.string()),
                    "_row_number": pa.array(bad_utf8, pa.int64())})
    if len(bad_utf8):
        extra = pa.table({c: pa.nulls(len(bad_utf8), index.schema.field(c).type) for c in index.column_names})
        extra = extra.set_column(0, "_source_file", bad.column(0)).set_column(1, "_row_number", bad.column(1))
        extra = extra.set_column(index.column_names.index("disposition"), "disposition",
                                 pa.array(["quarantined"] * len(bad_utf8), pa.string()))
        index = pa.concat_tables([index, extra.cast(index.schema)])
    return BlockResult(tables, reference, index, pa.concat_tables([t.cast(QUARANTINE_SCHEMA) for t in quarantine]),
                       empty_bundles, validated, components)


def _item_quarantine(con, state: FileState, bad_utf8: list[int]) -> pa.Table:
    """Quarantine rows of documents and items refused before any table: JSON, resourceType, unsupported types."""
    what = "document" if state.is_document else "line"
    rows = con.sql(
        f"""SELECT {lit(state.source)} AS source_file, line AS row_number, 'fhir' AS file_type,
                   'invalid_json' AS reason, NULL AS "column",
                   CASE WHEN json_valid(text) THEN {lit('the ' + what + ' is JSON but not an object')}
                        ELSE {lit('the ' + what + ' is not valid JSON')} END AS detail
            FROM _doc WHERE NOT ok
            UNION ALL
            SELECT {lit(state.source)}, row_no, 'fhir', reason,
                   CASE WHEN reason = 'not_a_resource' THEN 'resourceType' END,
                   CASE WHEN entry IS NOT NULL AND no_resource THEN 'Bundle.entry[' || CAST(entry AS VARCHAR)
                             || '] has no resource'
                        WHEN reason = 'not_a_resource' AND resource_type IS NULL
                             THEN 'no resourceType (not a FHIR resource)'
                        WHEN reason = 'not_a_resource' THEN 'resourceType is not a resource type name'
                        WHEN resource_type = 'Bundle' THEN 'a Bundle inside a Bundle'
                        ELSE resource_type || ' is neither staged nor reference data' END
            FROM _res WHERE reason IS NOT NULL
            UNION ALL
            SELECT {lit(state.source)}, x.row_no, 'fhir', 'invalid_resource', '(resource)', v.detail
            FROM _res x JOIN _invalid v USING (row_no) WHERE x.is_reference""").to_arrow_table().cast(
        QUARANTINE_SCHEMA)
    if bad_utf8:
        rows = pa.concat_tables([rows, pa.table({
            "source_file": pa.array([state.source] * len(bad_utf8), pa.string()),
            "row_number": pa.array(bad_utf8, pa.int64()),
            "file_type": pa.array(["fhir"] * len(bad_utf8), pa.string()),
            "reason": pa.array(["invalid_json"] * len(bad_utf8), pa.string()),
            "column": pa.nulls(len(bad_utf8), pa.string()),
            "detail": pa.array([f"the {what} is not valid UTF-8"] * len(bad_utf8), pa.string()),
        }, schema=QUARANTINE_SCHEMA)])
    return rows


__all__ = ["BUNDLE_LINE_FACTOR", "BlockResult", "FhirInputError", "FileState", "SPECS", "VALIDATE_MODES",
           "flatten_block", "first_error"]
