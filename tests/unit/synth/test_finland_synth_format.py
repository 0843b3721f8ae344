"""The synthetic Finnish extract follows connectors/finland/layout.py and the register conventions."""

from __future__ import annotations

import re
from collections import Counter, defaultdict

import pytest
from fi_conftest_helpers import (  # noqa: F401  (fixtures)
    ICD8, ICD9, ICD10_PARTS, ICD10_WHOLE, fi_clean, fi_eras, parse_fi_date,
)

from connectors.finland import layout as L
from connectors.finland.hetu import CENTURY_SIGNS, birth_dates, sex_codes, temporary_mask, valid_mask
from crossbridge.synth import fi_catalogue as FC
from crossbridge.synth.finland import SynthArgumentError, generate_finland

FI_DATE = re.compile(r"(0[1-9]|[12]\d|3[01])\.(0[1-9]|1[0-2])\.(1[89]|20)\d\d")
FI_TIME = re.compile(FI_DATE.pattern + r" ([01]\d|2[0-3]):[0-5]\d")
FI_DECIMAL = re.compile(r"-?\d+,\d\d")
VNR = {v for d in FC.FI_DRUGS for v in d.vnr}
NCSP = {p.ncsp for p in FC.FI_PROCEDURES}


def _tree(path):
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_bad_arguments_are_rejected(tmp_path):
    for kw in (dict(persons=0, years=(2015, 2016)), dict(persons=10, years=(2016, 2015)),
               dict(persons=10, years=(1900, 1901)), dict(persons=10, years=(2015, 2016), defect_rate=0.6),
               dict(persons=10, years=(2015, 2016), layout="csv"), dict(persons=10, years=(2015,))):
        with pytest.raises(SynthArgumentError):
            generate_finland(tmp_path, **kw)


def test_deterministic_seed_dependent_and_layout_independent(tmp_path):
    kw = dict(persons=250, years=(2015, 2016), defect_rate=0.02)
    generate_finland(tmp_path / "a", seed=3, layout="both", **kw)
    generate_finland(tmp_path / "b", seed=3, layout="both", **kw)
    generate_finland(tmp_path / "c", seed=4, layout="both", **kw)
    generate_finland(tmp_path / "r", seed=3, layout="registers", **kw)
    generate_finland(tmp_path / "f", seed=3, layout="finngen", **kw)
    a, b, c = _tree(tmp_path / "a"), _tree(tmp_path / "b"), _tree(tmp_path / "c")
    assert a == b
    assert a.keys() == c.keys()
    for name in ("dvv_vaesto.csv", "thl_avohilmo_2015.csv", "kela_ostot_2016.csv", "finngen_longitudinal.tsv"):
        assert a[name] != c[name], name
    r, f = _tree(tmp_path / "r"), _tree(tmp_path / "f")
    assert "finngen_longitudinal.tsv" not in r and set(f) == {"finngen_longitudinal.tsv", "_ground_truth/defects.csv",
                                                               "_ground_truth/summary.json"}
    assert all(a[k] == v for k, v in r.items() if not k.startswith("_"))  # same events, same defects
    assert a["finngen_longitudinal.tsv"] == f["finngen_longitudinal.tsv"]


def test_every_file_named_headed_and_field_counted(fi_clean):
    names = [p.name for p in fi_clean.data_files()]
    seen = set()
    for name in names:
        ft = L.identify(name)
        assert ft is not None, name
        seen.add(ft.key)
        raw = (fi_clean.out / name).read_bytes()
        assert b"\r" not in raw and b'"' not in raw
        lines = fi_clean.raw_lines(name)
        assert lines[0].decode("ascii") == ft.delimiter.join(ft.column_names)
        sep = ft.delimiter.encode()
        assert all(line.count(sep) == len(ft.columns) - 1 for line in lines[1:]), name
        assert fi_clean.report.files[name] == len(lines) - 1
        assert len(lines) > 1, name
    assert seen == set(L.BY_KEY)
    years = range(2015, 2020)
    for ft in L.FILE_TYPES:
        expected = {ft.file_name(y) for y in years} if ft.period == "year" else {ft.file_name()}
        assert expected <= set(names), ft.key
    assert len(names) == 8 * 5 + 7


def test_latin1_text_and_utf8_finngen(fi_clean):
    pop = (fi_clean.out / "dvv_vaesto.csv").read_bytes()
    assert "Jyväskylä".encode("latin-1") in pop and "Hämeenlinna".encode("latin-1") in pop
    assert "Jyväskylä".encode("utf-8") not in pop
    text = pop.decode("latin-1")
    assert {r["KUNTA_NIMI"] for _, _, r in fi_clean.rows(L.POPULATION)} <= {m[1] for m in FC.MUNICIPALITIES}
    assert "Jyväskylä;" in text
    with pytest.raises(UnicodeDecodeError):
        pop.decode("utf-8")
    (fi_clean.out / "finngen_longitudinal.tsv").read_bytes().decode("ascii")


def test_dates_times_decimals_and_codes(fi_clean):
    for ft in L.FILE_TYPES:
        rows = fi_clean.rows(ft)
        assert rows, ft.key
        for _, _, r in rows[:4000]:
            for c in ft.columns:
                v = r[c.name]
                if c.required:
                    assert v not in ("", "NA"), (ft.key, c.name)
                if v in ("", "NA"):
                    continue
                if c.kind == "fi_date":
                    timed = c.name in ("TUPVA", "KAYNTI_ALKOI")
                    assert (FI_TIME if timed else FI_DATE).fullmatch(v), (ft.key, c.name, v)
                    assert parse_fi_date(v) is not None
                elif c.kind == "iso_date":
                    assert re.fullmatch(r"(19|20)\d\d-\d\d-\d\d", v) and parse_fi_date(v)
                elif c.kind == "fi_decimal" and c.name != "PLKM":
                    assert FI_DECIMAL.fullmatch(v), (c.name, v)
                elif c.kind == "code" and c.width:
                    assert v == v.strip() and len(v) <= c.width, (ft.key, c.name, v)


def test_henkilotunnus_valid_unique_and_consistent(fi_clean):
    pop = fi_clean.rows(L.POPULATION)
    hetu = [r["HETU"] for _, _, r in pop]
    assert len(hetu) == 2000 == len(set(hetu))
    assert valid_mask(hetu).all() and not temporary_mask(hetu).any()
    assert sex_codes(hetu).to_pylist() == [r["SUKUPUOLI"] for _, _, r in pop]
    assert [d.strftime("%d.%m.%Y") for d in birth_dates(hetu).to_pylist()] == [r["SYNTYMAPV"] for _, _, r in pop]
    known = set(hetu)
    for ft in L.FILE_TYPES:
        col = next((c.name for c in ft.columns if c.kind == "hetu"), None)
        if col is None or ft is L.POPULATION:
            continue
        vals = [r[col] for _, _, r in fi_clean.rows(ft)]
        assert vals and valid_mask(vals).all() and not temporary_mask(vals).any(), ft.key
        assert set(vals) <= known, ft.key
    # deaths and emigrations agree with the population register
    died = {r["HETU"]: r["KUOLINPV"] for _, _, r in pop if r["KUOLINPV"]}
    assert {r["HETU"]: r["KPV"] for _, _, r in fi_clean.rows(L.DEATH)} == died
    assert not any(r["KUOLINPV"] and r["MAASTAMUUTTOPV"] for _, _, r in pop)
    assert any(r["MAASTAMUUTTOPV"] for _, _, r in pop)


def test_every_century_sign_class_and_births_before_1900(fi_eras):
    pop = fi_eras.rows(L.POPULATION)
    signs = Counter(r["HETU"][6] for _, _, r in pop)
    assert signs["+"] > 10 and signs["-"] > 1000 and signs["A"] > 10
    assert sum(signs[s] for s in "YXWVU") > 50 and sum(signs[s] for s in "BCDEF") > 0
    assert set(signs) <= {s for v in CENTURY_SIGNS.values() for s in v}
    for _, _, r in pop:
        year = int(r["SYNTYMAPV"][6:])
        assert r["HETU"][6] in CENTURY_SIGNS[year // 100 * 100]
    assert valid_mask([r["HETU"] for _, _, r in pop]).all()


def test_icd_era_follows_the_episode_date(fi_eras):
    adm = {}
    for _, _, r in fi_eras.rows(L.HILMO):
        adm[r["HILMO_ID"]] = parse_fi_date(r["TUPVA"])
        assert r["PALA"] == "1" or adm[r["HILMO_ID"]].year >= 1998  # outpatient care in Hilmo from 1998
    counts = Counter()
    for name, _, r in fi_eras.rows(L.HILMO_DIAG):
        d = adm[r["HILMO_ID"]]
        era = 10 if d.year >= 1996 else 9 if d.year >= 1987 else 8
        allowed = {8: ICD8, 9: ICD9, 10: ICD10_PARTS}[era]
        assert r["KOODI"] in allowed, (name, r, d)
        assert int(name[-8:-4]) >= d.year
        counts[era] += 1
    assert min(counts.values()) > 100 and set(counts) == {8, 9, 10}
    for _, _, r in fi_eras.rows(L.HILMO_PROC):
        assert adm[r["HILMO_ID"]].year >= 1997 and r["TOIMP"] in NCSP
    for _, _, r in fi_eras.rows(L.DEATH):
        y = int(r["KPV"][6:])
        allowed = ICD10_WHOLE if y >= 1996 else ICD9 if y >= 1987 else ICD8
        assert {r[c] for c in ("TPKS", "VKS", "M1", "M2", "M3", "M4") if r[c]} <= allowed
    names = {p.name for p in fi_eras.data_files()}
    assert not any(n.startswith("thl_avohilmo") for n in names)  # Avohilmo starts in 2011
    assert "kela_ostot_1995.csv" in names and "kela_ostot_1994.csv" not in names


def test_avohilmo_from_2011_only(tmp_path):
    generate_finland(tmp_path, persons=150, years=(2009, 2012), seed=2)
    names = {p.name for p in tmp_path.iterdir()}
    assert {"thl_avohilmo_2011.csv", "thl_avohilmo_2012.csv"} <= names
    assert "thl_avohilmo_2010.csv" not in names and "thl_hilmo_2009.csv" in names
    text = (tmp_path / "thl_avohilmo_2011.csv").read_text("latin-1")
    assert all(line.split(";")[2][6:10] == "2011" for line in text.splitlines()[1:])


def test_hilmo_discharge_years_and_open_episodes(fi_clean):
    open_files = Counter()
    for name, _, r in fi_clean.rows(L.HILMO):
        tupva = parse_fi_date(r["TUPVA"])
        if r["LPVM"] == "":
            open_files[name] += 1
            continue
        lpvm = parse_fi_date(r["LPVM"])
        assert lpvm >= tupva and name == L.HILMO.file_name(lpvm.year)
    assert set(open_files) <= {"thl_hilmo_2019.csv"}
    pala = Counter(r["PALA"] for _, _, r in fi_clean.rows(L.HILMO))
    assert set(pala) == set(FC.HILMO_SERVICE_TYPES)


def test_combination_codes_in_hilmo_and_avohilmo(fi_clean):
    by_n = defaultdict(dict)
    for _, _, r in fi_clean.rows(L.HILMO_DIAG):
        by_n[(r["HILMO_ID"], r["N"])][r["KENTTA"]] = r["KOODI"]
        assert r["KOODI"] in ICD10_PARTS
        assert (r["N"] == "0") == r["KENTTA"].startswith("PDG") or r["KENTTA"] == "ULKSYY"
    pairs = {(p[0][0], p[1][0]) for _, _, p in FC.COMBINATIONS}
    kinds = Counter()
    for (_, n), f in by_n.items():
        o, e = ("PDGO", "PDGE") if n == "0" else ("SDGO", "SDGE")
        assert o in f, f  # every diagnosis has its symptom/main part
        if e in f:
            assert (f[e], f[o]) in pairs
            kinds["dagger"] += 1
        if "ULKSYY" in f:
            assert (f[o], f["ULKSYY"]) == ("S7200", "W19")
            kinds["external"] += 1
        if "#" in f[o]:
            assert f[o] == "L270#J01CA04" and o == "SDGO"
            kinds["atc"] += 1
    assert kinds["dagger"] > 5 and kinds["external"] > 0 and kinds["atc"] > 0
    avo = Counter(r["ICD10"] for _, _, r in fi_clean.rows(L.AVOHILMO_ICD10))
    assert avo["E113+H360"] + avo["E112+N083"] > 0 and set(avo) <= ICD10_WHOLE


def test_icpc2_process_codes_and_avohilmo_children(fi_clean):
    codes = Counter(r["ICPC2"] for _, _, r in fi_clean.rows(L.AVOHILMO_ICPC2))
    process = {c for c, _ in FC.ICPC2_PROCESS}
    assert {c for c in codes if c.startswith("-")} == process
    assert set(codes) <= process | {c.icpc2 for c in FC.FI_CONDITIONS}
    visits = {r["AVOHILMO_ID"] for _, _, r in fi_clean.rows(L.AVOHILMO)}
    for ft in (L.AVOHILMO_ICD10, L.AVOHILMO_ICPC2, L.AVOHILMO_PROC):
        rows = fi_clean.rows(ft)
        assert rows and {r["AVOHILMO_ID"] for _, _, r in rows} <= visits
    contacts = Counter(r["KAYNTI_YHTEYSTAPA"] for _, _, r in fi_clean.rows(L.AVOHILMO))
    assert set(contacts) == set(FC.AVOHILMO_CONTACT_TYPES)
    py = fi_clean.report.person_years
    assert 2.0 < len(visits) / py < 4.5
    assert 0.25 < len(fi_clean.rows(L.HILMO)) / py < 0.6


def test_kela_purchases_vnr_reimbursement(fi_clean):
    rights = defaultdict(list)
    for _, _, r in fi_clean.rows(L.KELA_REIMB):
        assert r["SK1"] in FC.FI_REIMB
        rights[r["HETU"]].append((r["SK1"], parse_fi_date(r["ALPV"]), parse_fi_date(r["LOPV"]) if r["LOPV"] else None))
    price = {d.atc: d.package_price_eur for d in FC.FI_DRUGS}
    vnr_of = {d.atc: set(d.vnr) for d in FC.FI_DRUGS}
    rows = fi_clean.rows(L.KELA_PURCHASE)
    shares = Counter()
    for _, _, r in rows:
        assert re.fullmatch(r"\d{6}", r["VNRO"]) and r["VNRO"] in vnr_of[r["ATC"]]
        pk = int(r["PLKM"])
        korv = float(r["KORV_EUR"].replace(",", "."))
        share = round(korv / (price[r["ATC"]] * pk), 2)
        assert share in (0.4, 0.65, 1.0), r
        shares[share] += 1
        if r["SAIR"]:
            day = parse_fi_date(r["OSTOPV"])
            assert any(sk == r["SAIR"] and a <= day and (b is None or day <= b) for sk, a, b in rights[r["HETU"]])
            assert share > 0.4
        else:
            assert share == 0.4
    assert any(r["VNRO"].startswith("0") for _, _, r in rows)
    assert any(r["PLKM"].startswith("-") for _, _, r in rows)  # returned purchases
    assert len(shares) == 3


def test_cancer_death_and_biobank_registers(fi_clean):
    cancers = fi_clean.rows(L.CANCER)
    assert cancers and {(r["TOPO"], r["MORFO"], r["BEH"]) for _, _, r in cancers} <= {c[:3] for c in FC.FI_CANCERS}
    consents = {r["HETU"]: r for _, _, r in fi_clean.rows(L.BIOBANK_CONSENT)}
    assert 0.02 < len(consents) / 2000 < 0.08
    for r in consents.values():
        assert (r["SUOSTUMUS"] == FC.CONSENT_WITHDRAWN) == (r["PERUUTUSPV"] != "")
        assert r["BIOPANKKI"] in FC.BIOBANKS
    samples = fi_clean.rows(L.BIOBANK_SAMPLE)
    assert samples and len({r["NAYTE_ID"] for _, _, r in samples}) == len(samples)
    for _, _, r in samples:
        c = consents[r["HETU"]]  # samples only for persons with a consent
        assert r["NAYTETYYPPI"] in FC.SAMPLE_TYPES and r["BIOPANKKI"] == c["BIOPANKKI"]
        assert parse_fi_date(r["KERAYSPV"]) >= parse_fi_date(c["SUOSTUMUSPV"])
        if c["PERUUTUSPV"]:
            assert parse_fi_date(r["KERAYSPV"]) < parse_fi_date(c["PERUUTUSPV"])
    deaths = fi_clean.rows(L.DEATH)
    assert deaths and all(r["TPKS"] and r["VKS"] for _, _, r in deaths)
    assert any(r["M1"] for _, _, r in deaths)


def test_finngen_file_shape(fi_clean):
    ft = L.FINNGEN
    rows = fi_clean.rows(ft)
    text = (fi_clean.out / "finngen_longitudinal.tsv").read_text("utf-8")
    assert "\tNA\t" in text and "\t\t" not in text
    assert not re.search(r"\d{6}[-+A-FU-Y]\d{3}[0-9A-Y]", text)  # no henkilötunnus
    sources = Counter()
    for _, _, r in rows:
        assert re.fullmatch(r"FG\d{8}", r["FINNGENID"]) and re.fullmatch(r"\d+\.\d\d", r["EVENT_AGE"])
        assert all(r[c] != "" for c in ft.column_names)
        sources[r["SOURCE"]] += 1
        assert r["ICDVER"] in {"8", "9", "10", "O3", "ATC", "NA"}
        if r["SOURCE"] == "PURCH":
            assert r["ICDVER"] == "ATC" and re.fullmatch(r"\d{6}", r["CODE3"]) and re.fullmatch(r"-?\d+", r["CODE4"])
        elif r["SOURCE"] == "DEATH":
            assert r["CATEGORY"] in {"U", "I", "c1", "c2", "c3", "c4"}
        elif r["SOURCE"] == "CANC":
            assert r["ICDVER"] == "O3" and (r["CODE1"], r["CODE2"], r["CODE3"]) in {c[:3] for c in FC.FI_CANCERS}
        elif r["SOURCE"] in ("INPAT", "OUTPAT"):
            assert r["CODE1"] in ICD10_PARTS and r["ICDVER"] == "10" and "+" not in r["CODE1"]
    assert set(sources) == {"INPAT", "OUTPAT", "OPER_IN", "OPER_OUT", "PRIM_OUT", "PURCH", "REIMB", "CANC", "DEATH"}
    # the same events as the register files
    assert sources["PURCH"] == len(fi_clean.rows(L.KELA_PURCHASE))
    assert sources["REIMB"] == len(fi_clean.rows(L.KELA_REIMB))
    assert sources["CANC"] == len(fi_clean.rows(L.CANCER))
    n_dx = len({(r["HILMO_ID"], r["N"]) for _, _, r in fi_clean.rows(L.HILMO_DIAG)})
    assert sources["INPAT"] + sources["OUTPAT"] == n_dx
    dagger = [r for _, _, r in rows if r["SOURCE"] in ("INPAT", "OUTPAT") and r["CODE2"] != "NA"]
    assert dagger and all((r["CODE2"], r["CODE1"]) in {("E113", "H360"), ("E112", "N083"), ("A170", "G01"),
                                                       ("W19", "S7200")} for r in dagger)
    hilmo_ids = {r["HILMO_ID"] for _, _, r in fi_clean.rows(L.HILMO)}
    assert {r["INDEX"] for _, _, r in rows if r["SOURCE"] == "INPAT"} <= hilmo_ids
