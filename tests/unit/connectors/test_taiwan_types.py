"""Typed conversion per column kind, national-ID validation and quarantine reasons."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st
from taiwan_raw import PID, row

from connectors.pseudonym import Pseudonymiser
from connectors.taiwan import layout
from connectors.taiwan.national_id import LETTER_VALUES, make_ids, valid_mask
from connectors.typed_columns import (
    convert_code,
    convert_date,
    convert_decimal,
    convert_int,
    convert_national_id,
    convert_partial_date,
    convert_roc_date,
    convert_year,
    convert_ym,
    staging_schema,
    type_chunk,
)

TODAY = dt.date(2024, 6, 30)
D = dt.date


def raw_table(ft: layout.FileType, rows: list[dict[str, str]]) -> pa.Table:
    cols = {c: [r.get(c, "") for r in rows] for c in ft.column_names}
    cols["_row_number"] = list(range(2, 2 + len(rows)))
    return pa.table({k: pa.array(v, pa.string() if k != "_row_number" else pa.int64()) for k, v in cols.items()})


def test_code_strips_padding_and_blank_is_null() -> None:
    c = convert_code(pa.array(["4019   ", "  A1 ", "", "   "]))
    assert c.values.to_pylist() == ["4019", "A1", None, None]
    assert c.missing.tolist() == [False, False, True, True] and not c.invalid.any()


def test_numbers() -> None:
    i = convert_int(pa.array(["12", " 7 ", "-5", "0x10", "1e3", "+5", "", "99999999999999999999"]))
    assert i.values.to_pylist() == [12, 7, -5, None, None, None, None, None]
    assert i.invalid.tolist() == [False, False, False, True, True, True, False, True]
    d = convert_decimal(pa.array(["1.5", ".5", "2", "1e3", "nan", "inf", "1,5", ""]))
    assert d.values.to_pylist() == [1.5, 0.5, 2.0, 1000.0, None, None, None, None]
    assert d.invalid.tolist() == [False, False, False, False, True, True, True, False]
    assert i.reason == d.reason == "bad_number"


def test_dates_are_real_and_plausible() -> None:
    c = convert_date(pa.array(["20140228", "20140230", "20240229", "20230229", "18991231", "19000101",
                                "20240701", "2014011", "2014-01-01", ""]), TODAY)
    assert c.values.to_pylist() == [D(2014, 2, 28), None, D(2024, 2, 29), None, None, D(1900, 1, 1),
                                    None, None, None, None]
    assert c.invalid.tolist() == [False, True, False, True, True, False, True, True, True, False]
    assert c.missing.tolist()[-1] and c.reason == "impossible_date"


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.integers(0, 99_999_999).map(lambda n: f"{n:08d}"),
                 st.dates(dt.date(1890, 1, 1), dt.date(2030, 12, 31)).map(lambda d: d.strftime("%Y%m%d"))))
def test_date_agrees_with_the_python_calendar(text: str) -> None:
    try:
        expected = dt.datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        expected = None
    if expected is not None and not (dt.date(1900, 1, 1) <= expected <= TODAY):
        expected = None
    c = convert_date(pa.array([text]), TODAY)
    assert c.values.to_pylist() == [expected]
    assert c.invalid.tolist() == [expected is None]


def test_year_month_and_year() -> None:
    ym = convert_ym(pa.array(["201401", "201413", "201400", "189912", "202406", "202407", "2014"]), TODAY)
    assert ym.values.to_pylist() == ["201401", None, None, None, "202406", None, None]
    y = convert_year(pa.array(["1950", "1899", "2025", "19x0", ""]), TODAY)
    assert y.values.to_pylist() == [1950, None, None, None, None]
    assert y.values.type == pa.int32() and y.invalid.tolist() == [False, True, True, True, False]


def test_roc_dates() -> None:
    c = convert_roc_date(pa.array(["103/01/02", "1030102", "89/5/1", "089/05/01", "民國103年1月2日", "113/02/29",
                                   "103/02/30", "103-01-02", "20140102", ""]), TODAY)
    assert c.values.to_pylist() == [D(2014, 1, 2), D(2014, 1, 2), D(2000, 5, 1), D(2000, 5, 1), D(2014, 1, 2),
                                    D(2024, 2, 29), None, None, None, None]
    assert c.invalid.tolist() == [False] * 6 + [True, True, True, False]


def test_partial_dates_impute_mid_period_and_keep_raw() -> None:
    c = convert_partial_date(pa.array(["20140399", "20149999", "20149912", "20140315", "99999999", "20140230",
                                       "2014", ""]), TODAY)
    assert c.values.to_pylist() == [D(2014, 3, 15), D(2014, 7, 15), D(2014, 7, 15), D(2014, 3, 15), None, None,
                                    None, None]
    assert c.invalid.tolist() == [False] * 4 + [True, True, True, False]


def test_cancer_row_keeps_raw_partial_date() -> None:
    staged, q = type_chunk(layout.CANCER, raw_table(layout.CANCER, [row("cancer")]), "f.csv", Pseudonymiser("k"), TODAY)
    assert q.num_rows == 0
    assert staged.column("DIAG_DT").to_pylist() == [D(2014, 3, 15)]
    assert staged.column("DIAG_DT_RAW").to_pylist() == ["20140399"]


# -- national IDs ------------------------------------------------------------------------

_letters = st.sampled_from(sorted(LETTER_VALUES))
_seconds = st.sampled_from(list("1289ABCD"))


_WEIGHT = {2: 7, 3: 6, 4: 5, 5: 4, 6: 3, 7: 2, 8: 1, 9: 1}  # position -> checksum weight


@settings(max_examples=300, deadline=None)
@given(letter=_letters, second=_seconds, body=st.integers(0, 9_999_999), pos=st.integers(2, 9), delta=st.integers(1, 9))
def test_valid_ids_pass_and_single_digit_corruptions_fail(letter: str, second: str, body: int, pos: int,
                                                          delta: int) -> None:
    (good,) = make_ids(np.array([ord(letter)], np.uint8), np.array([ord(second)], np.uint8), np.array([body]))
    digit = (int(good[pos]) + delta) % 10
    bad = good[:pos] + str(digit) + good[pos + 1:]
    conv = convert_national_id(pa.array([good, f" {good} ", bad]))
    assert conv.invalid[:2].tolist() == [False, False]
    # A mod-10 checksum cannot see a change whose weighted difference is a multiple of 10
    # (weight 5 with an even change, weights 2/4/6/8 with a change of 5); every other one fails.
    detectable = (_WEIGHT[pos] * delta) % 10 != 0
    assert conv.invalid[2] == detectable
    if _WEIGHT[pos] in (1, 3, 7, 9):
        assert conv.invalid[2]
    assert valid_mask([good, bad]).tolist() == [True, not detectable]


def test_cached_pseudonyms_match_fresh_ones_across_chunks_and_cache_resets() -> None:
    p = Pseudonymiser("site-secret", cache_size=3)  # small cache: the second batch forces a reset
    for batch in ([PID[0], PID[1], PID[0], None], [PID[1], PID[2], PID[3]], [PID[0]]):
        assert p.column(pa.array(batch, pa.string())).to_pylist() == [None if b is None else p.one(b) for b in batch]


# -- whole chunks --------------------------------------------------------------------------------


def test_first_problem_in_column_order_wins_and_ids_are_withheld() -> None:
    rows = [
        row("opdte"),  # 2 good
        row("opdte", APPL_DATE="20141301", ID="A123456788"),  # 3 APPL_DATE comes before ID
        row("opdte", ID="A123456788", DRUG_DAY="x"),  # 4 ID before DRUG_DAY
        row("opdte", SEQ_NO="", FUNC_DATE="2"),  # 5 missing SEQ_NO first
        row("opdte", T_DOT="1.5"),  # 6 bad_number
        row("opdte", ICD9CM_1=""),  # 7 optional blank: fine
        row("opdte", ID=""),  # 8 missing ID
    ]
    staged, q = type_chunk(layout.OPDTE, raw_table(layout.OPDTE, rows), "h_nhi_opdte10301.csv",
                           Pseudonymiser("k"), TODAY)
    assert staged.schema == staging_schema(layout.OPDTE)
    assert staged.column("_row_number").to_pylist() == [2, 7]
    assert staged.column("person_key").to_pylist() == [Pseudonymiser("k").one(PID[0])] * 2
    got = [(r["row_number"], r["reason"], r["column"]) for r in q.to_pylist()]
    assert got == [
        (3, "impossible_date", "APPL_DATE"),
        (4, "invalid_national_id", "ID"),
        (5, "missing_required", "SEQ_NO"),
        (6, "bad_number", "T_DOT"),
        (8, "missing_required", "ID"),
    ]
    details = q.column("detail").to_pylist()
    assert details[0] == "APPL_DATE='20141301' is not a date YYYYMMDD in 1900..today"
    assert "A123456788" not in " ".join(details) and "withheld" in details[1]
    assert set(q.column("file_type").to_pylist()) == {"opdte"}


def test_staged_types_follow_the_layout() -> None:
    for ft in layout.FILE_TYPES:
        schema = staging_schema(ft)
        assert [(f.name, str(f.type)) for f in schema] == [
            (n, {"date32": "date32[day]", "float64": "double"}.get(t, t)) for n, t in layout.staging_columns(ft)
        ]


def test_date_converters_accept_empty_chunks():
    """Regression: an all-filtered chunk reached convert_roc_date with zero rows and crashed."""
    import datetime as dt

    import pyarrow as pa

    from connectors.typed_columns import convert_date, convert_roc_date

    for conv in (convert_roc_date, convert_date):
        out = conv(pa.array([], type=pa.string()), dt.date(2026, 1, 1))
        assert len(out.values) == 0 and out.values.type == pa.date32()
