"""Injected defects in the Finnish extract: every ground-truth line carries its defect, the others are clean."""

from __future__ import annotations

import json
from collections import Counter, defaultdict

from fi_conftest_helpers import KNOWN_CODES, fi_defects, fi_many_defects, parse_fi_date  # noqa: F401  (fixtures)

from connectors.finland import layout as L
from connectors.finland.hetu import temporary_mask, valid_mask
from crossbridge.synth.fi_writer import DEFECT_TYPES, GT_COLUMNS, PARENT_LOST

CHILDREN = {"hilmo_diag": ("hilmo", "HILMO_ID", "orphan_diagnosis"),
            "hilmo_proc": ("hilmo", "HILMO_ID", "orphan_diagnosis"),
            "avohilmo_icd10": ("avohilmo", "AVOHILMO_ID", "orphan_visit_code"),
            "avohilmo_icpc2": ("avohilmo", "AVOHILMO_ID", "orphan_visit_code"),
            "avohilmo_proc": ("avohilmo", "AVOHILMO_ID", "orphan_visit_code")}
CODE_COLUMNS = {"hilmo_diag": "KOODI", "hilmo_proc": "TOIMP", "avohilmo_icd10": "ICD10", "avohilmo_icpc2": "ICPC2",
                "avohilmo_proc": "TOIMP", "kela_purchase": "VNRO", "kela_reimb": "DIAG", "fcr": "TOPO",
                "cod": "TPKS", "fi_bb_sample": "NAYTETYYPPI"}


def _id_col(ft):
    return next((c.name for c in ft.columns if c.kind == "hetu"), None)


def _parents(ex):
    """parent key -> ({id: (file, line)} of every parent line, set of lines lost to a defect)."""
    lost_lines = {(d["file"], int(d["line"])) for d in ex.defects if d["defect"] in PARENT_LOST}
    out = {}
    for key, idcol in (("hilmo", "HILMO_ID"), ("avohilmo", "AVOHILMO_ID")):
        ft = L.BY_KEY[key]
        where, lost = {}, set()
        for name, line, r in ex.rows(ft, clean=False):
            where.setdefault(r[idcol], (name, line))
            if (name, line) in lost_lines:
                lost.add(r[idcol])
        out[key] = (where, lost)
    return out


def _check(ex) -> Counter:
    kinds: Counter = Counter()
    parents = _parents(ex)
    listed = {(d["file"], int(d["line"])) for d in ex.defects}
    assert len(listed) == len(ex.defects)  # one record per line
    for d in ex.defects:
        assert tuple(d) == GT_COLUMNS
        ft = L.identify(d["file"])
        lines = ex.raw_lines(d["file"])
        n = int(d["line"])
        assert 2 <= n <= len(lines)
        raw = lines[n - 1]
        defect = d["defect"]
        kinds[defect] += 1
        if defect == "unknown_code":
            assert (d["expected_stage"], d["expected_reason"]) == ("terminology", "unmapped_code")
        elif defect == "temporary_id":
            assert (d["expected_stage"], d["expected_reason"]) == ("flag", "temporary_id")
        else:
            assert d["expected_stage"] == "quarantine" and d["expected_reason"] in L.QUARANTINE_REASONS
        if defect == "wrong_encoding":
            assert ft.encoding == "latin-1" and not raw.isascii()
            assert raw.decode("utf-8") != raw.decode("latin-1")  # valid UTF-8 text inside a Latin-1 file
            continue
        assert raw.isascii() or ft.encoding == "latin-1"
        fields = raw.decode(ft.encoding).split(ft.delimiter)
        if defect == "truncated_line":
            assert len(fields) < len(ft.columns) and d["expected_reason"] == "wrong_field_count"
            continue
        assert len(fields) == len(ft.columns), d
        if defect == "duplicate_row":
            assert raw == lines[n - 2]
            continue
        value = fields[ft.column_names.index(d["column"])]
        col = next(c for c in ft.columns if c.name == d["column"])
        if defect == "invalid_national_id":
            assert col.kind == "hetu" and not valid_mask([value])[0]
        elif defect == "temporary_id":
            assert col.kind == "hetu" and temporary_mask([value])[0]
        elif defect == "impossible_date":
            assert col.required and parse_fi_date(value) is None
        elif defect == "unknown_code":
            assert value and value not in KNOWN_CODES and d["column"] in (CODE_COLUMNS.get(ft.key), "CODE1")
        elif defect in ("orphan_diagnosis", "orphan_visit_code"):
            parent, idcol, expected = CHILDREN[ft.key]
            assert defect == expected and d["column"] == idcol
            where, lost = parents[parent]
            if d["detail"] == "parent quarantined":
                assert value in lost  # the parent line itself carries a quarantining defect
            else:
                assert value not in where
        else:
            raise AssertionError(defect)
    return kinds


def test_ground_truth_lines_carry_their_defect(fi_defects):
    kinds = _check(fi_defects)
    for k in DEFECT_TYPES:
        if k != "wrong_encoding":
            assert kinds[k] >= 3, k


def test_high_rate_every_defect_type(fi_many_defects):
    kinds = _check(fi_many_defects)
    assert all(kinds[k] > 0 for k in DEFECT_TYPES), kinds
    files = {d["file"] for d in fi_many_defects.defects if d["defect"] == "wrong_encoding"}
    assert files == {"dvv_vaesto.csv"}  # the only file with non-ASCII text
    cascade = [d for d in fi_many_defects.defects if d["detail"] == "parent quarantined"]
    assert {d["defect"] for d in cascade} == {"orphan_diagnosis", "orphan_visit_code"}


def test_every_quarantined_child_is_explained(fi_many_defects):
    ex = fi_many_defects
    parents = _parents(ex)
    for key, (parent, idcol, defect) in CHILDREN.items():
        where, lost = parents[parent]
        ft = L.BY_KEY[key]
        listed = {(d["file"], int(d["line"])): d for d in ex.defects}
        for name, line, r in ex.rows(ft, clean=False):
            if r.get(idcol) in lost or (idcol in r and r[idcol] not in where):
                assert (name, line) in listed, (name, line)
                assert listed[(name, line)]["defect"] in (defect, "truncated_line", "duplicate_row")


def test_defect_rate_and_clean_lines_are_clean(fi_defects):
    ex = fi_defects
    parents = _parents(ex)
    per_file = Counter(d["file"] for d in ex.defects if d["detail"] != "parent quarantined")
    for name, rows in ex.report.files.items():
        if rows >= 2000:
            assert 0.015 * rows < per_file[name] < 0.05 * rows, (name, per_file[name], rows)
    for p in ex.data_files():
        ft = L.identify(p.name)
        bad = ex.defect_lines(p.name)
        idcol = _id_col(ft)
        dates = [c.name for c in ft.columns if c.kind in ("fi_date", "iso_date")]
        prev = None
        ids = []
        for i, raw in enumerate(ex.raw_lines(p.name)[1:], start=2):
            if i in bad:
                prev = raw
                continue
            assert raw != prev, (p.name, i)
            prev = raw
            text = raw.decode(ft.encoding)
            if not raw.isascii():
                try:
                    raw.decode("utf-8")
                    raise AssertionError(f"{p.name}:{i} is UTF-8")
                except UnicodeDecodeError:
                    pass
            fields = text.split(ft.delimiter)
            assert len(fields) == len(ft.columns), (p.name, i)
            r = dict(zip(ft.column_names, fields))
            for c in dates:
                assert r[c] in ("", "NA") or parse_fi_date(r[c]) is not None, (p.name, i, c)
            code_col = CODE_COLUMNS.get(ft.key)
            if code_col:
                assert r[code_col] in KNOWN_CODES, (p.name, i, r[code_col])
            if ft.key in CHILDREN:
                parent, col, _ = CHILDREN[ft.key]
                where, lost = parents[parent]
                assert r[col] in where and r[col] not in lost, (p.name, i)
            if idcol:
                ids.append(r[idcol])
        if idcol:
            assert valid_mask(ids).all() and not temporary_mask(ids).any(), p.name


def test_ground_truth_has_no_identifiers_and_summary_matches(fi_defects):
    ex = fi_defects
    gt_dir = ex.out / "_ground_truth"
    hetus = {r["HETU"] for _, _, r in ex.rows(L.POPULATION, clean=False)}
    for f in gt_dir.iterdir():
        text = f.read_text("utf-8")
        assert not any(h[:6] + h[7:] in text.replace("-", "") for h in list(hetus)[:300]), f.name
    summary = json.loads((gt_dir / "summary.json").read_text("utf-8"))
    assert summary["persons"] == 1200 and summary["arguments"]["defect_rate"] == 0.03
    assert summary["files"] == ex.report.files
    assert sum(summary["defects_by_type"].values()) == len(ex.defects) == ex.report.defects
    assert summary["defects_by_type"] == ex.report.defects_by_type
    by_file = defaultdict(int)
    for d in ex.defects:
        by_file[d["file"]] += 1
    assert set(by_file) <= set(ex.report.files)
