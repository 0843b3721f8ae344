"""Release scanner (releases.scanner) and the source names it is fed with (connectors.source_names)."""

from __future__ import annotations

import gzip
import json
import pickle
import string
import uuid

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.finland.hetu import CHECK_CHARS
from connectors.finland.hetu import check_char as hetu_check_char
from connectors.source_names import NotASourceFile, fhir_names_and_addresses, names_and_addresses
from connectors.taiwan.national_id import check_digit as tw_check_digit
from crossbridge.synth.hl7v2 import _SITE, generate_hl7v2
from releases.scanner import (
    OVERLAP_BYTES, PATH_COLUMN, SCHEMA_COLUMN, Denylist, ReleaseBlocked, ScanError, UnreadableReleaseFile,
    raise_if_blocked, scan_release, scan_values,
)


def tw(first9: str) -> str:
    return first9 + tw_check_digit(first9)


def tw_bad(first9: str) -> str:
    return first9 + str((int(tw_check_digit(first9)) + 1) % 10)


def hetu(ddmmyy: str, sign: str, nnn: str) -> str:
    return f"{ddmmyy}{sign}{nnn}{hetu_check_char(ddmmyy, nnn)}"


def hetu_bad(ddmmyy: str, sign: str, nnn: str) -> str:
    good = hetu_check_char(ddmmyy, nnn)
    return f"{ddmmyy}{sign}{nnn}{CHECK_CHARS[(CHECK_CHARS.index(good) + 1) % 31]}"


def hits_of(report) -> set[tuple]:
    return {(h.file, h.column, h.line, h.kind, h.count, h.check_valid) for h in report.hits}


# ----------------------------------------------------------------------------------------------- shapes
@pytest.mark.parametrize("text", [
    "A123456789", "x A123456789 y", "(A123456789)", "id_A123456789_x", "病人A123456789就診", "Ａ１２３４５６７８９",
    tw("A80000001"), tw("Z90000001"), tw("AC1234567"), tw_bad("B22222222"), "A123456789,B123456780",
])
def test_taiwan_id_shapes_are_found(text):
    assert scan_values([text]).get("taiwan_id", 0) >= 1


@pytest.mark.parametrize("text", [
    "131052-308T", hetu("010203", "A", "123"), hetu("311299", "Y", "456"), hetu("150650", "+", "900"),
    hetu("010203", "F", "002"), hetu_bad("131052", "-", "308"), "hetu:131052-308T.",
])
def test_henkilotunnus_shapes_are_found(text):
    assert scan_values([text]) == {"henkilotunnus": 1}


@pytest.mark.parametrize("text", [
    "E11.9", "A12.3", "C349", "2024-01-10", "2024-01-10T08:00:00+08:00", "20240110", "1130110", "民國113年1月10日",
    "33070B", "1101020018", "4329847", "2000000123", "A1234567890", "XA123456789", "a123456789", "A12345678",
    "131052-308T5", "X131052-308T", "131052_308T", "ab" * 32, ("AB12" * 16), str(uuid.UUID(int=2**127 + 12345)),
    str(uuid.UUID(int=12345678901234567890)).upper(), "12345678-1234-1234-1234-123456789012",
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
])
def test_hub_outputs_are_not_ids(text):
    assert scan_values([text]) == {}


def test_check_digits_are_counted_but_shapes_block(tmp_path):
    (tmp_path / "a.csv").write_text(f"id\n{tw('A12345678')}\n{tw_bad('A12345678')}\n{tw_bad('B98765432')}\n"
                                    f"{hetu('131052', '-', '308')} {hetu_bad('131052', '-', '309')}\n")
    report = scan_release(tmp_path)
    assert report.blocked
    assert hits_of(report) == {("a.csv", None, 2, "taiwan_id", 1, 1), ("a.csv", None, 3, "taiwan_id", 1, 0),
                               ("a.csv", None, 4, "taiwan_id", 1, 0), ("a.csv", None, 5, "henkilotunnus", 2, 1)}


def test_exempt_codes_are_counted_not_hits(tmp_path):
    pq.write_table(pa.table({"drug_source_value": ["AC99999100", "AC46525100", "AC99999100", tw("A12345678")]}),
                   tmp_path / "drug.parquet")
    report = scan_release(tmp_path, exempt=["AC99999100", "AC46525100"])
    assert report.exempted == {"taiwan_id": 3}
    assert hits_of(report) == {("drug.parquet", "drug_source_value", None, "taiwan_id", 1, 1)}


# ----------------------------------------------------------------------------------------------- denylist
def test_denylist_normalises_and_ignores_short_and_numeric_entries():
    dl = Denylist(names=["  Mäkelä   Liisa ", "Li", "Wú", "王 小明", "王明", "12345", "O'Brien Seán"],
                  addresses=["12 Main St", "00100", "Helsinki"])
    assert dl.stats["ignored_short"] == 2  # "Li", "Wú"
    assert dl.stats["ignored_no_letter"] == 2  # "12345", "00100"
    assert "MAKELA liisa" in dl and "mäkelä\tLIISA" in dl and "Ｍäkelä Liisa" in dl
    assert "Makela" in dl and "Liisa" in dl  # name parts of >= 4 characters
    assert "王小明" in dl and "王明" in dl  # CJK full names (a CJK character weighs 2)
    assert "王" not in dl and "小明" not in dl  # CJK parts alone are not entries
    assert "o brien sean" in dl and "brien" in dl and "O" not in dl
    assert "12 main st" in dl and "Main" not in dl and "Helsinki" in dl  # address parts are not entries
    assert "Li" not in dl and "12345" not in dl


def test_denylist_is_never_serialised():
    dl = Denylist(names=["Matti Virtanen"])
    with pytest.raises(TypeError, match="never serialised"):
        pickle.dumps(dl)
    assert "Virtanen" not in repr(dl) and repr(dl) == "Denylist(3 entries)"


def test_names_match_whole_words_case_and_accent_insensitively():
    dl = Denylist(names=["Virtanen Matti", "Laine"], addresses=["12 Main St"])
    assert scan_values(["VIRTANEN, matti"], denylist=dl) == {"source_name": 3}  # full name + 2 parts
    assert scan_values(["Virtaset", "Lainen", "Laine-Virtanen"], denylist=dl) == {"source_name": 2}
    assert scan_values(["at 12 main street", "12 Main", "112 Main St"], denylist=dl) == {}
    assert scan_values(["12 MAIN ST.", "office: 12 Main St"], denylist=dl) == {"source_address": 2}


# ----------------------------------------------------------------------------------------------- release folder
NAMES = ["Virtanen Matti", "Mäkelä Liisa", "王 小明"]
ADDRESSES = ["Mannerheimintie 12 A 5 Helsinki", "Mannerheimintie 12 A 5"]


def _clean_table(n: int) -> dict:
    return {
        "person_id": [f"{i:064x}" for i in range(n)],
        "visit_date": [f"2024-01-{1 + i % 28:02d}" for i in range(n)],
        "condition_source_value": ["E11.9", "I10", "C349", "A12.3"][: n] * (n // 4) + ["E11.9"] * (n % 4),
        "run_id": [str(uuid.UUID(int=i)) for i in range(n)],
        "concept_name": ["Type 2 diabetes mellitus"] * n,
    }


@pytest.fixture()
def planted(tmp_path):
    root = tmp_path / "release"
    (root / "omop").mkdir(parents=True)
    data = _clean_table(8)
    data["note"] = ["ok", f"seen {tw('A12345678')} twice {tw('A12345678')}", "ok", "patient Mäkelä", None, "ok",
                    "from Mannerheimintie 12 A 5", "ok"]
    data["code"] = pa.array(["x", hetu_bad("010203", "A", "123"), "x", "x", "y", "y", "y", "x"]).dictionary_encode()
    data["tags"] = [[], ["a"], ["b", "VIRTANEN"], [], [], [], [], []]
    pq.write_table(pa.table(data), root / "omop" / "notes.parquet", row_group_size=3)
    lines = ["person_id,visit_date,code"] + [f"{i:064x},2024-01-10,E11.9" for i in range(20)]
    lines[7] = f"{7:064x},2024-01-10,{tw_bad('F12345678')}"
    lines[12] = f"{12:064x},2024-01-10,王小明"
    (root / "counts.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "fhir.ndjson").write_text(
        json.dumps({"resourceType": "Patient", "id": "x1"}) + "\n"
        + json.dumps({"resourceType": "Observation", "note": "M\u00e4kel\u00e4 Liisa", "id": str(uuid.uuid4())})
        + "\n", encoding="utf-8")  # json.dumps escapes the ä as \u00e4
    (root / "plot.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    return root


def test_every_plant_is_found_and_nothing_else(planted):
    seen = []
    report = scan_release(planted, denylist=Denylist(NAMES, ADDRESSES), progress=lambda f, d, t: seen.append((f, d, t)))
    assert report.blocked
    assert hits_of(report) == {
        ("omop/notes.parquet", "note", None, "taiwan_id", 2, 2),
        ("omop/notes.parquet", "note", None, "source_name", 1, None),
        ("omop/notes.parquet", "note", None, "source_address", 1, None),
        ("omop/notes.parquet", "code", None, "henkilotunnus", 1, 0),
        ("omop/notes.parquet", "tags[]", None, "source_name", 1, None),
        ("counts.csv", None, 8, "taiwan_id", 1, 0),
        ("counts.csv", None, 13, "source_name", 1, None),
        ("fhir.ndjson", None, 2, "source_name", 3, None),  # full name + both parts
    }
    rows = {(h.column, h.kind): h.row for h in report.hits if h.file.endswith(".parquet")}
    assert rows == {("note", "taiwan_id"): 1, ("note", "source_name"): 3, ("note", "source_address"): 6,
                    ("code", "henkilotunnus"): 1, ("tags[]", "source_name"): 2}
    assert [n.file for n in report.not_scanned] == ["plot.png"]
    assert {f.file for f in report.files_scanned} == {"omop/notes.parquet", "counts.csv", "fhir.ndjson"}
    assert seen[-1] == ("plot.png", 4, 4) and len(seen) == 4
    examples = {(h.file, h.kind): h.example for h in report.hits}
    assert examples[("counts.csv", "taiwan_id")] == "F1********"
    assert examples[("omop/notes.parquet", "henkilotunnus")] == "01*********"
    assert examples[("counts.csv", "source_name")] == "王****"  # "王 小明" masked after the first character


def test_report_never_holds_a_matched_value(planted):
    report = scan_release(planted, denylist=Denylist(NAMES, ADDRESSES))
    dumped = json.dumps(report.to_dict(), ensure_ascii=False)
    secrets = [tw("A12345678"), tw_bad("F12345678"), hetu_bad("010203", "A", "123"), "Mäkelä", "makela", "Makela",
               "王小明", "王 小明", "小明", "Mannerheimintie", "mannerheimintie", "VIRTANEN", "virtanen", "liisa"]
    assert not [s for s in secrets if s in dumped]
    with pytest.raises(ReleaseBlocked) as err:
        raise_if_blocked(report)
    message = str(err.value)
    assert "omop/notes.parquet: henkilotunnus, source_address, source_name, taiwan_id" in message
    assert "counts.csv: source_name, taiwan_id" in message and "plot.png" not in message
    assert not [s for s in secrets if s in message]


def test_clean_release_is_not_blocked(tmp_path):
    pq.write_table(pa.table(_clean_table(40)), tmp_path / "person.parquet")
    (tmp_path / "summary.md").write_text("# Counts\n\n| code | n |\n|---|---|\n| E11.9 | 12 |\n| 2024-01-10 | 5 |\n")
    (tmp_path / "catalogue.jsonld").write_text(json.dumps({"@id": str(uuid.uuid4()), "issued": "2024-01-10",
                                                           "checksum": "ab" * 32, "spatial": "Helsinki"}))
    report = scan_release(tmp_path, denylist=Denylist(NAMES, ADDRESSES))
    assert not report.blocked and report.hits == [] and report.not_scanned == []
    assert report.totals() == {"taiwan_id": 0, "henkilotunnus": 0, "source_name": 0, "source_address": 0}
    raise_if_blocked(report)
    raise_if_blocked(report, allow_not_scanned=False)


def test_not_scanned_files_block_only_when_asked(tmp_path):
    (tmp_path / "plot.png").write_bytes(b"\x89PNG\x00")
    (tmp_path / "blob").write_bytes(b"abc\x00def")
    (tmp_path / "archive.zip").write_bytes(b"PK\x03\x04")
    report = scan_release(tmp_path)
    assert not report.blocked
    assert {n.file: n.reason.split(" ")[0] for n in report.not_scanned} == {
        "plot.png": "binary", "blob": "binary", "archive.zip": "binary"}
    raise_if_blocked(report)
    with pytest.raises(ReleaseBlocked, match="archive.zip: not_scanned"):
        raise_if_blocked(report, allow_not_scanned=False)


def test_paths_schema_gzip_latin1_and_markup(tmp_path):
    dl = Denylist(NAMES, ADDRESSES)
    (tmp_path / f"report_{tw('A12345678')}.txt").write_text("nothing here\n")
    table = pa.table({"n": [1, 2]}).replace_schema_metadata({"author": "Liisa Mäkelä"})
    pq.write_table(table, tmp_path / "meta.parquet")
    with gzip.open(tmp_path / "big.csv.gz", "wt", encoding="utf-8") as fh:
        fh.write("a\nb\nVirtanen\n")
    (tmp_path / "legacy.csv").write_bytes("id;nimi\n1;M\xe4kel\xe4\n".encode("latin-1"))
    (tmp_path / "excel.txt").write_text(f"a\tb\n{tw('A12345678')}\t王 小明\n", encoding="utf-16")
    (tmp_path / "EXPORT").write_bytes(f"x\n{tw('B12345678')}\n".encode("utf-16"))  # sniffed: BOM, not binary
    (tmp_path / "page.html").write_text("<p>M&auml;kel&#228;&#10;Liisa</p>\n<p>&#x41;123456789</p>\n")
    report = scan_release(tmp_path, denylist=dl)
    hits = hits_of(report)
    withheld = [h for h in report.hits if h.column == PATH_COLUMN]
    assert [(h.kind, h.count) for h in withheld] == [("taiwan_id", 1)]
    assert withheld[0].file.startswith("[path withheld: file ") and tw("A12345678") not in json.dumps(report.to_dict())
    assert ("meta.parquet", SCHEMA_COLUMN, None, "source_name", 2, None) in hits  # "liisa", "makela" parts
    assert ("big.csv.gz", None, 3, "source_name", 1, None) in hits
    assert ("legacy.csv", None, 2, "source_name", 1, None) in hits
    assert ("page.html", None, 1, "source_name", 3, None) in hits and ("page.html", None, 2, "taiwan_id", 1, 1) in hits
    assert ("excel.txt", None, 2, "taiwan_id", 1, 1) in hits and ("excel.txt", None, 2, "source_name", 1, None) in hits
    assert ("EXPORT", None, 2, "taiwan_id", 1, 1) in hits
    encodings = {f.file: f.encoding for f in report.files_scanned}
    assert encodings["legacy.csv"] == "latin-1 (not UTF-8)" and encodings["big.csv.gz"] == "utf-8"
    assert encodings["excel.txt"] == encodings["EXPORT"] == "utf-16"


def test_nested_and_binary_parquet_columns(tmp_path):
    table = pa.table({
        "s": pa.array([{"who": "Liisa", "n": 1}, {"who": f"x {tw('A12345678')}", "n": 2}],
                      pa.struct([("who", pa.string()), ("n", pa.int64())])),
        "m": pa.array([[("k", "Mannerheimintie 12 A 5")], []], pa.map_(pa.string(), pa.string())),
        "raw": pa.array([b"\xff\xfe", b"ok"], pa.binary()),
        "txt": pa.array(["VIRTANEN".encode(), b"ok"], pa.binary()),
    })
    pq.write_table(table, tmp_path / "nested.parquet")
    report = scan_release(tmp_path, denylist=Denylist(NAMES, ADDRESSES))
    assert hits_of(report) == {("nested.parquet", "s.who", None, "source_name", 1, None),
                               ("nested.parquet", "s.who", None, "taiwan_id", 1, 1),
                               ("nested.parquet", "m[].value", None, "source_address", 1, None),
                               ("nested.parquet", "txt", None, "source_name", 1, None)}
    assert [(n.file, n.column) for n in report.not_scanned] == [("nested.parquet", "raw")]
    assert {(h.column, h.kind): h.row for h in report.hits} == {
        ("s.who", "source_name"): 0, ("s.who", "taiwan_id"): 1, ("m[].value", "source_address"): 0,
        ("txt", "source_name"): 0}


def test_unreadable_parquet_fails_loudly(tmp_path):
    (tmp_path / f"{tw('A12345678')}.parquet").write_bytes(b"PAR1 not really PAR1")
    with pytest.raises(UnreadableReleaseFile) as err:
        scan_release(tmp_path)
    assert "path withheld" in str(err.value) and tw("A12345678") not in str(err.value)


def test_missing_folder_and_tiny_chunks_are_refused(tmp_path):
    with pytest.raises(ScanError, match="does not exist"):
        scan_release(tmp_path / "nope")
    with pytest.raises(ScanError, match="chunk_bytes"):
        scan_release(tmp_path, chunk_bytes=100)


# ----------------------------------------------------------------------------------------------- chunking
CHUNK = 2 * OVERLAP_BYTES


def test_a_match_across_a_block_boundary_is_found(tmp_path):
    head = "x" * (CHUNK - 5) + ","  # the ID starts 4 bytes before the block boundary
    (tmp_path / "a.csv").write_text(f"{head}{tw('A12345678')},y\nz\n")
    report = scan_release(tmp_path, chunk_bytes=CHUNK)
    assert hits_of(report) == {("a.csv", None, 1, "taiwan_id", 1, 1)}


def test_long_lines_are_cut_with_an_overlap_and_counted_once(tmp_path):
    dl = Denylist(names=["Virtanen Matti"])
    # dense names: some cuts fall between "Virtanen" and "Matti" (without the overlap 2 full names are lost)
    value = "".join(f"Virtanen {'x' * (i % 7)} Virtanen Matti {tw('A12345678')} " for i in range(4000))
    text = json.dumps({"v": value})  # one line of ~156 kB
    assert len(text) > 15 * CHUNK and "\n" not in text
    (tmp_path / "one.json").write_text(text + "\nlast\n")
    report = scan_release(tmp_path, denylist=dl, chunk_bytes=CHUNK)
    assert hits_of(report) == {("one.json", None, 1, "taiwan_id", 4000, 4000),
                               ("one.json", None, 1, "source_name", 16000, None)}  # 2 x virtanen, matti, full
    assert report.files_scanned[0].units == 2


def test_many_hit_lines_are_merged_after_the_first_hundred(tmp_path):
    (tmp_path / "ids.txt").write_text("".join(f"{tw(f'A{10000000 + i}')}\n" for i in range(250)))
    report = scan_release(tmp_path)
    assert len(report.hits) == 101 and report.totals()["taiwan_id"] == 250
    last = report.hits[-1]
    assert (last.line, last.lines, last.count, last.check_valid) == (101, 150, 150, 150)


# ----------------------------------------------------------------------------------------------- hypothesis
SEPARATORS = st.text(alphabet=" ,;:()[]{}\"'|/\t-=<>.!?äé中", min_size=1, max_size=3)
FILLER = st.text(alphabet=string.ascii_letters + string.digits + " .,;:-_/äöü台北", max_size=40)


@st.composite
def taiwan_ids(draw) -> str:
    first = draw(st.sampled_from(string.ascii_uppercase))
    second = draw(st.sampled_from("1289ABCD"))
    return tw(first + second + draw(st.text(alphabet=string.digits, min_size=7, max_size=7)))


@st.composite
def hetus(draw) -> str:
    d = draw(st.dates())
    if not 1800 <= d.year <= 2099:
        d = d.replace(year=1800 + d.year % 300)
    sign = draw(st.sampled_from({18: "+", 19: "-YXWVU", 20: "ABCDEF"}[d.year // 100]))
    return hetu(d.strftime("%d%m%y"), sign, f"{draw(st.integers(2, 999)):03d}")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(before=FILLER, sep1=SEPARATORS, ident=taiwan_ids(), sep2=SEPARATORS, after=FILLER)
def test_any_valid_taiwan_id_in_text_is_found(before, sep1, ident, sep2, after):
    found = scan_values([f"{before}{sep1}{ident}{sep2}{after}"])
    assert found.get("taiwan_id", 0) >= 1


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(before=FILLER, sep1=SEPARATORS, ident=hetus(), sep2=SEPARATORS, after=FILLER)
def test_any_valid_henkilotunnus_in_text_is_found(before, sep1, ident, sep2, after):
    assert scan_values([f"{before}{sep1}{ident}{sep2}{after}"]).get("henkilotunnus", 0) >= 1


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(
    st.binary(min_size=32, max_size=32).map(lambda b: b.hex()),
    st.binary(min_size=32, max_size=32).map(lambda b: b.hex().upper()),
    st.uuids().map(str), st.uuids().map(lambda u: str(u).upper()),
    st.datetimes().map(lambda d: d.isoformat()), st.dates().map(lambda d: d.isoformat()),
    st.dates().map(lambda d: d.strftime("%Y%m%d")), st.integers(0, 2**63).map(str),
), min_size=1, max_size=20).map(" ".join))
def test_hex_digests_dates_uuids_and_ids_never_hit(text):
    assert scan_values([text]) == {}


# ----------------------------------------------------------------------------------------------- source names
@pytest.mark.parametrize("site", ["taiwan", "finland"])
def test_hl7v2_names_and_addresses(tmp_path, site):
    generate_hl7v2(tmp_path, messages=50, seed=1, site=site)
    names, addresses = names_and_addresses(tmp_path)
    cfg = _SITE[site]
    families = set(cfg["family"]) | set(cfg["family_latin"])
    assert names and all(n.split(" ")[0] in families or n.isascii() for n in names)
    assert all(len(n.split(" ")) == 2 for n in names)
    latin1 = [n for n in names if not n.isascii() and all(ord(c) < 256 for c in n)]
    national = [n for n in names if n.split(" ")[0] in cfg["family"]]
    assert latin1 and national
    if site == "taiwan":
        assert any(not n.split(" ")[0].isascii() and ord(n[0]) > 0x4E00 for n in names)  # 王 小明 ...
    streets = {a for a in addresses if a.endswith("Main St")}
    assert streets and all(a.split(" ")[0].isdigit() for a in streets)
    whole = addresses - streets
    assert whole and all(" Main St " in a and a.split(" ")[-1].isdigit() for a in whole)


def test_hl7v2_repetitions_escapes_and_bad_encoding(tmp_path):
    msh = "MSH|^~\\&|ADT|HUS|HUB|CB|20240101||ADT^A04|1|P|2.5|||||||{charset}"
    pid = ("PID|1||123^^^HUS^MR||O\\T\\Brien^Se\\XE1\\n^^^Dr~Virtanen^Matti||19800101|M|||"
           "Mannerheimintie 12&Mannerheimintie&12^A 5^Helsinki^^00100^FI~^^Tampere")
    good = "\r".join([msh.format(charset="UNICODE UTF-8"), pid]).encode("utf-8")
    bad = "\r".join([msh.format(charset="UNICODE UTF-8"), "PID|1||9^^^HUS^MR||Mäkelä^Päivi"]).encode("latin-1")
    (tmp_path / "feed.hl7").write_bytes(b"\x0b" + good + b"\r\x1c\r\x0b" + bad + b"\r\x1c\r")
    names, addresses = names_and_addresses(tmp_path)
    assert names == {"O&Brien Seán", "Virtanen Matti", "Mäkelä Päivi"}
    assert addresses == {"Mannerheimintie 12 Mannerheimintie 12 A 5",
                         "Mannerheimintie 12 Mannerheimintie 12 A 5 Helsinki 00100 FI"}  # "^^Tampere": no street


def test_fhir_names_and_addresses(tmp_path):
    patient = {"resourceType": "Patient", "id": "p1",
               "name": [{"family": "Virtanen", "given": ["Matti", "Juhani"]}, {"text": "Matti J. Virtanen"}],
               "address": [{"line": ["Mannerheimintie 12 A 5"], "city": "Helsinki", "postalCode": "00100"},
                           {"city": "Tampere"}, {"text": "Espoo"}],  # places without a street: not addresses
               "contact": [{"name": {"family": "Korhonen", "given": ["Liisa"]},
                            "address": {"text": "Hämeenkatu 3, Tampere"}}]}
    (tmp_path / "Patient.ndjson").write_text(json.dumps(patient) + "\n" + json.dumps({"resourceType": "Observation"})
                                             + "\nnot json\n")
    bundle = {"resourceType": "Bundle", "entry": [
        {"resource": {"resourceType": "Patient", "name": [{"family": "王", "given": ["小明"]}]}},
        {"resource": {"resourceType": "Practitioner", "name": [{"family": "Doctor"}]}}]}
    (tmp_path / "bundle.json").write_text(json.dumps(bundle, ensure_ascii=False))
    (tmp_path / "h_nhi_opdte10301.csv").write_text("ID,FUNC_DATE\nA123456789,20140110\n")  # registry: no names
    names, addresses = names_and_addresses(tmp_path)
    assert names == {"Virtanen Matti Juhani", "Matti J. Virtanen", "Korhonen Liisa", "王 小明"}
    assert addresses == {"Mannerheimintie 12 A 5", "Mannerheimintie 12 A 5 Helsinki", "Hämeenkatu 3, Tampere"}
    assert fhir_names_and_addresses(tmp_path / "bundle.json") == ({"王 小明"}, set())
    with pytest.raises(NotASourceFile):
        fhir_names_and_addresses(tmp_path / "h_nhi_opdte10301.csv")


def test_denylist_from_landing_blocks_a_leaked_name(tmp_path):
    landing, release = tmp_path / "landing", tmp_path / "release"
    generate_hl7v2(landing, messages=50, seed=1, site="taiwan")
    names, _ = names_and_addresses(landing)
    leaked = sorted(n for n in names if not n.isascii() and ord(n[0]) > 0x4E00)[0].replace(" ", "")
    release.mkdir()
    pq.write_table(pa.table({"label": ["ok", f"病人{leaked}就診", "ok"]}), release / "t.parquet")
    report = scan_release(release, denylist=Denylist.from_landing(landing))
    assert hits_of(report) == {("t.parquet", "label", None, "source_name", 1, None)}
    assert leaked not in json.dumps(report.to_dict(), ensure_ascii=False)
