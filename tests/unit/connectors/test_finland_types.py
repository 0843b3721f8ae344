"""Typed conversion of the Finnish column kinds: fi_date, iso_date, fi_decimal, study_id, hetu, NA tokens."""

from __future__ import annotations

import datetime as dt
import re

import pyarrow as pa
import pyarrow.compute as pc
from finland_raw import BAD_HETU, HETU, row
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.finland import layout
from connectors.pseudonym import Pseudonymiser
from connectors.typed_columns import (
    TEMPORARY_FLAG,
    convert_fi_date,
    convert_fi_decimal,
    convert_iso_date,
    convert_study_id,
    staging_schema,
    type_chunk,
)

TODAY = dt.date(2024, 6, 30)
D = dt.date
SECRET = "test-site-secret"


def raw_table(ft: layout.FileType, rows: list[dict[str, str]]) -> pa.Table:
    cols = {c: [r.get(c, "") for r in rows] for c in ft.column_names}
    cols["_row_number"] = list(range(2, 2 + len(rows)))
    return pa.table({k: pa.array(v, pa.string() if k != "_row_number" else pa.int64()) for k, v in cols.items()})


def typed(ft_key: str, rows: list[dict[str, str]]) -> tuple[pa.Table, pa.Table]:
    ft = layout.BY_KEY[ft_key]
    name = ft.file_name(2019) if ft.period == "year" else ft.file_name()
    return type_chunk(ft, raw_table(ft, rows), f"landing/{name}", Pseudonymiser(SECRET), TODAY)


# -- fi_date -------------------------------------------------------------------------------------


def test_fi_date_forms_with_and_without_time() -> None:
    c = convert_fi_date(
        pa.array(["01.02.2019", "1.2.2019", "01.02.2019 08:15", "1.2.2019 8:15:30", " 07.02.2019 ", "", "   "]), TODAY
    )
    assert c.values.to_pylist() == [D(2019, 2, 1)] * 4 + [D(2019, 2, 7), None, None]
    assert not c.invalid.any()
    assert c.missing.tolist() == [False] * 5 + [True, True]
    assert c.reason == "impossible_date"


def test_fi_date_refuses_impossible_and_malformed() -> None:
    values = ["31.02.2019", "29.02.2019", "00.01.2019", "01.13.2019", "01-02-2019", "2019-02-01", "01.02.19",
              "01.02.2019T08:15", "01.02.2019 08", "01.02.2019  08:15", "a1.02.2019", "01.02.2019 08:15:30:00"]
    c = convert_fi_date(pa.array(values), TODAY)
    assert c.values.null_count == len(values)
    assert c.invalid.all() and not c.missing.any()
    ok = convert_fi_date(pa.array(["29.02.2020"]), TODAY)  # leap year
    assert ok.values.to_pylist() == [D(2020, 2, 29)]


def test_fi_date_plausibility_window() -> None:
    c = convert_fi_date(pa.array(["30.06.2024", "01.07.2024", "01.01.1900", "31.12.1899", "13.10.1852"]), TODAY)
    assert c.values.to_pylist() == [D(2024, 6, 30), None, D(1900, 1, 1), None, None]
    assert c.invalid.tolist() == [False, True, False, True, True]
    born = convert_fi_date(
        pa.array(["13.10.1852", "01.01.1800", "31.12.1799", "01.07.2024"]), TODAY, earliest_year=1800
    )
    assert born.values.to_pylist() == [D(1852, 10, 13), D(1800, 1, 1), None, None]
    assert "1800..today" in born.message


def test_earliest_year_is_1800_for_syntymapv_only() -> None:
    by_col = {c.name: c for c in layout.POPULATION.columns}
    assert by_col["SYNTYMAPV"].earliest_year == 1800
    others = [c for ft in layout.FILE_TYPES for c in ft.columns if c.kind == "fi_date" and c.name != "SYNTYMAPV"]
    assert others and all(c.earliest_year == 1900 for c in others)
    old = "050587+0112"  # henkilötunnus of a person born 05.05.1887
    staged, quarantine = typed("population", [
        row("population", HETU=old, SYNTYMAPV="05.05.1887"),  # birth in the 1800s: fine
        row("population", HETU=HETU[1], SYNTYMAPV="01.01.1950", KUOLINPV="05.05.1887"),  # death in 1887: refused
    ])
    assert staged.column("SYNTYMAPV").to_pylist() == [D(1887, 5, 5)]
    assert staged.column("hetu_birth_date").to_pylist() == [D(1887, 5, 5)]
    assert quarantine.column("reason").to_pylist() == ["impossible_date"]
    assert quarantine.column("column").to_pylist() == ["KUOLINPV"]
    assert quarantine.column("detail").to_pylist() == [
        "KUOLINPV='05.05.1887' is not a date dd.mm.yyyy [hh:mm] in 1900..today"
    ]


def test_future_care_date_is_quarantined_with_detail() -> None:
    staged, quarantine = typed("hilmo", [row("hilmo"), row("hilmo", HILMO_ID="H2", TUPVA="01.01.2031 10:00")])
    assert staged.column("TUPVA").to_pylist() == [D(2019, 2, 3)]
    assert staged.column("LPVM").to_pylist() == [D(2019, 2, 7)]
    assert quarantine.column("reason").to_pylist() == ["impossible_date"]
    assert quarantine.column("row_number").to_pylist() == [3]
    assert quarantine.column("detail").to_pylist()[0].startswith("TUPVA='01.01.2031 10:00' is not a date")


_dates = st.dates(D(1900, 1, 1), TODAY)


@settings(max_examples=200, deadline=None)
@given(_dates, st.booleans(), st.sampled_from(["", " 08:15", " 23:59:59", " 0:00"]))
def test_any_valid_date_round_trips(d: dt.date, short: bool, time: str) -> None:
    text = (f"{d.day}.{d.month}.{d.year:04d}" if short else f"{d.day:02d}.{d.month:02d}.{d.year:04d}") + time
    c = convert_fi_date(pa.array([text]), TODAY)
    assert c.values.to_pylist() == [d]
    assert not c.invalid.any() and not c.missing.any()


_REF = re.compile(r"^([0-9]{1,2})\.([0-9]{1,2})\.([0-9]{4})(?: ([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?)?$")


def _reference(text: str, earliest: int = 1900) -> tuple[dt.date | None, bool]:
    """(date or None, whether the time part is an impossible time such as 25:99: see the xfail below)."""
    m = _REF.match(text.strip(" \t"))
    if not m:
        return None, False
    odd_time = m.group(4) is not None and (
        int(m.group(4)) > 23 or int(m.group(5)) > 59 or int(m.group(6) or 0) > 59
    )
    try:
        d = dt.date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
    except ValueError:
        return None, odd_time
    return (d if D(earliest, 1, 1) <= d <= TODAY else None), odd_time


_junk = st.one_of(
    st.text(max_size=24),
    st.text(alphabet="0123456789.: -", max_size=22),
    st.builds(lambda a, b, c, t: f"{a}.{b}.{c}{t}", st.integers(-5, 120), st.integers(-5, 120),
              st.integers(0, 99999), st.sampled_from(["", " 08:15", " 8:15:00", "  1:1", ":"])),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_junk, min_size=1, max_size=8))
def test_random_junk_is_parsed_or_impossible_date(values: list[str]) -> None:
    values = [v.replace(";", ",") for v in values]
    c = convert_fi_date(pa.array(values), TODAY)
    for i, v in enumerate(values):
        expected, odd_time = _reference(v)
        got = c.values[i].as_py()
        assert bool(c.invalid[i]) == (got is None and not c.missing[i])  # parsed, or refused
        if v.strip(" \t") == "":
            assert c.missing[i] and got is None
        elif expected is None:
            assert c.invalid[i] and got is None
        elif odd_time:  # today accepted (time dropped); refused once the time is checked
            assert got in (expected, None)
        else:
            assert got == expected and not c.invalid[i]
    # through a whole chunk: every row staged or quarantined as impossible_date on the optional column
    rows = [row("population", KUOLINPV=v) for v in values]
    staged, quarantine = typed("population", rows)
    assert staged.num_rows + quarantine.num_rows == len(values)
    assert set(quarantine.column("reason").to_pylist()) <= {"impossible_date"}
    assert set(quarantine.column("column").to_pylist()) <= {"KUOLINPV"}


# -- iso_date, fi_decimal, study_id ------------------------------------------------------------------


def test_iso_date() -> None:
    c = convert_iso_date(pa.array(["2015-04-01", "2015-4-1", "2015-02-30", "01.04.2015", "1899-12-31",
                                   "2024-07-01", "", " 2015-04-01 "]), TODAY)
    assert c.values.to_pylist() == [D(2015, 4, 1), None, None, None, None, None, None, D(2015, 4, 1)]
    assert c.invalid.tolist() == [False, True, True, True, True, True, False, False]
    assert c.missing.tolist() == [False] * 6 + [True, False]


def test_fi_decimal_comma_point_sign_and_junk() -> None:
    c = convert_fi_decimal(pa.array(["12,50", "12.50", "-1", "-0,5", " 3 ", "", "1,2,3", "12,5.0", "abc", "nan",
                                     "0x10", "1 000"]))
    assert c.values.to_pylist() == [12.5, 12.5, -1.0, -0.5, 3.0, None, None, None, None, None, None, None]
    assert c.invalid.tolist() == [False] * 6 + [True] * 6
    assert c.missing.tolist() == [False] * 5 + [True] + [False] * 6
    assert c.reason == "bad_number" and "12,50" in c.message


def test_kela_purchase_decimals_staged_and_bad_number_quarantined() -> None:
    staged, quarantine = typed("kela_purchase", [
        row("kela_purchase", PLKM="-1", KORV_EUR="12,50", KAKORV_EUR="0.75"),
        row("kela_purchase", KORV_EUR="12,5 e"),
    ])
    assert staged.column("PLKM").to_pylist() == [-1.0]
    assert staged.column("KORV_EUR").to_pylist() == [12.5]
    assert staged.column("KAKORV_EUR").to_pylist() == [0.75]
    assert staged.column("VNRO").to_pylist() == ["012345"]  # leading zero kept: a code, not a number
    assert quarantine.column("reason").to_pylist() == ["bad_number"]
    assert quarantine.column("detail").to_pylist() == ["KORV_EUR='12,5 e' is not a decimal number (12,50 or 12.50)"]


def test_study_id() -> None:
    c = convert_study_id(pa.array(["FG00000001", " FG2 ", "x_-9", "FG 1", "FG1;", "a" * 64, "a" * 65, "", "FÖ1"]))
    assert c.values.to_pylist()[:3] == ["FG00000001", "FG2", "x_-9"]
    assert c.invalid.tolist() == [False, False, False, True, True, False, True, False, True]
    assert c.missing.tolist() == [False] * 7 + [True, False]
    assert c.reason == "invalid_national_id"


def test_finngen_na_tokens_are_missing_and_study_id_is_rekeyed() -> None:
    staged, quarantine = typed("finngen", [
        row("finngen"),
        row("finngen", SOURCE="PURCH", CODE1="C09AA02", CODE2="NA", CODE3="012345", CODE4="2", ICDVER="ATC",
            CATEGORY="NA", INDEX="FG1_PURCH_1"),
        row("finngen", FINNGENID="NA"),  # required, NA = missing
        row("finngen", APPROX_EVENT_DAY="NA", INDEX="FG1_X"),  # required date missing
        row("finngen", FINNGENID="FG 1"),  # not a study id: withheld in the detail
        row("finngen", EVENT_AGE="NA,5"),
    ])
    assert staged.schema == staging_schema(layout.FINNGEN)
    assert staged.column("CODE2").to_pylist() == [None, None]
    assert staged.column("CATEGORY").to_pylist() == ["0", None]
    assert staged.column("CODE4").to_pylist() == ["3", "2"]
    assert staged.column("EVENT_AGE").to_pylist() == [61.25, 61.25]
    assert staged.column("person_key").to_pylist() == [Pseudonymiser(SECRET).one("FG00000001")] * 2
    assert "FINNGENID" not in staged.column_names
    assert quarantine.column("reason").to_pylist() == [
        "missing_required", "missing_required", "invalid_national_id", "bad_number"
    ]
    assert quarantine.column("column").to_pylist() == ["FINNGENID", "APPROX_EVENT_DAY", "FINNGENID", "EVENT_AGE"]
    details = quarantine.column("detail").to_pylist()
    assert details[2] == "FINNGENID is not a study id ([A-Za-z0-9_-]{1,64}) (value withheld, 4 characters)"
    assert "FG 1" not in details[2]


def test_na_is_not_a_null_token_in_register_files() -> None:
    staged, _ = typed("kela_purchase", [row("kela_purchase", SAIR="NA")])
    assert staged.column("SAIR").to_pylist() == ["NA"]
    assert layout.KELA_PURCHASE.null_tokens == () and layout.FINNGEN.null_tokens == ("NA",)


# -- henkilötunnus ---------------------------------------------------------------------------------


def test_hetu_column_becomes_person_key_and_what_the_code_states() -> None:
    staged, quarantine = typed("kela_reimb", [
        row("kela_reimb", HETU=HETU[2]),  # man, 1975
        row("kela_reimb", HETU=" " + HETU[1] + " "),  # woman, 1950, padded
        row("kela_reimb", HETU=HETU[3]),  # girl, 2002 ('A')
        row("kela_reimb", HETU=HETU[4]),  # temporary number 902 (kept, flagged)
    ])
    assert quarantine.num_rows == 0
    assert staged.schema == staging_schema(layout.KELA_REIMB)
    names = staged.column_names
    assert names[:4] == ["person_key", TEMPORARY_FLAG, "hetu_birth_date", "hetu_sex"] and "HETU" not in names
    p = Pseudonymiser(SECRET)
    assert staged.column("person_key").to_pylist() == [p.one(h) for h in (HETU[2], HETU[1], HETU[3], HETU[4])]
    assert staged.column(TEMPORARY_FLAG).to_pylist() == [False, False, False, True]
    assert staged.column("hetu_birth_date").to_pylist() == [D(1975, 6, 15), D(1950, 1, 1), D(2002, 2, 2),
                                                             D(1999, 12, 31)]
    assert staged.column("hetu_sex").to_pylist() == ["1", "2", "2", "2"]


def test_invalid_hetu_quarantined_without_the_raw_code() -> None:
    bad = [BAD_HETU, "131052-308t", "310252-308T", "131052G308T", "131052-000J", "131052-308", HETU[0] + "X"]
    staged, quarantine = typed("cod", [row("cod")] + [row("cod", HETU=b) for b in bad] + [row("cod", HETU="  ")])
    assert staged.num_rows == 1
    assert quarantine.column("reason").to_pylist() == ["invalid_national_id"] * len(bad) + ["missing_required"]
    assert set(quarantine.column("column").to_pylist()) == {"HETU"}
    details = quarantine.column("detail").to_pylist()
    for b, detail in zip(bad, details):
        assert detail.startswith("HETU fails the henkilötunnus") and f"withheld, {len(b)} characters)" in detail
        assert b not in detail and b[:6] not in detail and "131052" not in detail
    text = " ".join(str(v) for col in quarantine.columns for v in col.to_pylist())
    assert not any(h in text for h in bad + [HETU[0]])
    assert not pc.any(pc.match_substring(staged.column("person_key"), "131052")).as_py()


def test_hetu_stating_a_birth_after_today_is_invalid() -> None:
    # 131052A308T has a correct check character, but sign A puts the birth on 13.10.2052 (after TODAY);
    # and a valid code with birth date 1.7.2024 is one day after TODAY (the date type_chunk is given)
    from connectors.finland.hetu import is_valid

    assert is_valid("131052A308T")
    born_tomorrow = "010724A" + "902"
    born_tomorrow += "0123456789ABCDEFHJKLMNPRSTUVWXY"[int("010724902") % 31]
    assert is_valid(born_tomorrow)
    staged, quarantine = typed("cod", [row("cod"), row("cod", HETU="131052A308T"), row("cod", HETU=born_tomorrow)])
    assert staged.num_rows == 1
    assert quarantine.column("reason").to_pylist() == ["invalid_national_id"] * 2
    assert all("future birth date" in d for d in quarantine.column("detail").to_pylist())


def test_fi_date_with_an_impossible_time_is_refused() -> None:
    c = convert_fi_date(pa.array(["03.02.2019 25:99", "03.02.2019 08:75:99"]), TODAY)
    assert c.invalid.tolist() == [True, True]
