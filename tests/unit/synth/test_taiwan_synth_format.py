"""The synthetic Taiwan extract follows connectors/taiwan/layout.py and is realistic enough."""

from __future__ import annotations

import re
from collections import defaultdict

import numpy as np
import pytest

from connectors.taiwan import layout as L
from connectors.taiwan.national_id import valid_mask
from crossbridge.synth import catalogue
from crossbridge.synth.taiwan import SynthArgumentError, generate_taiwan, partial_diag_dates

ICD9 = {c.icd9 for c in catalogue.CONDITIONS} | {c.icd9 for c in catalogue.CANCERS}
ICD10 = {c.icd10 for c in catalogue.CONDITIONS} | {c.icd10 for c in catalogue.CANCERS}
OP9 = {p.icd9 for p in catalogue.PROCEDURES}
OP10 = {p.icd10pcs for p in catalogue.PROCEDURES}
ORDER_CODES = {d.nhi_code for d in catalogue.DRUGS} | {s.code for s in catalogue.SERVICES}


def _tree(path):
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_deterministic_and_seed_dependent(tmp_path):
    kw = dict(persons=150, years=(2015, 2016), defect_rate=0.02)
    generate_taiwan(tmp_path / "a", seed=3, **kw)
    generate_taiwan(tmp_path / "b", seed=3, **kw)
    generate_taiwan(tmp_path / "c", seed=4, **kw)
    a, b, c = _tree(tmp_path / "a"), _tree(tmp_path / "b"), _tree(tmp_path / "c")
    assert a == b
    assert a.keys() == c.keys()
    assert a["h_nhi_enrol104.csv"] != c["h_nhi_enrol104.csv"]
    assert a["h_nhi_opdte10403.csv"] != c["h_nhi_opdte10403.csv"]


def test_every_file_is_named_and_laid_out_per_layout(clean_extract):
    names = [p.name for p in clean_extract.data_files()]
    assert len(names) == 6 * 24 + 2 + 6  # monthly claims, yearly enrolment, single files
    assert "h_nhi_opdte10401.csv" in names  # January 2015 = ROC 104
    seen = set()
    for name in names:
        ft = L.identify(name)
        assert ft is not None, name
        seen.add(ft.key)
        lines = clean_extract.raw_lines(name)
        assert lines[0].decode("ascii") == ",".join(ft.column_names)
        assert b"\r" not in b"".join(lines) and b'"' not in b"".join(lines)
        for raw in lines[1:]:
            assert raw.count(b",") == len(ft.columns) - 1, (name, raw)
        assert clean_extract.report.files[name] == len(lines) - 1
    assert seen == set(L.BY_KEY)


def test_code_columns_padded_dates_well_formed(clean_extract):
    for ft in L.FILE_TYPES:
        rows = clean_extract.rows(ft)
        assert rows, ft.key
        for _, _, r in rows[:3000]:
            for c in ft.columns:
                v = r[c.name]
                if c.required:
                    assert v != "", (ft.key, c.name)
                if v == "":
                    continue
                if c.kind == "code" and c.width:
                    assert len(v) == c.width and v == v.strip().ljust(c.width), (ft.key, c.name, v)
                elif c.kind == "date":
                    assert re.fullmatch(r"(19|20)\d\d(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])", v), (c.name, v)
                elif c.kind == "ym":
                    assert re.fullmatch(r"20\d\d(0[1-9]|1[0-2])", v)
                elif c.kind == "roc_date":
                    assert re.fullmatch(r"1\d\d/(0[1-9]|1[0-2])/(0[1-9]|[12]\d|3[01])", v), v
                elif c.kind == "partial_date":
                    assert re.fullmatch(r"20\d\d(0[1-9]|1[0-2]|99)(0[1-9]|[12]\d|3[01]|99)", v), v


def test_cancer_dates_partial_with_99(clean_extract):
    rng = np.random.Generator(np.random.PCG64(1))
    day = np.arange(16000, 26000, dtype=np.int64)
    out = partial_diag_dates(day, rng).astype(str)
    unknown_day = np.char.endswith(out, "99")
    unknown_month = np.array([v[4:6] == "99" for v in out])
    assert 0.04 < unknown_day.mean() < 0.06
    assert 0.005 < unknown_month.mean() < 0.02
    assert not (unknown_month & ~unknown_day).any()
    assert (out[~unknown_day] == [str(d).replace("-", "") for d in day[~unknown_day].astype("M8[D]")]).all()
    rows = clean_extract.rows(L.CANCER)
    assert rows and all(r["CASITE"] in {c.casite for c in catalogue.CANCERS} for _, _, r in rows)


def test_icd9_before_2016_icd10_from_2016(clean_extract):
    counts = defaultdict(int)
    for ft, ncols, nops in ((L.OPDTE, 3, 2), (L.IPDTE, 5, 5)):
        for _, _, r in clean_extract.rows(ft):
            # the era follows the service date: the visit day, or an admission segment's first day
            service = r["FUNC_DATE"] if ft is L.OPDTE else r["APPL_BEG_DATE"]
            icd10 = service >= "20160101"
            for j in range(1, ncols + 1):
                v = r[f"ICD9CM_{j}"].strip()
                if v:
                    assert v in (ICD10 if icd10 else ICD9), (r["FEE_YM"], v)
                    counts[icd10] += 1
            for j in range(1, nops + 1):
                v = r[f"ICD_OP_CODE{j}"].strip()
                if v:
                    assert v in (OP10 if icd10 else OP9), (r["FEE_YM"], v)
    assert counts[True] > 1000 and counts[False] > 1000


def test_national_ids_valid_unique_and_sex_consistent(clean_extract):
    ids = [(r["ID"], r["ID_S"]) for _, _, r in clean_extract.rows(L.ENROL)]
    assert all(valid_mask([i for i, _ in ids]))
    per_person = {i: s for i, s in ids}
    assert len(per_person) == 1500
    seconds = defaultdict(int)
    for i, s in per_person.items():
        seconds[i[1]] += 1
        if i[1] in "12":
            assert i[1] == s
    assert seconds["1"] + seconds["2"] > 0.9 * 1500
    assert seconds["8"] + seconds["9"] > 0 and sum(seconds[c] for c in "ABCD") > 0
    for ft in (L.OPDTE, L.IPDTE, L.DRUGE, L.DEATH, L.CANCER, L.BIOBANK_PARTICIPANT):
        vals = [r["ID"] for _, _, r in clean_extract.rows(ft)]
        assert vals and all(valid_mask(vals)), ft.key
        assert set(vals) <= set(per_person), ft.key


def test_cp950_tricky_characters(clean_extract):
    raw = (clean_extract.out / "h_nhi_hosb.csv").read_bytes()
    for ch in catalogue.TRICKY_CHARACTERS:
        enc = ch.encode("cp950")
        assert enc[1] in (0x5C, 0x7C)
        assert enc in raw, ch
    text = raw.decode("cp950")
    assert "許" in text and "育" in text
    levels = {ln.split(",")[2] for ln in text.splitlines()[1:]}
    assert levels == {"1", "2", "3", "4", "5"}
    drug = (clean_extract.out / "h_nhi_drug.csv").read_bytes().decode("cp950")
    for d in catalogue.DRUGS:
        assert f"{d.nhi_code},{d.name_e},{d.name_c},{d.atc.ljust(7)}" in drug


def test_split_admissions_share_in_date(clean_extract):
    stays = defaultdict(list)
    for _, _, r in clean_extract.rows(L.IPDTE):
        if r["APPL_TYPE"] == "1":
            stays[(r["ID"], r["HOSP_ID"], r["IN_DATE"])].append(r)
    split = {k: v for k, v in stays.items() if len(v) > 1}
    assert split, "no admission billed in monthly segments"
    for segs in split.values():
        segs.sort(key=lambda r: r["APPL_BEG_DATE"])
        assert len({(s["FEE_YM"], s["APPL_DATE"], s["SEQ_NO"]) for s in segs}) == len(segs)
        assert all(s["OUT_DATE"] == "" and s["TRAN_CODE"] == "" for s in segs[:-1])
        for a, b in zip(segs, segs[1:]):
            assert a["APPL_END_DATE"] < b["APPL_BEG_DATE"]
            assert a["APPL_END_DATE"][:6] == a["FEE_YM"]
    done = [v[-1] for v in split.values() if v[-1]["OUT_DATE"]]
    assert done and all(s["TRAN_CODE"].strip() in {"1", "4", "6"} for s in done)


def test_in_hospital_deaths_match_death_file(clean_extract):
    deaths = {r["ID"]: r["D_DATE"] for _, _, r in clean_extract.rows(L.DEATH)}
    assert deaths
    n4 = 0
    for _, _, r in clean_extract.rows(L.IPDTE):
        if r["TRAN_CODE"] == "4":
            n4 += 1
            assert deaths.get(r["ID"]) == r["OUT_DATE"]
    assert n4 > 0


def test_supplementary_claims_repeat_visits_and_orders(clean_extract):
    visits = {}
    sup = []
    for _, _, r in clean_extract.rows(L.OPDTE):
        key = (r["FEE_YM"], r["HOSP_ID"], r["CASE_TYPE"], r["SEQ_NO"])
        if r["APPL_TYPE"] == "1":
            visits[key] = r
        else:
            sup.append((key, r))
    assert 0.003 < len(sup) / len(visits) < 0.03
    for key, r in sup:
        orig = visits[key]
        assert r["APPL_DATE"] > orig["APPL_DATE"]
        for c in ("ID", "FUNC_DATE", "ICD9CM_1", "ICD9CM_2", "T_DOT"):
            assert r[c] == orig[c]
    sup_orders = [r for _, _, r in clean_extract.rows(L.OPDTO) if r["APPL_TYPE"] == "2"]
    assert sup_orders
    ipd_sup = [r for _, _, r in clean_extract.rows(L.IPDTE) if r["APPL_TYPE"] == "2"]
    assert ipd_sup


def test_orders_link_to_visits(clean_extract):
    for vft, oft, code_col in ((L.OPDTE, L.OPDTO, "DRUG_NO"), (L.IPDTE, L.IPDTO, "ORDER_CODE"),
                               (L.DRUGE, L.DRUGO, "DRUG_NO")):
        keys = {tuple(r[k] for k in L.VISIT_KEY) for _, _, r in clean_extract.rows(vft)}
        orders = clean_extract.rows(oft)
        assert orders
        for _, _, r in orders:
            assert tuple(r[k] for k in L.VISIT_KEY) in keys
            assert r[code_col].strip() in ORDER_CODES
        types = {r.get("ORDER_TYPE") for _, _, r in orders}
        if oft is not L.DRUGO:
            assert {"1", "2"} <= types


def test_chronic_refills_at_pharmacies(clean_extract):
    hosb = {r["HOSP_ID"].strip(): r["HOSP_CONT_TYPE"] for _, _, r in clean_extract.rows(L.HOSB)}
    chronic_at = {(r["ID"], r["HOSP_ID"]) for _, _, r in clean_extract.rows(L.OPDTE) if r["CASE_TYPE"] == "04"}
    refills = clean_extract.rows(L.DRUGE)
    assert refills
    for _, _, r in refills:
        assert r["CASE_TYPE"] == "08" and hosb[r["HOSP_ID"]] == "5"
        assert (r["ID"], r["R_HOSP_ID"]) in chronic_at
    n_chronic = sum(1 for _, _, r in clean_extract.rows(L.OPDTE) if r["CASE_TYPE"] == "04" and r["APPL_TYPE"] == "1")
    share = len(refills) / (len(refills) + n_chronic)
    assert 0.2 < share < 0.4


def test_rates_are_plausible(clean_extract):
    py = clean_extract.report.person_years
    assert 1500 * 1.8 < py < 1500 * 2.01
    visits = sum(1 for _, _, r in clean_extract.rows(L.OPDTE) if r["APPL_TYPE"] == "1")
    assert 10 <= visits / py <= 20
    adm = {(r["ID"], r["IN_DATE"]) for _, _, r in clean_extract.rows(L.IPDTE)}
    assert 0.06 <= len(adm) / py <= 0.25
    deaths = len(clean_extract.rows(L.DEATH))
    assert 0.002 <= deaths / py <= 0.02
    parts = len(clean_extract.rows(L.BIOBANK_PARTICIPANT))
    assert 0.02 * 1500 < parts < 0.08 * 1500


def test_enrolment_one_row_per_person_year(clean_extract):
    deaths = {r["ID"]: r["D_DATE"][:4] for _, _, r in clean_extract.rows(L.DEATH)}
    seen = set()
    for name, _, r in clean_extract.rows(L.ENROL):
        key = (r["ID"], name)
        assert key not in seen
        seen.add(key)
        year = str(int(name[11:14]) + 1911)
        assert r["PREM_YM"][:4] == year
        assert (r["ID_STATUS"] == "5") == (deaths.get(r["ID"]) == year)


def test_biobank_specimens(clean_extract):
    parts = {r["PARTICIPANT_ID"]: r for _, _, r in clean_extract.rows(L.BIOBANK_PARTICIPANT)}
    assert all(p["CONSENT_TYPE"].strip() == "BROAD" for p in parts.values())
    specs = clean_extract.rows(L.BIOBANK_SPECIMEN)
    per = defaultdict(int)
    for _, _, s in specs:
        p = parts[s["PARTICIPANT_ID"]]
        per[s["PARTICIPANT_ID"]] += 1
        roc = lambda v: tuple(int(x) for x in v.split("/"))  # noqa: E731
        assert roc(s["COLLECT_DATE"]) >= roc(p["CONSENT_DATE"])
        assert s["BIOBANK_ID"] == p["BIOBANK_ID"]
        if s["DIAG_CODE"]:
            assert s["DIAG_CODE"].strip() in ICD10
    assert set(per.values()) <= {1, 2, 3} and len(per) == len(parts)


def test_arguments_checked(tmp_path):
    with pytest.raises(SynthArgumentError, match="encoding"):
        generate_taiwan(tmp_path, 10, (2015, 2015), 1, encoding="latin-1")
    with pytest.raises(SynthArgumentError, match="years"):
        generate_taiwan(tmp_path, 10, (2016, 2015), 1)


def test_cancer_patients_claims_carry_cancer_code(clean_extract):
    site_to_codes = {c.casite: {c.icd9, c.icd10} for c in catalogue.CANCERS}
    reg = {r["ID"]: site_to_codes[r["CASITE"]] for _, _, r in clean_extract.rows(L.CANCER)}
    assert reg
    found = set()
    for ft in (L.OPDTE, L.IPDTE):
        for _, _, r in clean_extract.rows(ft):
            if r["ID"] in reg and r["ICD9CM_1"].strip() in reg[r["ID"]]:
                found.add(r["ID"])
    assert found == set(reg)
