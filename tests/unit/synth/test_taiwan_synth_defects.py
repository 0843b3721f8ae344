"""Injected defects: every ground-truth line really carries the stated defect, and only those."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter

from connectors.taiwan import layout as L
from connectors.taiwan.national_id import valid_mask
from crossbridge.synth import catalogue

KNOWN_CODES = (
    {c.icd9 for c in catalogue.CONDITIONS} | {c.icd10 for c in catalogue.CONDITIONS}
    | {c.icd9 for c in catalogue.CANCERS} | {c.icd10 for c in catalogue.CANCERS}
    | {d.nhi_code for d in catalogue.DRUGS} | {s.code for s in catalogue.SERVICES}
    | {c[1] for c in catalogue.DEATH_CAUSES} | {c[2] for c in catalogue.DEATH_CAUSES}
)


def _parses(kind: str, v: str) -> bool:
    try:
        if kind == "date":
            dt.date(int(v[:4]), int(v[4:6]), int(v[6:8]))
        else:
            y, m, d = v.split("/")
            dt.date(int(y) + 1911, int(m), int(d))
    except ValueError:
        return False
    return True


def _check_extract(ex) -> Counter:
    kinds: Counter = Counter()
    assert ex.defects
    for d in ex.defects:
        assert set(d) == {"file", "line", "defect", "column", "expected_stage", "expected_reason"}
        ft = L.identify(d["file"])
        lines = ex.raw_lines(d["file"])
        n = int(d["line"])
        assert 2 <= n <= len(lines)
        raw = lines[n - 1]
        kinds[d["defect"]] += 1
        reason = d["expected_reason"]
        if d["defect"] == "unknown_code":
            assert d["expected_stage"] == "terminology" and reason == "unmapped_code"
        else:
            assert d["expected_stage"] == "quarantine" and reason in L.QUARANTINE_REASONS
        if d["defect"] == "wrong_encoding":
            assert ft.key in ("hosb", "drug", "bb_participant")
            if ex.encoding == "cp950":
                text = raw.decode("utf-8")
                assert not text.isascii() and reason == "wrong_encoding"
            else:
                try:
                    raw.decode("utf-8")
                    raise AssertionError("cp950 line decodes as UTF-8")
                except UnicodeDecodeError:
                    pass
                assert raw.decode("cp950") and reason == "undecodable"
            continue
        text = raw.decode(ex.encoding)
        fields = text.split(",")
        if d["defect"] == "truncated_line":
            assert len(fields) < len(ft.columns) and reason == "wrong_field_count"
            continue
        assert len(fields) == len(ft.columns)
        if d["defect"] == "duplicate_row":
            assert raw in lines[1 : n - 1]
            continue
        assert d["column"] in ft.column_names
        value = fields[ft.column_names.index(d["column"])]
        col = next(c for c in ft.columns if c.name == d["column"])
        if d["defect"] == "invalid_national_id":
            assert col.kind == "national_id" and not valid_mask([value])[0]
        elif d["defect"] == "impossible_date":
            assert col.required and col.kind in ("date", "roc_date") and not _parses(col.kind, value)
        elif d["defect"] == "unknown_code":
            code = value.strip()
            assert code and code not in KNOWN_CODES
            if col.name.startswith("ICD9CM"):
                fee = fields[0]
                assert (code[0].isalpha() and len(code) == 5) == (fee >= "201601") or code == "V7281"
        else:
            raise AssertionError(d["defect"])
    return kinds


def test_ground_truth_lines_carry_their_defect(defect_extract):
    kinds = _check_extract(defect_extract)
    for k in ("invalid_national_id", "impossible_date", "unknown_code", "duplicate_row", "truncated_line"):
        assert kinds[k] >= 5, k


def test_utf8_extract_defects(utf8_defect_extract):
    kinds = _check_extract(utf8_defect_extract)
    assert kinds["truncated_line"] > 0


def test_defect_rate_and_only_listed_lines_are_bad(defect_extract):
    ex = defect_extract
    total = sum(ex.report.files.values())
    assert 0.02 * total < len(ex.defects) < 0.04 * total
    assert len({(d["file"], d["line"]) for d in ex.defects}) == len(ex.defects)
    assert "ID" not in {d["column"] for d in ex.defects if d["defect"] != "invalid_national_id"}
    # every line not listed as a defect is well-formed, valid and not a repeat
    for p in ex.data_files():
        ft = L.identify(p.name)
        bad = ex.defect_lines(p.name)
        seen = set()
        id_idx = [i for i, c in enumerate(ft.columns) if c.kind == "national_id"]
        ids = []
        for i, raw in enumerate(ex.raw_lines(p.name)[1:], start=2):
            if i in bad:
                continue
            assert raw not in seen, (p.name, i)
            seen.add(raw)
            fields = raw.decode(ex.encoding).split(",")
            assert len(fields) == len(ft.columns), (p.name, i)
            ids += [fields[j] for j in id_idx]
        assert all(valid_mask(ids)), p.name


def test_ground_truth_has_no_raw_ids_and_manifest(defect_extract):
    gt = (defect_extract.out / "_ground_truth" / "defects.csv").read_text("utf-8")
    enrol_ids = {r["ID"] for _, _, r in defect_extract.rows(L.ENROL)}
    assert not any(i in gt for i in list(enrol_ids)[:500])
    m = json.loads((defect_extract.out / "_ground_truth" / "manifest.json").read_text("utf-8"))
    assert m["arguments"]["defect_rate"] == 0.03 and m["arguments"]["persons"] == 800
    assert sum(m["defects_by_type"].values()) == len(defect_extract.defects)
    assert m["rows"] == defect_extract.report.files


def test_wrong_encoding_lines_in_text_files(make_extract):
    for enc in ("cp950", "utf-8"):
        ex = make_extract(f"tw_enc_{enc}", persons=200, years=(2016, 2016), seed=1, encoding=enc, defect_rate=0.3)
        kinds = _check_extract(ex)
        assert kinds["wrong_encoding"] > 0, enc
        files = {d["file"] for d in ex.defects if d["defect"] == "wrong_encoding"}
        assert files <= {"h_nhi_hosb.csv", "h_nhi_drug.csv", "nbct_participant.csv"}
