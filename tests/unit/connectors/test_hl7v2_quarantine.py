"""Every bad message is quarantined with a clear reason and field, never with identifier values, and no good
message beside it is lost (messages_in == mapped + quarantined)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from hl7v2_samples import FI_BAD, FI_ID, SECRET, TW_BAD, TW_ID, adt, msh, oru, pid, pv1, write

from connectors.hl7v2 import REASONS, read_hl7v2
from connectors.hl7v2.framing import RawMessage
from connectors.hl7v2.parse import ParseContext, parse_raw_message
from connectors.pseudonym import MissingSiteSecret, Pseudonymiser
from connectors.quarantine import QUARANTINE_SCHEMA, check_reasons


_CTX = ParseContext(Pseudonymiser(SECRET), "taiwan", ZoneInfo("Asia/Taipei"))


def _bytes_latin1_declared_utf8() -> bytes:
    return adt(control="B1", charset="UNICODE UTF-8", name="MÄKINEN^MATTI").encode("latin-1")


CASES = {  # case -> (bad message, site, reason, column, text the detail must contain)
    "message type": (adt("A05"), "taiwan", "unsupported_message_type", "MSH-9", "ADT^A05"),
    "non-ADT type": (msh("ORM^O01") + "\r" + pid(), "taiwan", "unsupported_message_type", "MSH-9", "ORM^O01"),
    "version 2.2": (adt(version="2.2"), "taiwan", "unsupported_version", "MSH-12", "'2.2'"),
    "version 2.9": (adt(version="2.9"), "taiwan", "unsupported_version", "MSH-12", "'2.9'"),
    "no version": (adt(version=""), "taiwan", "missing_required_field", "MSH-12", "MSH-12"),
    "empty PID-3": (adt(ids=""), "taiwan", "missing_required_field", "PID-3", "PID-3"),
    "PID-3 without id": (adt(ids="^^^HOSP^MR"), "taiwan", "missing_required_field", "PID-3", "PID-3"),
    "no PID": (msh() + "\rEVN|A01|20240105\r" + pv1(), "taiwan", "missing_required_field", "PID", "no PID"),
    "no visit number": (adt(visit=""), "taiwan", "missing_required_field", "PV1-19", "PV1-19"),
    "no patient class": (adt(cls=""), "taiwan", "missing_required_field", "PV1-2", "PV1-2"),
    "A40 without MRG": (adt("A40"), "taiwan", "missing_required_field", "MRG", "MRG"),
    "ORU without OBR": (msh("ORU^R01") + "\r" + pid(), "taiwan", "missing_required_field", "OBR", "OBR"),
    "OBX-3 empty": (oru(obx=("OBX|1|NM|||95||||||F",)), "taiwan", "missing_required_field", "OBX-3", "OBX-3"),
    "OBX-11 empty": (oru(obx=("OBX|1|NM|2345-7^Glucose^LN||95",)), "taiwan", "missing_required_field", "OBX-11",
                     "OBX-11"),
    "birth date": (adt(birth="19801345"), "taiwan", "bad_date", "PID-7", "PID-7"),
    "Feb 30": (adt(birth="20230230"), "taiwan", "bad_date", "PID-7", "calendar"),
    "message time": (adt(ts="2024010"), "taiwan", "bad_date", "MSH-7", "MSH-7"),
    "offset": (adt(ts="20240105080000+2500"), "taiwan", "bad_date", "MSH-7", "offset"),
    "OBX-14": (oru(obx=("OBX|1|NM|2345-7^Glucose^LN||95||||||F|||20241301",)), "taiwan", "bad_date", "OBX-14", "OBX-14"),
    "repeated sex": (adt().replace("|19800101|M|", "|19800101|M~F|"), "taiwan", "malformed", "PID-8",
                     "MaxChildLimitReached"),
    "unknown segment": (adt(extra=("XYZ|1|2",)), "taiwan", "malformed", "XYZ", "not defined"),
    "too many components": (adt().replace("V1^^^HOSP^VN", "V1^^^HOSP^VN^^^^^^^^^^^x"), "taiwan", "malformed",
                            "PV1-19", "InvalidName"),
    "NM not a number": (oru(obx=("OBX|1|NM|2345-7^Glucose^LN||high||||||F",)), "taiwan", "malformed", "OBX-5",
                        "not a number"),
    "OBX before OBR": (msh("ORU^R01") + "\r" + pid() + "\rOBX|1|NM|2345-7^G^LN||1||||||F\rOBR|1|||X^Y^LN",
                       "taiwan", "malformed", "OBX", "before any OBR"),
    "bad MSH-2": (adt().replace("MSH|^~\\&|", "MSH|^^\\&|", 1), "taiwan", "malformed", "MSH-2", "encoding characters"),
    "declared UTF-8, Latin-1 bytes": (_bytes_latin1_declared_utf8(), "finland", "bad_encoding", "MSH-18",
                                      "UNICODE UTF-8"),
    "unknown character set": (adt(charset="EBCDIC"), "taiwan", "bad_encoding", "MSH-18", "EBCDIC"),
    "declared ASCII, UTF-8 bytes": (adt(charset="ASCII", name="王^小明"), "taiwan", "bad_encoding", "MSH-18", "ASCII"),
    "Taiwan id (NNTWN)": (adt(ids=f"{TW_BAD}^^^MOI^NNTWN"), "taiwan", "invalid_national_id", "PID-3",
                          "Taiwan national ID"),
    "Taiwan id by shape": (adt(ids=f"MR1^^^HOSP^MR~{TW_BAD}^^^MOI"), "taiwan", "invalid_national_id", "PID-3",
                           "repetition 2"),
    "Taiwan id (NI)": (adt(ids="B12345678^^^MOI^NI"), "taiwan", "invalid_national_id", "PID-3", "Taiwan"),
    "hetu (NNFIN)": (adt(ids=f"{FI_BAD}^^^DVV^NNFIN"), "finland", "invalid_national_id", "PID-3", "henkilötunnus"),
    "hetu (NI, Finland)": (adt(ids=f"{FI_BAD}^^^DVV^NI"), "finland", "invalid_national_id", "PID-3", "henkilötunnus"),
    "NI without a site": (adt(ids="XYZ123^^^MOI^NI"), None, "invalid_national_id", "PID-3", "no recognisable country"),
    "MRG-1 national id": (adt("A40", extra=(f"MRG|{TW_BAD}^^^MOI^NNTWN",)), "taiwan", "invalid_national_id", "MRG-1",
                          "Taiwan"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_message_is_quarantined_and_its_neighbours_mapped(tmp_path, case):
    bad, site, reason, column, text = CASES[case]
    good_ids = f"{FI_ID}^^^DVV^NNFIN~MR1^^^HOSP^MR" if site == "finland" else None
    goods = [adt(control="G1", ids=good_ids), oru(control="G2", ids=good_ids)]
    path = write(tmp_path, "feed.hl7", [goods[0], bad, goods[1]])
    batch = read_hl7v2([path], secret=SECRET, site=site)
    assert batch.counts["messages_in"] == 3 and batch.counts["mapped"] == 2 and batch.counts["reconciled"]
    assert [m["control_id"] for m in batch.messages] == ["G1", "G2"]
    assert batch.counts["quarantined"] == {reason: 1}
    assert batch.quarantine.schema.equals(QUARANTINE_SCHEMA)
    row = batch.quarantine.to_pylist()[0]
    assert (row["source_file"], row["row_number"], row["file_type"], row["reason"], row["column"]) == \
        ("feed.hl7", 2, "hl7v2", reason, column)
    assert text in row["detail"], row["detail"]
    for value in (TW_ID, TW_BAD, FI_ID, FI_BAD, "MR1", "WANG", "MÄKINEN", "0912345678", "1 Main St"):
        assert value not in row["detail"]
    check_reasons(batch.quarantine, REASONS)


def test_orphan_segments_are_quarantined_as_one_item(tmp_path):
    path = write(tmp_path, "feed.hl7", ["PID|1||X^^^H^MR\rOBX|1", adt()])
    batch = read_hl7v2([path], secret=SECRET, site="taiwan")
    assert batch.counts["messages_in"] == 2 and batch.counts["mapped"] == 1 and batch.counts["reconciled"]
    row = batch.quarantine.to_pylist()[0]
    assert (row["row_number"], row["reason"], row["column"]) == (1, "malformed", None)
    assert "2 segment(s) outside any message" in row["detail"]


def test_many_bad_messages_none_lost(tmp_path):
    bads = [CASES[c][0] for c in sorted(CASES) if CASES[c][1] == "taiwan"]
    goods = [adt(control=f"G{i}", visit=f"V{i}") for i in range(len(bads))]
    mixed = [m for pair in zip(goods, bads) for m in pair]
    path = write(tmp_path, "feed.hl7", mixed, sep="\r\n")
    batch = read_hl7v2([path], secret=SECRET, site="taiwan")
    assert batch.counts["mapped"] == len(goods)
    assert batch.counts["quarantined_total"] == len(bads)
    assert sorted(batch.quarantine.column("row_number").to_pylist()) == list(range(2, 2 * len(bads) + 1, 2))


def test_empty_secret_unknown_site_and_zone_are_refused(tmp_path):
    from zoneinfo import ZoneInfoNotFoundError

    from terminology.fhir_profiles import UnknownSite

    path = write(tmp_path, "f.hl7", [adt()])
    with pytest.raises(MissingSiteSecret):
        read_hl7v2([path], secret="", site="taiwan")
    with pytest.raises(UnknownSite, match="sweden"):
        read_hl7v2([path], secret=SECRET, site="sweden")
    with pytest.raises(ZoneInfoNotFoundError):
        read_hl7v2([path], secret=SECRET, site="taiwan", timezone="Mars/Olympus")


_EDIT = st.tuples(st.integers(0, 10**6), st.integers(0, 5),
                  st.text(alphabet="|^~\\&\r0123456789AZaz-+.<> é王\x00", max_size=10))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base=st.sampled_from([adt(), adt("A40", extra=("MRG|MR9^^^HOSP^MR",)), oru(),
                             oru(obx=("OBX|1|SN|1^a^LN||<^5||||||F", "OBX|2|CWE|x^y^L||A^B^L~C||||||F"))]),
       edits=st.lists(_EDIT, max_size=10))
def test_no_damaged_message_raises(base, edits):
    """Whatever is damaged, a message ends as a record or as a rejection with a known reason."""
    text = base
    for pos, dropped, inserted in edits:
        p = pos % (len(text) + 1)
        text = text[:p] + inserted + text[p + dropped:]
    out = parse_raw_message(RawMessage(1, text.encode("utf-8")), _CTX)
    assert isinstance(out, dict) or out.reason in REASONS
