"""The cached structural check gives hl7apy's own verdict: ``parse_segment(..., STRICT)`` accepts a segment
exactly when :func:`connectors.hl7v2.structure.check_segments` does."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from connectors.hl7v2.structure import StructuralError, check_segments, clear_cache, library_version

SEPS = "|^~\\&"
ENC = {"FIELD": "|", "COMPONENT": "^", "SUBCOMPONENT": "&", "REPETITION": "~", "ESCAPE": "\\",
       "SEGMENT": "\r", "GROUP": "\r"}
VERSIONS = ["2.3", "2.4", "2.5", "2.6", "2.8"]
SAMPLES = [
    "MSH|^~\\&|LIS|HOSP|HUB|XB|20240105120000+0800||ORU^R01|C1|P|2.5|||AL|NE||UNICODE UTF-8",
    "EVN||20240105080000",
    "PID|1||A123456789^^^MOI^NNTWN~MR1^^^HOSP&1.2.3&ISO^MR||WANG^XIAO^M||19800101|M|||1 Main St&Main&1^^Taipei^^100"
    "||^PRN^PH^^^^0912345678",
    "PV1|1|I|W1^101^A^HOSP||||1234^DOC^ONE|||MED|||||||||V1^^^HOSP^VN",
    "MRG|MR9^^^HOSP^MR",
    "OBR|1|P1^LIS|F1^LAB|24331-1^Lipid panel^LN|||20240105090000|||||||||||||||20240105120000|||F",
    "OBX|1|NM|2093-3^Cholesterol^LN||5.2|mmol/L^mmol/L^UCUM|3.0-5.0|H~A|||F|||20240105090000+0800",
    "OBX|2|ST|X^Comment^L||free text \\T\\ more^second^&sub||||||F",
    "NTE|1|L|Sample received late",
    "XYZ|1|2",
]
_piece = st.text(alphabet="AZaz09 .-+:/&^~ä王", min_size=0, max_size=8)


def _hl7apy_accepts(segment: str, version: str) -> bool:
    from hl7apy.consts import VALIDATION_LEVEL
    from hl7apy.parser import parse_segment

    try:
        parse_segment(segment, version, ENC, VALIDATION_LEVEL.STRICT)
    except Exception:  # noqa: BLE001 - the reference verdict: any refusal counts
        return False
    return True


def _ours_accepts(segment: str, version: str) -> bool:
    try:
        check_segments([segment.split("|")], version, SEPS)
    except StructuralError:
        return False
    return True


@st.composite
def mutated(draw) -> str:
    fields = draw(st.sampled_from(SAMPLES)).split("|")
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["replace", "append", "long", "extend", "digits", "date"]))
        i = draw(st.integers(1, max(1, len(fields) - 1)))
        if fields[0] == "MSH" and i < 2:
            i = 2
        while len(fields) <= i:
            fields.append("")
        if kind == "replace":
            fields[i] = draw(_piece)
        elif kind == "append":
            fields[i] += draw(_piece)
        elif kind == "long":
            fields[i] = "x" * draw(st.sampled_from([198, 199, 200, 250]))
        elif kind == "digits":
            fields[i] = draw(st.text(alphabet="0123456789.+-", min_size=1, max_size=20))
        elif kind == "date":  # valid and invalid date/times, alone or as a first component
            y, mo, d, h = (draw(st.integers(1900, 2100)), draw(st.integers(0, 13)), draw(st.integers(0, 32)),
                           draw(st.integers(0, 25)))
            value = f"{y}{mo:02d}{d:02d}{h:02d}"[:draw(st.sampled_from([4, 6, 8, 10]))]
            value += draw(st.sampled_from(["", "+0800", "-0500", "+9999", ".5"]))
            fields[i] = value + draw(st.sampled_from(["", "^", "^S"]))
        else:
            fields.extend([""] * draw(st.integers(0, 30)) + [draw(_piece)])
    if fields[0] == "MSH":
        fields[1] = "^~\\&"
    return "|".join(fields)


@pytest.mark.parametrize("version", VERSIONS)
def test_samples_get_hl7apys_verdict(version):
    for seg in SAMPLES:
        assert _ours_accepts(seg, version) == _hl7apy_accepts(seg, version), (version, seg)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(segment=mutated(), version=st.sampled_from(VERSIONS), cold=st.booleans())
def test_mutated_segments_get_hl7apys_verdict(segment, version, cold):
    if cold:
        clear_cache()
    assert _ours_accepts(segment, version) == _hl7apy_accepts(segment, version), (version, segment)


def test_error_names_the_field_and_never_quotes_the_value():
    secret_value = "SECRETVALUE" * 20  # over ST's 199 characters
    with pytest.raises(StructuralError) as exc:
        check_segments([f"PID|1||{secret_value}^^^HOSP^MR".split("|")], "2.5", SEPS)
    assert exc.value.column == "PID-3"
    assert "MaxLengthReached" in exc.value.detail and "SECRETVALUE" not in exc.value.detail


def test_z_segments_are_not_checked_and_unknown_segments_are_refused():
    check_segments([["ZXY", "anything^at~all&x"]], "2.5", SEPS)
    with pytest.raises(StructuralError, match="not defined in HL7 v2.5") as exc:
        check_segments([["XYZ", "1"]], "2.5", SEPS)
    assert exc.value.column == "XYZ"


def test_supported_versions():
    assert [library_version(v) for v in ("2.3", "2.5.1", "2.7.1", "2.8.2")] == ["2.3", "2.5.1", "2.7", "2.8.2"]
    assert library_version("2.2") is None and library_version("2.9") is None
