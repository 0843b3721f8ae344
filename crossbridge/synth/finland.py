"""Synthetic Finnish register extracts (and the FinnGen longitudinal file) in the layout of
:mod:`connectors.finland.layout`.

:func:`generate_finland` writes, for a synthetic population with a Finnish-like age pyramid,
every register file of the layout (population, Hilmo episodes/diagnoses/procedures per
discharge year, Avohilmo visits and codes from 2011, Kela purchases from 1995 and special
reimbursement rights, Cancer Registry, causes of death, biobank samples and consents) and/or
``finngen_longitudinal.tsv`` built from the same events.  Files: ``;``-separated, Latin-1,
``\\n`` line ends, header = layout column names, dates ``dd.mm.yyyy`` (care-register times
``dd.mm.yyyy hh:mm``), decimals with a comma, codes from ``fi_catalogue`` written as the
registers write them (ICD era by the event date; combination codes split in the Hilmo long
table, written whole in Avohilmo).  Output is byte-identical for the same arguments.
A share ``defect_rate`` of the rows of each file receives one injected defect; the ground
truth goes to ``<out>/_ground_truth/defects.csv`` and ``summary.json`` (never a henkilötunnus:
raw identifiers appear only in the raw files).

Persons are generated in blocks (bounded memory), each block vectorised with numpy/pyarrow.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.random import PCG64, Generator, SeedSequence

from connectors.finland import layout as L
from connectors.finland.hetu import make_hetus
from crossbridge.synth import fi_catalogue as FC
from crossbridge.synth import fi_events as ev
from crossbridge.synth.fi_format import decimal2, fi_date, fi_decimal, iso_date, lookup, padded, s
from crossbridge.synth.fi_population import DAYS_PER_YEAR, FiPersons, days, make_persons
from crossbridge.synth.fi_writer import DEFECT_TYPES, PARENT_LOST, Extras, FinnishFileSink
from crossbridge.synth.common import SynthArgumentError
from crossbridge.synth.common import SynthReport as FinlandSynthReport

__all__ = ["FinlandSynthReport", "LAYOUTS", "SynthArgumentError", "generate_finland"]

LAYOUTS = ("registers", "finngen", "both")
ROWS_PER_BLOCK = 400_000
ROWS_PER_PERSON_YEAR = 30.0  # rough, only to size the blocks
FIRST_YEAR, LAST_YEAR = 1969, 2099
HILMO_ID0, HILMO_ORPHAN0 = 100_000_000_000, 900_000_000_000  # 12 digits
AVO_ID0, AVO_ORPHAN0 = 10_000_000_000_000, 90_000_000_000_000  # 14 digits
# codes outside the catalogue, per ICD era (8, 9, 10), for the unknown_code defect
UNKNOWN_DX = (("79699", "79690"), ("7999X", "7999A"), ("R688", "Q878"))
UNKNOWN_NCSP = ("ZXX00", "QXA99")
UNKNOWN_ICPC = ("A99", "Z29")
UNKNOWN_VNR = ("990001", "990017")
UNKNOWN_TOPO = "C779"
UNKNOWN_SAMPLE = "SYLKI"


def _year(day: np.ndarray) -> np.ndarray:
    return np.asarray(day, dtype=np.int64).astype("M8[D]").astype("M8[Y]").astype(np.int64) + 1970


def _dx_code(dx: np.ndarray, era: np.ndarray) -> pa.Array:
    """Codes as written (combination codes whole) by era; null where dx < 0."""
    table = [c for codes in ev.DX_CODES for c in codes]
    return lookup(table, np.where(dx < 0, -1, era * ev.N_DX + dx))


def _unknown_dx(era: np.ndarray, rng: Generator) -> pa.Array:
    table = [c for pair in UNKNOWN_DX for c in pair]
    return lookup(table, era * 2 + rng.integers(0, 2, era.size))


class KeyBitmap:
    """Henkilötunnus keys (birth day * 1000 + NNN, births 1800-2099) in use, as a packed bitmap
    (about 14 MB): constant-time look-up however many persons were generated before."""

    DAY0 = days(1800)

    def __init__(self) -> None:
        self.bits = np.zeros(((days(2100) - self.DAY0) * 1000 + 7) // 8, dtype=np.uint8)

    def _pos(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = np.asarray(keys, dtype=np.int64) - self.DAY0 * 1000
        return k >> 3, (k & 7).astype(np.uint8)

    def __call__(self, keys: np.ndarray) -> np.ndarray:
        byte, bit = self._pos(keys)
        return ((self.bits[byte] >> bit) & 1).astype(bool)

    def add(self, keys: np.ndarray) -> None:
        byte, bit = self._pos(keys)
        np.bitwise_or.at(self.bits, byte, (np.uint8(1) << bit).astype(np.uint8))


class _Ctx:
    """State shared by the blocks: sink, layout, running ids, henkilötunnus keys in use."""

    def __init__(self, sink: FinnishFileSink, y0: int, y1: int, seed: int, layout: str):
        self.sink, self.y0, self.y1, self.seed = sink, y0, y1, seed
        self.start, self.end = days(y0), days(y1, 12, 31)
        self.registers = layout in ("registers", "both")
        self.finngen = layout in ("finngen", "both")
        self.seq = dict.fromkeys(("hilmo", "hilmo_orphan", "avo", "avo_orphan", "sample", "purchase", "reimb",
                                  "fcr", "cod"), 0)
        self.taken = KeyBitmap()
        self.person_years = 0.0

    def ids(self, kind: str, n: int) -> np.ndarray:
        out = self.seq[kind] + np.arange(n, dtype=np.int64)
        self.seq[kind] += n
        return out

    def temp_ids(self, p: FiPersons, pid: np.ndarray, block: int, ft: L.FileType) -> Callable[[np.ndarray], pa.Array]:
        """Temporary codes (NNN 900-999) for the rows the writer picks for the temporary_id defect."""
        def make(rows: np.ndarray) -> pa.Array:
            rng = Generator(PCG64(SeedSequence([self.seed, 3, block, L.FILE_TYPES.index(ft)])))
            who = pid[rows]
            return make_hetus(p.birth[who], p.male[who], rng, temporary_share=1.0, new_sign_share=0.0)
        return make


# ------------------------------------------------------------------ registers
def _hetu(p: FiPersons, pid: np.ndarray) -> pa.Array:
    return p.hetu.take(pa.array(pid))


def _write_population(ctx: _Ctx, p: FiPersons, block: int) -> None:
    mun = np.array(FC.MUNICIPALITIES)
    cols = {"HETU": p.hetu, "SUKUPUOLI": lookup(["1", "2"], np.where(p.male, 0, 1)),
            "SYNTYMAPV": fi_date(p.birth), "KOTIKUNTA": lookup(list(mun[:, 0]), p.mun),
            "KUNTA_NIMI": lookup(list(mun[:, 1]), p.mun),
            "KUOLINPV": fi_date(p.exit, ~p.died), "MAASTAMUUTTOPV": fi_date(p.exit, ~p.emigrated)}
    ft = L.POPULATION
    ctx.sink.write(ft, cols, None, Extras(temp_ids=ctx.temp_ids(p, np.arange(p.n), block, ft)))


def _write_hilmo(ctx: _Ctx, p: FiPersons, ep: dict, ep_id: np.ndarray, diag: dict, proc: dict, block: int,
                 rng: Generator) -> None:
    pid = ep["pid"]
    n = pid.size
    period = np.where(ep["dis"] < 0, ctx.y1, _year(np.maximum(ep["dis"], 0)))
    mun_no = np.array([m[0] for m in FC.MUNICIPALITIES])
    paltu = pc.binary_join_element_wise(lookup(list(mun_no), p.mun[pid]), s(ep_id % 3 + 1), "0")
    cols = {"HILMO_ID": s(ep_id + HILMO_ID0), "TNRO": _hetu(p, pid),
            "TUPVA": fi_date(ep["adm"], minute=ep["minute"]), "LPVM": fi_date(ep["dis"], ep["dis"] < 0),
            "PALA": lookup(ev.PALA, ep["pala"]), "EA": lookup(ev.EA, ep["ea"]), "PALTU": paltu,
            "KIIREELLISYYS": lookup(["E", "P"], ep["urgent"].astype(np.int64))}
    kinds = ctx.sink.write(L.HILMO, cols, period, Extras(temp_ids=ctx.temp_ids(p, pid, block, L.HILMO)))
    lost = np.isin(kinds, list(PARENT_LOST)) if kinds.size else np.zeros(n, bool)

    # diagnoses, long table: cause part (PDGE/SDGE), symptom/main part (PDGO/SDGO), external cause (ULKSYY)
    e, nn, dx, era = diag["episode"], diag["n"], diag["dx"], diag["era"]
    icd10 = era == 2
    main_code = pc.if_else(pa.array(icd10 & ~ev.WHOLE[dx]), lookup(ev.PART_MAIN, dx), _dx_code(dx, era))
    role2 = np.where(icd10, ev.ROLE2[dx], 0)
    second = np.flatnonzero(role2 > 0)
    rows_e = np.r_[e, e[second]]
    rows_n = np.r_[nn, nn[second]]
    sub = np.r_[np.ones(e.size, np.int64), np.where(role2[second] == 1, 0, 2)]  # E=0 before O=1 before U=2
    kentta_tab = ["PDGE", "PDGO", "ULKSYY", "SDGE", "SDGO", "ULKSYY"]
    kentta = lookup(kentta_tab, sub + 3 * (rows_n > 0))
    code = pa.concat_arrays([main_code, lookup(ev.PART_CAUSE, dx[second])])
    unk = pa.concat_arrays([_unknown_dx(era, rng), _unknown_dx(era[second], rng)])
    o = np.lexsort((sub, rows_n, rows_e))
    rows_e, rows_n, kentta, code, unk = rows_e[o], rows_n[o], kentta.take(pa.array(o)), code.take(pa.array(o)), \
        unk.take(pa.array(o))
    m = rows_e.size
    cols = {"HILMO_ID": s(ep_id[rows_e] + HILMO_ID0), "KENTTA": kentta, "N": s(rows_n), "KOODI": code}
    ctx.sink.write(L.HILMO_DIAG, cols, period[rows_e], Extras(
        unknown=("KOODI", unk),
        orphan=("HILMO_ID", "orphan_diagnosis", s(ctx.ids("hilmo_orphan", m) + HILMO_ORPHAN0)),
        protect=lost[rows_e], cascade=(lost[rows_e], "orphan_diagnosis", "HILMO_ID")))

    # procedures (NCSP-F): date inside the stay, empty for a third (= the admission date)
    pe = proc["episode"]
    k = pe.size
    stay = np.where(ep["dis"][pe] < 0, 0, ep["dis"][pe] - ep["adm"][pe])
    pday = ep["adm"][pe] + (rng.random(k) * (stay + 1)).astype(np.int64)
    cols = {"HILMO_ID": s(ep_id[pe] + HILMO_ID0), "N": s(proc["n"]),
            "TOIMP": lookup([q.ncsp for q in FC.FI_PROCEDURES], proc["proc"]),
            "TOIMPPVM": fi_date(pday, rng.random(k) < 0.33)}
    ctx.sink.write(L.HILMO_PROC, cols, period[pe], Extras(
        unknown=("TOIMP", lookup(UNKNOWN_NCSP, rng.integers(0, 2, k))),
        orphan=("HILMO_ID", "orphan_diagnosis", s(ctx.ids("hilmo_orphan", k) + HILMO_ORPHAN0)),
        protect=lost[pe], cascade=(lost[pe], "orphan_diagnosis", "HILMO_ID")))


def _write_avohilmo(ctx: _Ctx, p: FiPersons, v: dict, v_id: np.ndarray, icd: dict, icpc: dict, vproc: dict,
                    block: int, rng: Generator) -> None:
    pid = v["pid"]
    n = pid.size
    if n == 0:
        return
    period = _year(v["day"])
    cols = {"AVOHILMO_ID": s(v_id + AVO_ID0), "TNRO": _hetu(p, pid),
            "KAYNTI_ALKOI": fi_date(v["day"], minute=v["minute"]),
            "KAYNTI_YHTEYSTAPA": lookup(ev.CONTACT, v["contact"]),
            "KAYNTI_PALVELUMUOTO": lookup(ev.SERVICE, v["service"]),
            "KAYNTI_AMMATTI": lookup(ev.PROFESSION, v["prof"]),
            "KAYNTI_KIIREELLISYYS": lookup(["2", "1"], v["urgent"].astype(np.int64))}
    kinds = ctx.sink.write(L.AVOHILMO, cols, period, Extras(temp_ids=ctx.temp_ids(p, pid, block, L.AVOHILMO)))
    lost = np.isin(kinds, list(PARENT_LOST))
    for ft, rows, col, values, unknown in (
        (L.AVOHILMO_ICD10, icd, "ICD10", lambda r: _dx_code(r["dx"], np.full(r["dx"].size, 2)),
         lambda m: lookup(UNKNOWN_DX[2], rng.integers(0, 2, m))),
        (L.AVOHILMO_ICPC2, icpc, "ICPC2", lambda r: lookup(ev.ICPC2_TABLE, r["code"]),
         lambda m: lookup(UNKNOWN_ICPC, rng.integers(0, 2, m))),
        (L.AVOHILMO_PROC, vproc, "TOIMP", lambda r: lookup([q.ncsp for q in FC.FI_PROCEDURES], r["proc"]),
         lambda m: lookup(UNKNOWN_NCSP, rng.integers(0, 2, m))),
    ):  # three child tables
        e = rows["visit"]
        m = e.size
        cols = {"AVOHILMO_ID": s(v_id[e] + AVO_ID0), "JARJESTYS": s(rows["n"]), col: values(rows)}
        ctx.sink.write(ft, cols, period[e], Extras(
            unknown=(col, unknown(m)),
            orphan=("AVOHILMO_ID", "orphan_visit_code", s(ctx.ids("avo_orphan", m) + AVO_ORPHAN0)),
            protect=lost[e], cascade=(lost[e], "orphan_visit_code", "AVOHILMO_ID")))


def _write_kela(ctx: _Ctx, p: FiPersons, buys: dict, reimb: dict, block: int, rng: Generator) -> None:
    pid = buys["pid"]
    n = pid.size
    drugs = FC.FI_DRUGS
    vnr_table = [v for d in drugs for v in d.vnr]
    vnr_first = np.cumsum([0] + [len(d.vnr) for d in drugs])[:-1]
    cols = {"HETU": _hetu(p, pid), "OSTOPV": fi_date(buys["day"]), "ATC": lookup([d.atc for d in drugs], buys["drug"]),
            "SAIR": lookup(ev.SK1, buys["sk1"]), "VNRO": lookup(vnr_table, vnr_first[buys["drug"]] + buys["vnr"]),
            "PLKM": s(buys["plkm"]), "KORV_EUR": fi_decimal(buys["korv"]),
            "KAKORV_EUR": fi_decimal(buys["kakorv"], buys["kakorv"] == ev.NO_AMOUNT),
            "LAJI": lookup(["1", "2"], buys["laji"])}
    ctx.sink.write(L.KELA_PURCHASE, cols, _year(buys["day"]), Extras(
        unknown=("VNRO", lookup(UNKNOWN_VNR, rng.integers(0, 2, n))),
        temp_ids=ctx.temp_ids(p, pid, block, L.KELA_PURCHASE)))
    rp = reimb["pid"]
    cols = {"HETU": _hetu(p, rp), "SK1": lookup(ev.SK1, ev.COND_SK1[reimb["cond"]]),
            "DIAG": lookup([c.icd10 for c in FC.FI_CONDITIONS], reimb["cond"]), "ALPV": fi_date(reimb["start"]),
            "LOPV": fi_date(reimb["stop"], reimb["stop"] < 0)}
    ctx.sink.write(L.KELA_REIMB, cols, None, Extras(
        unknown=("DIAG", lookup(UNKNOWN_DX[2], rng.integers(0, 2, rp.size))),
        temp_ids=ctx.temp_ids(p, rp, block, L.KELA_REIMB)))


def _write_registries(ctx: _Ctx, p: FiPersons, ca: dict, de: dict, cons: dict, samp: dict, sample_id: pa.Array,
                      block: int, rng: Generator) -> None:
    cp = ca["pid"]
    cols = {"HETU": _hetu(p, cp), "DG_PVM": fi_date(ca["day"]),
            "TOPO": lookup([c[0] for c in FC.FI_CANCERS], ca["cancer"]),
            "MORFO": lookup([c[1] for c in FC.FI_CANCERS], ca["cancer"]),
            "BEH": lookup([c[2] for c in FC.FI_CANCERS], ca["cancer"]), "SIVU": lookup(["1", "2", "9"], ca["side"])}
    ctx.sink.write(L.CANCER, cols, None, Extras(unknown=("TOPO", pa.array([UNKNOWN_TOPO] * cp.size, pa.string())),
                                                temp_ids=ctx.temp_ids(p, cp, block, L.CANCER)))
    dp = de["pid"]
    cols = {"HETU": _hetu(p, dp), "KPV": fi_date(de["day"])}
    for j, name in enumerate(("TPKS", "VKS", "M1", "M2", "M3", "M4")):  # six cause columns
        cols[name] = _dx_code(de["dx"][:, j], de["era"])
    ctx.sink.write(L.DEATH, cols, None, Extras(unknown=("TPKS", _unknown_dx(de["era"], rng)),
                                               temp_ids=ctx.temp_ids(p, dp, block, L.DEATH)))
    banks = list(FC.BIOBANKS)
    sp = samp["pid"]
    cols = {"NAYTE_ID": sample_id, "HETU": _hetu(p, sp), "BIOPANKKI": lookup(banks, samp["bank"]),
            "NAYTETYYPPI": lookup(list(FC.SAMPLE_TYPES), samp["type"]), "KERAYSPV": fi_date(samp["day"])}
    ctx.sink.write(L.BIOBANK_SAMPLE, cols, None, Extras(
        unknown=("NAYTETYYPPI", pa.array([UNKNOWN_SAMPLE] * sp.size, pa.string())),
        temp_ids=ctx.temp_ids(p, sp, block, L.BIOBANK_SAMPLE)))
    qp = cons["pid"]
    wd = cons["withdrawn"]
    cols = {"HETU": _hetu(p, qp), "BIOPANKKI": lookup(banks, cons["bank"]),
            "SUOSTUMUS": lookup([FC.CONSENT_IN_FORCE, FC.CONSENT_WITHDRAWN], (wd >= 0).astype(np.int64)),
            "SUOSTUMUSPV": fi_date(cons["day"]), "PERUUTUSPV": fi_date(wd, wd < 0)}
    ctx.sink.write(L.BIOBANK_CONSENT, cols, None, Extras(temp_ids=ctx.temp_ids(p, qp, block, L.BIOBANK_CONSENT)))


# -------------------------------------------------------------------- FinnGen
def _fg_part(source: str, pid, day, c1, c2=None, c3=None, c4=None, ver=None, cat=None, index=None,
             era=None) -> dict:
    """One source's FinnGen rows; ``era`` (0/1/2 = ICD-8/9/10) marks diagnosis rows (unknown_code eligible)."""
    n = len(pid)
    none = pa.nulls(n, pa.string())
    return {"pid": np.asarray(pid), "day": np.asarray(day), "src": source,
            "era": np.full(n, -1) if era is None else np.asarray(era),
            "cols": [c1, c2 if c2 is not None else none, c3 if c3 is not None else none,
                     c4 if c4 is not None else none, ver if ver is not None else none,
                     cat if cat is not None else none, index]}


_SOURCES = ("INPAT", "OUTPAT", "OPER_IN", "OPER_OUT", "PRIM_OUT", "PURCH", "REIMB", "CANC", "DEATH")


def _split_dx(dx: np.ndarray, era: np.ndarray) -> tuple[pa.Array, pa.Array, pa.Array]:
    """FinnGen CODE1 (symptom / main part), CODE2 (cause or external part), CODE3 (ATC part)."""
    icd10 = era == 2
    c1 = pc.if_else(pa.array(icd10), lookup(ev.PART_MAIN, dx), _dx_code(dx, era))
    none = np.where(icd10, dx, -1)
    return c1, lookup(ev.PART_CAUSE, none), lookup(ev.PART_ATC, none)


def _write_finngen(ctx: _Ctx, p: FiPersons, ep, ep_id, diag, proc, v, v_id, icd, icpc, vproc, buys, buy_id,
                   reimb, reimb_id, ca, ca_id, de, de_id, rng: Generator) -> None:
    parts = []
    # Hilmo diagnoses and procedures
    e = diag["episode"]
    c1, c2, c3 = _split_dx(diag["dx"], diag["era"])
    ward = ep["pala"][e] == ev.WARD
    stay = ep["dis"][e] - ep["adm"][e]
    hid = s(ep_id + HILMO_ID0)
    for src, sel in (("INPAT", ward), ("OUTPAT", ~ward)):  # two sources
        r = np.flatnonzero(sel)
        t = pa.array(r)
        c4 = s(stay[r], ep["dis"][e][r] < 0) if src == "INPAT" else None
        parts.append(_fg_part(src, ep["pid"][e][r], ep["adm"][e][r], c1.take(t), c2.take(t), c3.take(t), c4,
                              lookup(["8", "9", "10"], diag["era"][r]), s(diag["n"][r]), hid.take(pa.array(e[r])),
                              diag["era"][r]))
    pe = proc["episode"]
    pward = ep["pala"][pe] == ev.WARD
    for src, sel in (("OPER_IN", pward), ("OPER_OUT", ~pward)):  # two sources
        r = np.flatnonzero(sel)
        parts.append(_fg_part(src, ep["pid"][pe][r], ep["adm"][pe][r],
                              lookup([q.ncsp for q in FC.FI_PROCEDURES], proc["proc"][r]),
                              cat=s(proc["n"][r]), index=hid.take(pa.array(pe[r]))))
    # Avohilmo
    vid = s(v_id + AVO_ID0)
    if v["pid"].size:
        e = icd["visit"]
        c1, c2, c3 = _split_dx(icd["dx"], np.full(e.size, 2))
        parts.append(_fg_part("PRIM_OUT", v["pid"][e], v["day"][e], c1, c2, c3, None,
                              pa.array(["10"] * e.size, pa.string()),
                              pc.binary_join_element_wise("ICD", s(icd["n"]), ""), vid.take(pa.array(e)),
                              np.full(e.size, 2)))
        e = icpc["visit"]
        parts.append(_fg_part("PRIM_OUT", v["pid"][e], v["day"][e], lookup(ev.ICPC2_TABLE, icpc["code"]),
                              cat=pc.binary_join_element_wise("ICP", s(icpc["n"]), ""), index=vid.take(pa.array(e))))
        e = vproc["visit"]
        parts.append(_fg_part("PRIM_OUT", v["pid"][e], v["day"][e],
                              lookup([q.ncsp for q in FC.FI_PROCEDURES], vproc["proc"]),
                              cat=pc.binary_join_element_wise("OP", s(vproc["n"]), ""), index=vid.take(pa.array(e))))
    # Kela
    drugs = FC.FI_DRUGS
    vnr_table = [x for d in drugs for x in d.vnr]
    vnr_first = np.cumsum([0] + [len(d.vnr) for d in drugs])[:-1]
    parts.append(_fg_part("PURCH", buys["pid"], buys["day"], lookup([d.atc for d in drugs], buys["drug"]),
                          lookup(ev.SK1, buys["sk1"]), lookup(vnr_table, vnr_first[buys["drug"]] + buys["vnr"]),
                          s(buys["plkm"]), pa.array(["ATC"] * buys["pid"].size, pa.string()),
                          index=padded("KELA", buy_id, 12)))
    parts.append(_fg_part("REIMB", reimb["pid"], reimb["start"], lookup(ev.SK1, ev.COND_SK1[reimb["cond"]]),
                          lookup([c.icd10 for c in FC.FI_CONDITIONS], reimb["cond"]),
                          ver=pa.array(["10"] * reimb["pid"].size, pa.string()), index=padded("ERKO", reimb_id, 10)))
    parts.append(_fg_part("CANC", ca["pid"], ca["day"], lookup([c[0] for c in FC.FI_CANCERS], ca["cancer"]),
                          lookup([c[1] for c in FC.FI_CANCERS], ca["cancer"]),
                          lookup([c[2] for c in FC.FI_CANCERS], ca["cancer"]),
                          ver=pa.array(["O3"] * ca["pid"].size, pa.string()), index=padded("FCR", ca_id, 10)))
    dj, dk = np.nonzero(de["dx"] >= 0)
    parts.append(_fg_part("DEATH", de["pid"][dj], de["day"][dj], _dx_code(de["dx"][dj, dk], de["era"][dj]),
                          ver=lookup(["8", "9", "10"], de["era"][dj]),
                          cat=lookup(["U", "I", "c1", "c2", "c3", "c4"], dk), index=padded("KS", de_id[dj], 10),
                          era=de["era"][dj]))

    pid = np.concatenate([q["pid"] for q in parts]).astype(np.int64)
    day = np.concatenate([q["day"] for q in parts]).astype(np.int64)
    src = np.concatenate([np.full(q["pid"].size, _SOURCES.index(q["src"])) for q in parts])
    seq = np.arange(pid.size)
    o = np.lexsort((seq, src, day, pid))
    t = pa.array(o)
    fields = [pa.concat_arrays([q["cols"][j] for q in parts]).take(t) for j in range(7)]
    pid, day, src = pid[o], day[o], src[o]
    names = ["CODE1", "CODE2", "CODE3", "CODE4", "ICDVER", "CATEGORY", "INDEX"]
    cols = {"FINNGENID": padded("FG", p.gidx[pid] + 1, 8), "SOURCE": lookup(list(_SOURCES), src),
            "EVENT_AGE": decimal2((day - p.birth[pid]) / DAYS_PER_YEAR), "APPROX_EVENT_DAY": iso_date(day)}
    cols.update(dict(zip(names, fields)))
    era = np.concatenate([q["era"] for q in parts])[o]
    unknown = pc.if_else(pa.array(era >= 0), _unknown_dx(np.maximum(era, 0), rng), pa.scalar(None, pa.string()))
    ctx.sink.write(L.FINNGEN, cols, None, Extras(unknown=("CODE1", unknown)))


# ---------------------------------------------------------------------- block
def _block(ctx: _Ctx, gidx: np.ndarray, block: int) -> None:
    rng = Generator(PCG64(SeedSequence([ctx.seed, 1, block])))
    p = make_persons(gidx, ctx.start, ctx.end, rng, ctx.taken)
    ctx.taken.add(p.hetu_keys())
    ctx.person_years += float(((p.exit - p.entry + 1) / DAYS_PER_YEAR).sum())
    x = ev.Extras(p, rng)
    ep = ev.hilmo(p, x, rng, ctx.end)
    diag, proc = ev.hilmo_rows(ep)
    visits = ev.primary_care(p, x, rng)
    avo = {k: a[visits["day"] >= ev.AVOHILMO_FROM] for k, a in visits.items()}
    icd, icpc, vproc = ev.avohilmo_rows(avo)
    reimb, start_m, stop_m = ev.rights(p, x, rng, ctx.end)
    buys = ev.purchases(p, x, visits, start_m, stop_m, rng)
    ca = ev.cancers(p, rng)
    de = ev.deaths(p, rng)
    cons, samp = ev.biobank(p, rng, ctx.start, ctx.end)
    fmt_rng = Generator(PCG64(SeedSequence([ctx.seed, 4, block])))

    ep_id = ctx.ids("hilmo", ep["pid"].size)
    v_id = ctx.ids("avo", avo["pid"].size)
    buy_id = ctx.ids("purchase", buys["pid"].size)
    reimb_id = ctx.ids("reimb", reimb["pid"].size)
    ca_id = ctx.ids("fcr", ca["pid"].size)
    de_id = ctx.ids("cod", de["pid"].size)
    sample_no = ctx.ids("sample", samp["pid"].size)
    sample_id = pc.binary_join_element_wise(lookup(list(FC.BIOBANKS), samp["bank"]),
                                            pc.utf8_lpad(s(sample_no + 1), 10, "0"), "")
    if ctx.registers:
        _write_population(ctx, p, block)
        _write_hilmo(ctx, p, ep, ep_id, diag, proc, block, fmt_rng)
        _write_avohilmo(ctx, p, avo, v_id, icd, icpc, vproc, block, fmt_rng)
        _write_kela(ctx, p, buys, reimb, block, fmt_rng)
        _write_registries(ctx, p, ca, de, cons, samp, sample_id, block, fmt_rng)
    if ctx.finngen:
        _write_finngen(ctx, p, ep, ep_id, diag, proc, avo, v_id, icd, icpc, vproc, buys, buy_id, reimb, reimb_id,
                       ca, ca_id, de, de_id, Generator(PCG64(SeedSequence([ctx.seed, 5, block]))))


def generate_finland(
    out: Path,
    persons: int,
    years: tuple[int, int],
    seed: int = 1,
    defect_rate: float = 0.0,
    layout: str = "registers",
    progress: Callable[[str, int, int], None] | None = None,
) -> FinlandSynthReport:
    """Write a synthetic Finnish extract to ``out``.

    ``persons``: population size; ``years``: first and last calendar year (inclusive, 1969..2099);
    ``seed``: same arguments give byte-identical files; ``defect_rate``: share of data rows per file
    with one injected defect (ground truth in ``_ground_truth/``); ``layout``: 'registers' (the
    register files), 'finngen' (``finngen_longitudinal.tsv``) or 'both'; ``progress(stage, done,
    total)`` is called after each person block.
    """
    if not isinstance(persons, int | np.integer) or persons < 1:
        raise SynthArgumentError(f"persons must be an integer >= 1, got {persons!r}")
    try:
        y0, y1 = int(years[0]), int(years[1])
    except (TypeError, ValueError, IndexError) as exc:
        raise SynthArgumentError(f"years must be a pair of integers, got {years!r}") from exc
    if not (FIRST_YEAR <= y0 <= y1 <= LAST_YEAR):
        raise SynthArgumentError(f"years must be an increasing pair within {FIRST_YEAR}..{LAST_YEAR}, got {years}")
    if not (0.0 <= defect_rate < 0.5):
        raise SynthArgumentError(f"defect_rate must be in [0, 0.5), got {defect_rate}")
    if layout not in LAYOUTS:
        raise SynthArgumentError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sink = FinnishFileSink(out, defect_rate, seed)
    ctx = _Ctx(sink, y0, y1, seed, layout)
    all_years = list(range(y0, y1 + 1))
    if ctx.registers:
        for ft in L.FILE_TYPES:
            if ft is L.FINNGEN:
                continue
            if ft.period == "none":
                sink.create(ft, [None])
            elif ft.key.startswith("avohilmo"):
                sink.create(ft, [y for y in all_years if y >= 2011])
            elif ft.key == "kela_purchase":
                sink.create(ft, [y for y in all_years if y >= 1995])
            else:
                sink.create(ft, all_years)
    if ctx.finngen:
        sink.create(L.FINNGEN, [None])
    block = int(np.clip(ROWS_PER_BLOCK / (ROWS_PER_PERSON_YEAR * (y1 - y0 + 1)), 500, 100_000))
    for b, lo in enumerate(range(0, persons, block)):  # person blocks
        hi = min(persons, lo + block)
        _block(ctx, np.arange(lo, hi, dtype=np.int64), b)
        if progress is not None:
            progress("persons", hi, persons)
    sink.close()
    report = FinlandSynthReport(out, sink.rows_per_file(), len(sink.defects), round(ctx.person_years, 3),
                                sink.defect_counts())
    summary = {
        "generator": "crossbridge.synth.finland",
        "arguments": {"persons": persons, "years": [y0, y1], "seed": seed, "defect_rate": defect_rate,
                      "layout": layout},
        "persons": persons,
        "person_years": report.person_years,
        "files": report.files,
        "defects_by_type": {k: report.defects_by_type.get(k, 0) for k in DEFECT_TYPES},
        "defects": report.defects,
    }
    (out / "_ground_truth" / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n",
                                                       encoding="utf-8")
    return report
