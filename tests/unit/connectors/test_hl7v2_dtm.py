"""HL7 date/times -> FHIR: precision kept, offsets from the value, the message or the zone; bad values refused."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, strategies as st

from connectors.hl7v2.dtm import BadDate, parse_offset, to_fhir_date, to_fhir_datetime, to_fhir_instant

TPE = dt.timezone(dt.timedelta(hours=8))


@pytest.mark.parametrize("value, expected", [
    ("2024", "2024"), ("202401", "2024-01"), ("20240105", "2024-01-05"),
    ("2024010512", "2024-01-05T12:00:00+08:00"), ("202401051230", "2024-01-05T12:30:00+08:00"),
    ("20240105123045", "2024-01-05T12:30:45+08:00"), ("20240105123045.12", "2024-01-05T12:30:45.12+08:00"),
    ("20240105123045-0500", "2024-01-05T12:30:45-05:00"), ("20240105+0000", "2024-01-05"),
])
def test_precision_and_offset(value, expected):
    assert to_fhir_datetime(value, default_offset=TPE).fhir == expected


def test_zone_when_no_offset_is_given():
    t = to_fhir_datetime("20240115120000", zone=ZoneInfo("Europe/Helsinki"))
    assert (t.fhir, t.assumed) == ("2024-01-15T12:00:00+02:00", True)
    assert to_fhir_datetime("20240715120000", zone=ZoneInfo("Europe/Helsinki")).fhir.endswith("+03:00")
    assert to_fhir_datetime("20240715120000+0000", zone=ZoneInfo("Europe/Helsinki")).assumed is False


@pytest.mark.parametrize("value", ["20240230", "2024013125", "2024011", "20240105.5", "abcd", "", "2024-01-05",
                                   "20240105120000+2500", "202401051261"])
def test_bad_values(value):
    with pytest.raises(BadDate):
        to_fhir_datetime(value)


def test_date_and_instant():
    assert to_fhir_date("198001011230") == "1980-01-01"
    assert to_fhir_instant(to_fhir_datetime("202401051230", default_offset=TPE)) is None
    assert to_fhir_instant(to_fhir_datetime("20240105123000", default_offset=TPE)) == "2024-01-05T12:30:00+08:00"
    assert parse_offset("20240105+0530") == dt.timezone(dt.timedelta(hours=5, minutes=30))
    assert parse_offset("20240105") is None


@given(st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2100, 1, 1)))
def test_round_trip_of_second_precision(moment):
    t = to_fhir_datetime(moment.strftime("%Y%m%d%H%M%S") + "+0800")
    assert dt.datetime.fromisoformat(t.fhir) == moment.replace(microsecond=0, tzinfo=TPE)
    assert t.epoch == moment.replace(microsecond=0, tzinfo=TPE).timestamp()
