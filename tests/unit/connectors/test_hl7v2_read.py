"""Reading HL7 v2 files: encodings, versions 2.3-2.8, Z-segments, identifiers, workers, synthetic reconciliation."""

from __future__ import annotations

import codecs
import json

import pytest
from hl7v2_samples import FI_ID, SECRET, TW_ID, adt, oru, write

from connectors.hl7v2 import DuplicateSourceName, read_hl7v2
from connectors.hl7v2.structure import SUPPORTED_VERSIONS
from connectors.pseudonym import Pseudonymiser
from crossbridge.synth.hl7v2 import generate_hl7v2


@pytest.mark.parametrize("charset, encoding, name, label", [
    ("UNICODE UTF-8", "utf-8", "王^小明", "utf-8 (declared)"),
    ("8859/1", "latin-1", "MÄKINEN^MATTI", "latin-1 (declared)"),
    ("ASCII", "ascii", "WANG^XIAO", "ascii (declared)"),
    ("BIG-5", "cp950", "王^育", "cp950 (declared)"),  # 育 is 0xA8 0x7C in Big5: a '|' byte inside the name
    ("", "utf-8", "王^小明", "utf-8 (undeclared)"),
    ("", "latin-1", "MÄKINEN^MATTI", "latin-1 (undeclared)"),
])
def test_character_sets(tmp_path, charset, encoding, name, label):
    path = write(tmp_path, "f.hl7", [adt(charset=charset, name=name)], encoding=encoding)
    batch = read_hl7v2([path], secret=SECRET, site="taiwan")
    assert batch.counts["mapped"] == 1, batch.quarantine.to_pylist()
    assert batch.counts["encodings"] == {label: 1}
    assert batch.messages[0]["patient"]["birth_date"] == "1980-01-01"  # fields after the name read correctly


def test_byte_order_marks(tmp_path):
    utf8 = write(tmp_path, "bom8.hl7", [adt(name="王^小明")], prefix=codecs.BOM_UTF8)
    utf16 = tmp_path / "bom16.hl7"
    utf16.write_bytes(codecs.BOM_UTF16_LE + (adt(name="王^小明") + "\r").encode("utf-16-le"))
    batch = read_hl7v2([utf8, utf16], secret=SECRET, site="taiwan")
    assert batch.counts["encodings"] == {"utf-8 (bom)": 1, "utf-16 (bom)": 1}
    assert {f: v["bom"] for f, v in batch.counts["files"].items()} == {"bom8.hl7": "utf-8", "bom16.hl7": "utf-16"}


@pytest.mark.parametrize("version", sorted(SUPPORTED_VERSIONS))
def test_every_supported_version_maps(tmp_path, version):
    path = write(tmp_path, "f.hl7", [adt(version=version), oru(version=version, control="L2")])
    batch = read_hl7v2([path], secret=SECRET, site="taiwan")
    assert batch.counts["mapped"] == 2, batch.quarantine.to_pylist()
    assert batch.counts["versions"] == {version: 2}


def test_z_segments_are_ignored_but_the_message_accepted(tmp_path):
    msg = adt(extra=("ZPV|1|VIP^Y~X&Y|free text",)).replace("\rPV1|", "\rZPI|custom|1^2^3\rPV1|")
    batch = read_hl7v2([write(tmp_path, "f.hl7", [msg])], secret=SECRET, site="taiwan")
    assert batch.counts["mapped"] == 1
    assert batch.messages[0]["visit"]["class"] == "I"


def test_identifiers_are_pseudonymised_at_once(tmp_path):
    ids = f"{TW_ID}^^^MOI^NNTWN~MR1^^^HOSP^MR"
    batch = read_hl7v2([write(tmp_path, "f.hl7", [adt(ids=ids)])], secret=SECRET, site="taiwan")
    keys = Pseudonymiser(SECRET)
    assert batch.messages[0]["patient"]["ids"] == [[keys.one(TW_ID), True], [keys.one("HOSP|MR1"), False]]
    text = json.dumps(batch.messages, ensure_ascii=False)
    for raw in (TW_ID, "MR1", "WANG", "XIAO", "Main St", "0912345678", "V1"):
        assert raw not in text


def test_finnish_id_by_shape_and_type(tmp_path):
    m1 = adt(ids=f"{FI_ID}^^^DVV^NNFIN", control="A")
    m2 = adt(ids=f"{FI_ID}^^^DVV", control="B")  # no type: recognised by shape
    batch = read_hl7v2([write(tmp_path, "f.hl7", [m1, m2])], secret=SECRET, site="finland")
    assert [m["patient"]["ids"] for m in batch.messages] == [[[Pseudonymiser(SECRET).one(FI_ID), True]]] * 2


def test_times_take_the_message_offset_or_the_site_zone(tmp_path):
    ids = f"{FI_ID}^^^DVV^NNFIN"
    m1 = adt(ts="202407011200+0300", control="A", ids=ids)  # minutes: seconds padded
    m2 = adt(ts="20240701120000", control="B", ids=ids)  # no offset anywhere: the site zone (Helsinki, +03:00)
    batch = read_hl7v2([write(tmp_path, "f.hl7", [m1, m2])], secret=SECRET, site="finland")
    assert [m["message_time"] for m in batch.messages] == ["2024-07-01T12:00:00+03:00"] * 2
    assert batch.counts["assumed_timezone"] == 1


def test_progress_and_file_counts(tmp_path):
    f1 = write(tmp_path, "a.hl7", [adt(control=f"A{i}") for i in range(70)], mllp=True)
    f2 = write(tmp_path, "b.hl7", ["garbage line without msh", adt(control="B1")])
    seen: list[int] = []
    batch = read_hl7v2([f1, f2], secret=SECRET, site="taiwan", progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 72
    assert batch.counts["files"]["a.hl7"]["messages_in"] == 70
    assert batch.counts["files"]["b.hl7"] == {"messages_in": 2, "mapped": 1, "quarantined": 1,
                                             "envelope_segments": 0, "bom": None}


def test_duplicate_file_names_are_refused(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    with pytest.raises(DuplicateSourceName, match="f.hl7"):
        read_hl7v2([write(tmp_path / "x", "f.hl7", [adt()]), write(tmp_path / "y", "f.hl7", [adt()])],
                   secret=SECRET, site="taiwan")


@pytest.mark.parametrize("site, framing", [("taiwan", "mixed"), ("finland", "mllp")])
def test_synthetic_feed_reconciles_exactly(tmp_path, site, framing):
    report = generate_hl7v2(tmp_path, messages=240, seed=3, site=site, defect_rate=0.15, framing=framing)
    batch = read_hl7v2(sorted(tmp_path.glob("*.hl7")), secret=SECRET, site=site)
    exp = report.expected
    assert batch.counts["reconciled"]
    assert batch.counts["messages_in"] == exp["messages_in"] == 240
    assert batch.counts["mapped"] == exp["mapped"]
    assert batch.counts["quarantined"] == exp["quarantined"]
    assert set(exp["quarantined"]) == {"unsupported_message_type", "unsupported_version", "missing_required_field",
                                       "bad_date", "malformed", "bad_encoding", "invalid_national_id"}
    assert batch.counts["by_type"] == exp["by_type"]
    assert batch.counts["encodings"] == exp["encodings"]
    assert {f: v["messages_in"] for f, v in batch.counts["files"].items()} == report.files


def test_workers_give_identical_output(tmp_path):
    generate_hl7v2(tmp_path, messages=300, seed=11, site="taiwan", defect_rate=0.1, framing="mixed")
    paths = sorted(tmp_path.glob("*.hl7"))
    one = read_hl7v2(paths, secret=SECRET, site="taiwan", workers=1)
    two = read_hl7v2(paths, secret=SECRET, site="taiwan", workers=2)
    assert one.messages == two.messages
    assert one.quarantine.equals(two.quarantine)
    assert one.counts == two.counts


def test_generator_is_deterministic(tmp_path):
    a = generate_hl7v2(tmp_path / "a", messages=80, seed=5, site="finland", defect_rate=0.2)
    b = generate_hl7v2(tmp_path / "b", messages=80, seed=5, site="finland", defect_rate=0.2)
    assert a.expected == b.expected
    for name in a.files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
