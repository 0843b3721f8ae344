"""How each staging table is read from its FHIR resources: columns, dates, required elements, quarantine verdicts.

One :class:`_Spec` per staging table (:data:`SPECS`): the SQL of each staged
column over the resource ``x`` (its JSON ``x.r``) and the relations the read
step joins (``c``/``v`` source and value codings, ``f`` references, ``p``/``sp``
identities, ``iv`` validation failures), the date elements (parsed once per
row, checked against ``earliest``..today), the required elements and the
void statuses.  :func:`table_sql` turns a spec into one SELECT whose rows
carry their verdict: the first true of

1. the structural validation failed (``invalid_resource``, element ``(resource)``);
2. the status says the record is void (``void_status``: entered-in-error,
   cancelled, declined, draft, not-taken, not-done, refuted);
3. the identity is refused (``invalid_national_id`` / ``invalid_pseudonym``);
4. a date element does not parse or is implausible (``bad_date``, naming it);
5. a required element is missing (``invalid_resource``, naming it): the
   subject, a coded element with a code, a date (what the OMOP row needs);
6. the subject reference is unusable, or names something other than a Patient;
7. a numeric element is not a number.

Elements are read with one JSON parse per resource: every ``(x.r->>'path')``
of a spec becomes an element of ``json_extract_string(r, [paths])``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pyarrow as pa

from .layout import BY_KEY, table_columns
from .sql import lit

#: columns of the raw rows besides the staging columns, resolved across files by :mod:`.resolve`
REF_COLUMNS = ("subject_key", "subject_person_key", "encounter_ref", "medication_ref", "provider_ref",
               "specimen_ref", "replaced_by_ref")
#: statuses meaning the record is void or the act did not happen
VOID_STATUSES = ("entered-in-error", "cancelled", "declined", "draft", "not-taken", "not-done", "refuted")


def _j(path: str) -> str:
    return f"(x.r->>{lit(path)})"


def _coalesce(*exprs: str) -> str:
    return exprs[0] if len(exprs) == 1 else f"coalesce({', '.join(exprs)})"


@dataclass(frozen=True)
class _Spec:
    """How one staging table's rows are read from its resources (SQL over ``x`` and the joined relations).

    Date elements are parsed once per row (columns ``x._d<i>`` of the inner
    query); ``@@element@@`` in an expression stands for the parsed date.
    """

    key: str
    cols: dict[str, str]  # staged column -> SQL (person_key, encounter_key ... are set by resolve)
    dates: tuple[tuple[str, int], ...] = ()  # (date element, earliest plausible year), checked in this order
    required: tuple[tuple[str, str, str], ...] = ()  # (element, SQL true when missing, message)
    numbers: tuple[tuple[str, str], ...] = ()  # (element, JSON path) that must be numbers when present
    status: str | None = None  # SQL of the status checked against VOID_STATUSES
    has_subject: bool = True


def _date(*elements: str) -> str:
    """SQL of the first present date of ``elements`` (parsed once per row, see :class:`_Spec`)."""
    return _coalesce(*(f"@@{e}@@" for e in elements))


def _dates(*elements: str, earliest: int = 1900) -> tuple[tuple[str, int], ...]:
    return tuple((e, earliest) for e in elements)


def _subject_required() -> tuple[str, str, str]:
    return ("subject", "f.subject_ref IS NULL AND f.subject_sys IS NULL AND f.subject_val IS NULL",
            "subject is missing")


def _code_required(element: str) -> tuple[str, str, str]:
    return (element, "c.code IS NULL", f"{element} has no coding with a code (nor a short text)")


def _missing_date(elements: tuple[str, ...], message: str) -> tuple[str, str, str]:
    return ("/".join(elements), f"{_date(*elements)} IS NULL", message)


_CODE_COLS = {
    "code_system": "c.code_system", "vocabulary_id": "c.vocabulary_id", "code": "c.code",
    "std_vocabulary_id": "c.std_vocabulary_id", "std_code": "c.std_code",
}

_MED_START = ("whenHandedOver", "whenPrepared", "authoredOn", "effectiveDateTime", "effectivePeriod.start",
              "dateAsserted", "occurrenceDateTime", "recorded")
_DAYS_V = _coalesce(_j("$.daysSupply.value"), _j("$.dispenseRequest.expectedSupplyDuration.value"))
_DAYS_U = ("lower(" + _coalesce(_j("$.daysSupply.code"), _j("$.daysSupply.unit"),
                                _j("$.dispenseRequest.expectedSupplyDuration.code"),
                                _j("$.dispenseRequest.expectedSupplyDuration.unit"), "'d'") + ")")
_DAYS = (f"CAST(round(TRY_CAST({_DAYS_V} AS DOUBLE) * CASE WHEN {_DAYS_U} IN ('d', 'day', 'days') THEN 1 "
         f"WHEN {_DAYS_U} IN ('wk', 'week', 'weeks') THEN 7 WHEN {_DAYS_U} IN ('mo', 'month', 'months') THEN 30 END) "
         "AS BIGINT)")
_VALUE_STRING = _coalesce(
    _j("$.valueString"), _j("$.valueBoolean"), _j("$.valueDateTime"), _j("$.valueTime"),
    f"CASE WHEN json_exists(x.r, '$.valueRange') THEN concat_ws('-', {_j('$.valueRange.low.value')}, "
    f"{_j('$.valueRange.high.value')}) END",
    f"CASE WHEN json_exists(x.r, '$.valueRatio') THEN {_j('$.valueRatio.numerator.value')} || '/' || "
    f"{_j('$.valueRatio.denominator.value')} END",
)
_CONDITION_START = ("onsetDateTime", "onsetPeriod.start", "recordedDate")
_SPECIMEN_START = ("collection.collectedDateTime", "collection.collectedPeriod.start", "receivedTime")
_OBSERVATION_START = ("effectiveDateTime", "effectivePeriod.start", "effectiveInstant", "issued")
_REPORT_START = ("effectiveDateTime", "effectivePeriod.start", "issued")
_PROCEDURE_START = ("performedDateTime", "performedPeriod.start")

SPECS: dict[str, _Spec] = {
    "fhir_patient": _Spec(
        "fhir_patient",
        {
            "identity_source": "p.identity_source",
            "gender": f"coalesce(lower({_j('$.gender')}), p.hetu_sex)",
            "birth_date": f"coalesce({_date('birthDate')}, p.hetu_birth)",
            "deceased_date": _date("deceasedDateTime"),
        },
        dates=_dates("birthDate", "deceasedDateTime", earliest=1800),
        required=(("birthDate", f"coalesce({_date('birthDate')}, p.hetu_birth) IS NULL",
                   "birthDate is missing (an OMOP person needs a year of birth)"),),
        has_subject=False,
    ),
    "fhir_encounter": _Spec(
        "fhir_encounter",
        {
            "status": _j("$.status"),
            "class_system": _coalesce(_j("$.class.system"), _j("$.class[0].coding[0].system")),
            "class_code": _coalesce(_j("$.class.code"), _j("$.class[0].coding[0].code")),
            "admit_source": _j("$.hospitalization.admitSource.coding[0].code"),
            "start_date": _date("period.start"),
            "end_date": _date("period.end"),
        },
        dates=_dates("period.start", "period.end"),
        required=(_subject_required(),
                  _missing_date(("period.start",), "period.start is missing (a visit needs a start date)")),
        status=_j("$.status"),
    ),
    "fhir_condition": _Spec(
        "fhir_condition",
        {
            **_CODE_COLS,
            "start_date": _date(*_CONDITION_START),
            "recorded_date": _date("recordedDate"),
            "end_date": _date("abatementDateTime", "abatementPeriod.end"),
            "clinical_status": _j("$.clinicalStatus.coding[0].code"),
            "verification_status": _j("$.verificationStatus.coding[0].code"),
            "category": _j("$.category[0].coding[0].code"),
        },
        dates=_dates(*_CONDITION_START, "abatementDateTime", "abatementPeriod.end"),
        required=(_subject_required(), _code_required("code"),
                  _missing_date(_CONDITION_START, "onsetDateTime, onsetPeriod.start and recordedDate are missing")),
        status=_coalesce(_j("$.verificationStatus.coding[0].code"), _j("$.clinicalStatus.coding[0].code")),
    ),
    "fhir_medication": _Spec(
        "fhir_medication",
        {
            "resource_type": "x.resource_type",
            "status": _j("$.status"),
            **_CODE_COLS,
            "start_date": _date(*_MED_START),
            "end_date": _date("effectivePeriod.end"),
            "quantity": "TRY_CAST(" + _coalesce(_j("$.quantity.value"), _j("$.dispenseRequest.quantity.value"),
                                                _j("$.dosage.dose.value"), _j("$.doseQuantity.value")) + " AS DOUBLE)",
            "quantity_unit": _coalesce(_j("$.quantity.unit"), _j("$.dispenseRequest.quantity.unit"),
                                       _j("$.dosage.dose.unit"), _j("$.doseQuantity.unit")),
            "days_supply": _DAYS,
            "sig": _coalesce(_j("$.dosageInstruction[0].text"), _j("$.dosage[0].text"), _j("$.dosage.text")),
        },
        dates=_dates(*_MED_START, "effectivePeriod.end"),
        required=(_subject_required(),
                  ("medication[x]", "c.code IS NULL AND f.medication_ref IS NULL",
                   "medicationCodeableConcept (vaccineCode), a contained Medication's code and a medicationReference "
                   "are all missing (or have neither a coding with a code nor a short text)"),
                  _missing_date(_MED_START,
                                "no date (whenHandedOver, authoredOn, effective[x], occurrenceDateTime ...)")),
        numbers=(("quantity.value", "$.quantity.value"), ("daysSupply.value", "$.daysSupply.value"),
                 ("dispenseRequest.quantity.value", "$.dispenseRequest.quantity.value")),
        status=_j("$.status"),
    ),
    "fhir_procedure": _Spec(
        "fhir_procedure",
        {
            "status": _j("$.status"),
            **_CODE_COLS,
            "start_date": _date(*_PROCEDURE_START),
            "end_date": _date("performedPeriod.end"),
        },
        dates=_dates(*_PROCEDURE_START, "performedPeriod.end"),
        required=(_subject_required(), _code_required("code"),
                  _missing_date(_PROCEDURE_START, "performedDateTime and performedPeriod.start are missing")),
        status=_j("$.status"),
    ),
    "fhir_specimen": _Spec(
        "fhir_specimen",
        {"status": _j("$.status"), **_CODE_COLS, "start_date": _date(*_SPECIMEN_START)},
        dates=_dates(*_SPECIMEN_START),
        required=(_subject_required(),
                  _missing_date(_SPECIMEN_START, "collection.collected[x] and receivedTime are missing")),
        status=_j("$.status"),
    ),
    "fhir_observation": _Spec(
        "fhir_observation",
        {
            "status": _j("$.status"),
            "category": _j("$.category[0].coding[0].code"),
            **_CODE_COLS,
            "start_date": _date(*_OBSERVATION_START),
            "value_number": "TRY_CAST(" + _coalesce(_j("$.valueQuantity.value"), _j("$.valueInteger")) + " AS DOUBLE)",
            "value_comparator": _j("$.valueQuantity.comparator"),
            "value_unit": _j("$.valueQuantity.unit"),
            "value_unit_code": _j("$.valueQuantity.code"),
            "value_string": _VALUE_STRING,
            "value_code_system": "v.code_system",
            "value_vocabulary_id": "v.vocabulary_id",
            "value_code": "v.code",
            "range_low": f"TRY_CAST({_j('$.referenceRange[0].low.value')} AS DOUBLE)",
            "range_high": f"TRY_CAST({_j('$.referenceRange[0].high.value')} AS DOUBLE)",
            "component_count": "coalesce(json_array_length(x.r, '$.component'), 0)",
        },
        dates=_dates(*_OBSERVATION_START),
        required=(_subject_required(), _code_required("code"),
                  _missing_date(_OBSERVATION_START, "effective[x] and issued are missing")),
        numbers=(("valueQuantity.value", "$.valueQuantity.value"),
                 ("referenceRange.low.value", "$.referenceRange[0].low.value"),
                 ("referenceRange.high.value", "$.referenceRange[0].high.value")),
        status=_j("$.status"),
    ),
    "fhir_diagnostic_report": _Spec(
        "fhir_diagnostic_report",
        {
            "status": _j("$.status"),
            "category": _j("$.category[0].coding[0].code"),
            **_CODE_COLS,
            "start_date": _date(*_REPORT_START),
        },
        dates=_dates(*_REPORT_START),
        required=(_subject_required(), _code_required("code"),
                  _missing_date(_REPORT_START, "effective[x] and issued are missing")),
        status=_j("$.status"),
    ),
}



_JSON_ACCESS = re.compile(r"\(x\.r->>'([^']+)'\)")


def table_sql(spec: _Spec, source: str) -> str:
    """SELECT of one staging table's raw rows with the quarantine verdict (``_reason``, ``_column``, ``_detail``).

    Three levels: the resources of the table's types with every element the
    table reads extracted by one JSON parse (``_jv``, a list) and their dates
    parsed once (``_d<i>``); the columns and the number of the first true
    verdict (``_v``); the verdict's reason, element and detail.
    """
    ft = BY_KEY[spec.key]
    alias = {e: f"_d{i}" for i, (e, _) in enumerate(spec.dates)}
    paths: dict[str, int] = {}

    def sql_of(expr: str) -> str:
        expr = re.sub(r"@@([^@]+)@@", lambda m: f"x.{alias[m.group(1)]}", expr)
        return _JSON_ACCESS.sub(lambda m: f"x._jv[{paths.setdefault(m.group(1), len(paths)) + 1}]", expr)

    cols = []
    for name, _ in table_columns(ft):
        if name == "resource_key":
            expr = "x.resource_key"
        elif name == "person_key":
            expr = "p.person_key" if not spec.has_subject else "NULL"
        elif name == "_source_file":
            expr = lit(source)
        elif name == "_row_number":
            expr = "x.row_no"
        else:
            expr = spec.cols.get(name, "NULL")
        cols.append(f"{sql_of(expr)} AS {name}")
    if spec.has_subject:
        cols += ["f.subject_key", "sp.person_key AS subject_person_key", "f.encounter_ref", "f.medication_ref",
                 "f.provider_ref", "f.specimen_ref", "NULL::VARCHAR AS replaced_by_ref"]
    else:  # a Patient: the Patient that replaced it (Patient.link replaced-by), if any
        cols += [f"NULL::VARCHAR AS {c}" for c in REF_COLUMNS if c != "replaced_by_ref"]
        cols.append("f.replaced_by_ref")
    # (condition, reason SQL, element, detail SQL): the first true condition is the row's verdict
    verdict: list[tuple[str, str, str, str]] = [
        ("iv.row_no IS NOT NULL", lit("invalid_resource"), "(resource)", "iv.detail"),
    ]
    if spec.status:
        verdict.append((f"{spec.status} IN ({', '.join(lit(s) for s in VOID_STATUSES)})", lit("void_status"),
                        "status", f"'status ' || {spec.status}"))
    ident, element = ("sp", "subject") if spec.has_subject else ("p", "identifier")
    verdict.append((f"{ident}.reason IS NOT NULL", f"{ident}.reason", element, f"{ident}.detail"))
    for element, earliest in spec.dates:
        raw = _j("$." + element)
        verdict.append((f"({raw} IS NOT NULL AND coalesce(@@{element}@@ NOT BETWEEN DATE '{earliest:04d}-01-01' "
                        "AND current_date, TRUE))", lit("bad_date"), element,
                        f"{lit(element + ' ')} || {raw} || {lit(f' is not a FHIR date in {earliest}..today')}"))
    for element, missing, message in spec.required:
        verdict.append((missing, lit("invalid_resource"), element, lit(message)))
    if spec.has_subject:
        verdict.append(("f.subject_ref IS NOT NULL AND f.subject_key IS NULL AND sp.person_key IS NULL",
                        lit("invalid_resource"), "subject",
                        "'subject.reference is not a literal reference (Type/id, a URL ending in Type/id, "
                        "or a fullUrl of the Bundle)'"))
        # (split_part(...) = 'const' trips a DuckDB 2.0 binder error on NULL input: starts_with instead)
        verdict.append(("NOT starts_with(f.subject_key, 'Patient/')", lit("invalid_resource"), "subject",
                        "'subject refers to a ' || regexp_extract(f.subject_key, '^([^/]+)/', 1) || ', not a Patient'"))
    for element, path in spec.numbers:
        verdict.append((f"json_exists(x.r, {lit(path)}) AND NOT cb_json_number(x.r, {lit(path)})",
                        lit("invalid_resource"), element, lit(f"{element} is not a number")))
    verdict = [(sql_of(c), sql_of(r), e, sql_of(d)) for c, r, e, d in verdict]

    def outer(sql: str) -> str:  # the verdict's reason and detail are computed over the middle level's columns
        for a, b in (("x._jv[", "_jv["), ("iv.detail", "_iv_detail"), (f"{ident}.reason", "_id_reason"),
                     (f"{ident}.detail", "_id_detail"), ("f.subject_key", "subject_key")):
            sql = sql.replace(a, b)
        return sql

    which = "CASE " + " ".join(f"WHEN {c} THEN {i}" for i, (c, _, _, _) in enumerate(verdict)) + " END"
    reason = "CASE _v " + " ".join(f"WHEN {i} THEN {outer(r)}" for i, (_, r, _, _) in enumerate(verdict)) + " END"
    column = "CASE _v " + " ".join(f"WHEN {i} THEN {lit(e)}" for i, (_, _, e, _) in enumerate(verdict)) + " END"
    detail = "CASE _v " + " ".join(f"WHEN {i} THEN {outer(d)}" for i, (_, _, _, d) in enumerate(verdict)) + " END"
    joins = "LEFT JOIN _invalid iv ON iv.row_no = x.row_no "
    joins += "LEFT JOIN (SELECT * FROM _code WHERE role = 'code') c ON c.row_no = x.row_no "
    joins += "LEFT JOIN (SELECT * FROM _code WHERE role = 'value') v ON v.row_no = x.row_no "
    joins += "LEFT JOIN _ref f ON f.row_no = x.row_no "
    if spec.has_subject:
        joins += "LEFT JOIN (SELECT * FROM _ident WHERE role = 'subject') sp ON sp.row_no = x.row_no "
    else:
        joins += "LEFT JOIN (SELECT * FROM _ident WHERE role = 'patient') p ON p.row_no = x.row_no "
    for element in alias:  # every date element is read, so it has its place in _jv
        paths.setdefault("$." + element, len(paths))
    types = ", ".join(lit(t) for t in ft.resource_types)
    extract = f"json_extract_string(r, [{', '.join(lit(p) for p in paths)}])" if paths else "[]::VARCHAR[]"
    parsed = "".join(f", cb_fhir_date(_jv[{paths['$.' + e] + 1}]) AS {a}" for e, a in alias.items())
    inner = (f"SELECT *{parsed} FROM (SELECT *, {extract} AS _jv FROM _rr "
             f"WHERE reason IS NULL AND resource_type IN ({types}))")
    helpers = f"x._jv AS _jv, iv.detail AS _iv_detail, {ident}.reason AS _id_reason, {ident}.detail AS _id_detail"
    return f"""
SELECT * EXCLUDE (_v, _jv, _iv_detail, _id_reason, _id_detail),
       {reason} AS _reason, {column} AS _column, {detail} AS _detail
FROM (
    SELECT {', '.join(cols)}, {which} AS _v, {helpers}
    FROM ({inner}) x {joins}
) t"""


def empty_raw_table(key: str) -> pa.Table:
    """An empty raw table of staging table ``key`` (staging columns + REF_COLUMNS)."""
    from connectors.typed_columns import staging_schema

    schema = staging_schema(BY_KEY[key])
    for c in REF_COLUMNS:
        schema = schema.append(pa.field(c, pa.string()))
    return schema.empty_table()
