"""Synthetic Taiwan NHI claims, registries and biobank files in the HWDC raw layout.

:func:`generate_taiwan` writes one CSV per file type and period exactly as
described by :mod:`connectors.taiwan.layout`, for a synthetic population with
a Taiwan-like age pyramid, chronic and acute care, admissions, pharmacy refills,
deaths, cancers and biobank participation.  Output is deterministic for the
same arguments.  Optionally a share of rows receives one injected defect each;
the ground truth goes to ``<out>/_ground_truth/``.

Persons are generated in blocks (bounded memory); every block's rows are
formatted with pyarrow and appended to the monthly/yearly files in whole chunks.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.random import PCG64, Generator, SeedSequence

from connectors.taiwan import layout as L
from crossbridge.synth import catalogue
from crossbridge.synth.common import SynthArgumentError  # noqa: F401  (part of this module's API)
from crossbridge.synth.common import SynthReport as TaiwanSynthReport
from crossbridge.synth import tw_events as ev
from crossbridge.synth.tw_masters import AREAS, BIOBANKS, Facilities, make_facilities
from crossbridge.synth.tw_population import DAYS_PER_YEAR, N_COND, Persons, days, make_persons, month_index, month_start, ymd
from crossbridge.synth.tw_writer import DEFECT_TYPES, TaiwanFileSink

ROWS_PER_BLOCK = 600_000  # target output rows per person block (bounds memory)
ROWS_PER_PERSON_YEAR = 50.0  # rough estimate used only to size the blocks
ENCODINGS = {"cp950": "cp950", "utf-8": "utf-8", "utf8": "utf-8"}
UNKNOWN_ICD9 = ("7999", "V7281")
UNKNOWN_ICD10CM = ("Q8789", "T8859")
UNKNOWN_ICD10_WHO = ("Q878", "T885")
UNKNOWN_DRUG = "AC99999100"


# ----------------------------------------------------------------- formatting
def _s(a: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    return pa.array(a, mask=mask).cast(pa.string())


def _date(d: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    y, m, dd = ymd(np.where(mask, 0, d) if mask is not None else d)
    return _s(y * 10000 + m * 100 + dd, mask)


def _ym_int(d: np.ndarray) -> np.ndarray:
    y, m, _ = ymd(d)
    return y * 100 + m


def _roc_period(d: np.ndarray) -> np.ndarray:
    y, m, _ = ymd(d)
    return (y - 1911) * 100 + m


def _roc_date(d: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    y, m, dd = ymd(np.where(mask, 0, d) if mask is not None else d)
    parts = [pc.utf8_lpad(_s(v, mask), w, "0") for v, w in ((y - 1911, 3), (m, 2), (dd, 2))]
    return pc.binary_join_element_wise(*parts, "/")


def _lookup(table: list[str], idx: np.ndarray) -> pa.Array:
    idx = np.asarray(idx, dtype=np.int64)
    return pa.array(list(table) + [None], pa.string()).take(pa.array(np.where(idx < 0, len(table), idx)))


def _dx(dx: np.ndarray, icd10: np.ndarray) -> pa.Array:
    """Diagnosis codes by version (ICD-10-CM where ``icd10``), null where dx < 0."""
    table = [c for pair in zip(ev.DX9, ev.DX10) for c in pair]
    return _lookup(table, np.where(dx < 0, -1, dx * 2 + icd10.astype(np.int64)))


def _op(op: np.ndarray, icd10: np.ndarray) -> pa.Array:
    table = [c for p in catalogue.PROCEDURES for c in (p.icd9, p.icd10pcs)]
    return _lookup(table, np.where(op < 0, -1, op * 2 + icd10.astype(np.int64)))


def _prsn(prefix: str, hosp: np.ndarray, k: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pc.utf8_lpad(_s(hosp * 100 + k), 9, "0"), "")


def _unknown_dx(icd10: np.ndarray, rng: Generator) -> pa.Array:
    pick = rng.integers(0, 2, icd10.size)
    return _lookup(list(UNKNOWN_ICD9 + UNKNOWN_ICD10CM), pick + 2 * icd10.astype(np.int64))


# ------------------------------------------------------------------ generator
class _Ctx:
    """State shared by the blocks: facilities, sink, running sequence numbers."""

    def __init__(self, sink: TaiwanFileSink, fac: Facilities, start: int, end: int, seed: int):
        self.sink, self.fac, self.start, self.end, self.seed = sink, fac, start, end, seed
        self.seq = {"opd": 0, "ipd": 0, "drug": 0}
        self.participants = 0
        self.person_years = 0.0
        self.icd10_from = days(2016, 1, 1)
        self.area_codes = [a[0] for a in AREAS]

    def person_cols(self, p: Persons, pid: np.ndarray) -> dict[str, pa.Array]:
        by, _, _ = ymd(p.birth[pid])
        return {"ID": pa.array(p.national_id[pid], pa.string()), "ID_BIRTH_Y": _s(by),
                "ID_S": _lookup(["1", "2"], np.where(p.male[pid], 0, 1))}

    def key_cols(self, fee_day, appl_type, hosp, appl_date, case, seq) -> dict[str, pa.Array]:
        return {"FEE_YM": _s(_ym_int(fee_day)), "APPL_TYPE": _lookup(["1", "2"], appl_type),
                "HOSP_ID": pa.array(self.fac.hosp_id[hosp], pa.string()), "APPL_DATE": _date(appl_date),
                "CASE_TYPE": _lookup(ev.CASE_TYPES, case), "SEQ_NO": _s(seq)}

    def claims_keys(self, kind: str, fee_day: np.ndarray, rng: Generator):
        """SEQ_NO and APPL_DATE of original claims, plus the supplementary copies (indices)."""
        n = fee_day.size
        seq = self.seq[kind] + 1 + np.arange(n)
        self.seq[kind] += n
        appl = month_start(month_index(fee_day) + 1) + rng.integers(0, 20, n)
        sup = ev.supplements(n, rng)
        sup_appl = appl[sup] + rng.integers(30, 91, sup.size)
        return seq, appl, sup, sup_appl


def _with_supplements(rows: dict[str, np.ndarray], sup: np.ndarray) -> dict[str, np.ndarray]:
    return {k: np.concatenate([v, v[sup]]) for k, v in rows.items()}


def _orders_with_supplements(orders: dict[str, np.ndarray], n_visits: int, sup: np.ndarray) -> dict[str, np.ndarray]:
    """Append copies of the orders of the supplemented visits, pointing at the copies."""
    new_index = np.full(n_visits, -1)
    new_index[sup] = n_visits + np.arange(sup.size)
    take = np.flatnonzero(new_index[orders["visit"]] >= 0)
    copy = {k: v[take] for k, v in orders.items()}
    copy["visit"] = new_index[copy["visit"]]
    out = {k: np.concatenate([orders[k], copy[k]]) for k in orders}
    o = np.argsort(out["visit"], kind="stable")
    return {k: v[o] for k, v in out.items()}


def _order_cols(orders: dict[str, np.ndarray], drug_no_name: str, qty_name: str, with_type: bool, with_use: bool):
    rank = ev._rank_within(orders["visit"])
    is_drug = orders["code"] < ev.N_DRUG
    cols = {"ORDER_SEQ_NO": _s(rank + 1),
            drug_no_name: _lookup(ev.ORDER_CODES, orders["code"]),
            "DRUG_FRE": _lookup(ev.FREQS, orders["fre"]),
            qty_name: _s(orders["qty"]),
            "DRUG_DAY": _s(orders["days"], orders["days"] < 0)}
    if with_type:
        cols["ORDER_TYPE"] = _lookup(ev.ORDER_TYPES, orders["code"])
    if with_use:
        cols["DRUG_USE"] = _s(orders["use"], ~is_drug)
    unknown = [(drug_no_name, pa.array(np.where(is_drug, UNKNOWN_DRUG, None), pa.string()))]
    return cols, unknown


def _sorted_with_orders(visits: dict, orders: dict, date_key: str) -> tuple[dict, dict]:
    """Visits sorted by (date, hospital, person); orders re-pointed to the new positions, in visit order."""
    o = np.lexsort((visits["pid"], visits["hosp"], visits[date_key]))
    visits = {k: v[o] for k, v in visits.items()}
    inv = np.empty_like(o)
    inv[o] = np.arange(o.size)
    orders = dict(orders)
    orders["visit"] = inv[orders["visit"]]
    so = np.argsort(orders["visit"], kind="stable")
    return visits, {k: v[so] for k, v in orders.items()}


def _claims_with_supplements(ctx: _Ctx, kind: str, visits: dict, orders: dict, date_key: str,
                             rng: Generator) -> tuple[dict, dict]:
    """Sorted visits with claim keys, plus supplementary-claim copies (APPL_TYPE 2) of some
    visits and of their orders."""
    visits, orders = _sorted_with_orders(visits, orders, date_key)
    n = len(visits["pid"])
    seq, appl, sup, sup_appl = ctx.claims_keys(kind, visits[date_key], rng)
    visits = _with_supplements(dict(visits, seq=seq, appl=appl, atype=np.zeros(n, np.int64)), sup)
    visits["appl"][n:] = sup_appl
    visits["atype"][n:] = 1
    return visits, _orders_with_supplements(orders, n, sup)


def _write_orders(ctx: _Ctx, ft, orders: dict, keys: dict, period: np.ndarray, code_col: str, qty_col: str,
                  *flags: bool) -> None:
    """Order rows carry their visit's key columns and are filed in their visit's period."""
    v = orders["visit"]
    ocols, unknown = _order_cols(orders, code_col, qty_col, *flags)
    ocols.update({k: a.take(pa.array(v)) for k, a in keys.items()})
    ctx.sink.write(ft, ocols, period[v], unknown)


def _write_opd(ctx: _Ctx, p: Persons, visits, orders, rng: Generator) -> None:
    visits, orders = _claims_with_supplements(ctx, "opd", visits, orders, "date", rng)
    pts = np.bincount(orders["visit"], weights=ev.ORDER_PRICE[orders["code"]] * np.where(
        orders["code"] < ev.N_DRUG, orders["qty"], 1.0), minlength=visits["pid"].size)
    icd10 = visits["date"] >= ctx.icd10_from
    keys = ctx.key_cols(visits["date"], visits["atype"], visits["hosp"], visits["appl"], visits["case"], visits["seq"])
    pid = visits["pid"]
    cols = dict(keys, **ctx.person_cols(p, pid))
    cols.update({
        "FUNC_TYPE": _lookup(ev.FUNC_TYPES, visits["func"]), "FUNC_DATE": _date(visits["date"]),
        "ICD9CM_1": _dx(visits["dx"][:, 0], icd10), "ICD9CM_2": _dx(visits["dx"][:, 1], icd10),
        "ICD9CM_3": _dx(visits["dx"][:, 2], icd10),
        "ICD_OP_CODE1": _op(visits["op"][:, 0], icd10), "ICD_OP_CODE2": _op(visits["op"][:, 1], icd10),
        "DRUG_DAY": _s(visits["drug_day"]),
        "PRSN_ID": _prsn("D", visits["hosp"], (p.gidx[pid] * 7 + visits["hosp"]) % 5),
        "T_DOT": _s(np.rint(230 + pts).astype(np.int64)),
    })
    period = _roc_period(visits["date"])
    ctx.sink.write(L.OPDTE, cols, period, [("ICD9CM_1", _unknown_dx(icd10, rng))])
    _write_orders(ctx, L.OPDTO, orders, keys, period, "DRUG_NO", "TOTAL_QTY", True, True)


def _write_pharmacy(ctx: _Ctx, p: Persons, refills, orders, rng: Generator) -> None:
    refills, orders = _sorted_with_orders(refills, orders, "date")
    n = len(refills["pid"])
    seq = ctx.seq["drug"] + 1 + np.arange(n)
    ctx.seq["drug"] += n
    appl = month_start(month_index(refills["date"]) + 1) + rng.integers(0, 20, n)
    keys = ctx.key_cols(refills["date"], np.zeros(n, np.int64), refills["hosp"], appl, refills["case"], seq)
    pid = refills["pid"]
    cols = dict(keys, **ctx.person_cols(p, pid))
    cols.update({"FUNC_DATE": _date(refills["date"]),
                 "R_HOSP_ID": pa.array(ctx.fac.hosp_id[refills["r_hosp"]], pa.string()),
                 "PRSN_ID": _prsn("P", refills["hosp"], p.gidx[pid] % 3),
                 "DRUG_DAY": _s(refills["drug_day"])})
    period = _roc_period(refills["date"])
    ctx.sink.write(L.DRUGE, cols, period)
    _write_orders(ctx, L.DRUGO, orders, keys, period, "DRUG_NO", "TOTAL_QTY", False, True)


def _write_ipd(ctx: _Ctx, p: Persons, seg, orders, rng: Generator) -> None:
    seg, orders = _claims_with_supplements(ctx, "ipd", seg, orders, "end", rng)
    icd10 = seg["beg"] >= ctx.icd10_from  # same rule as the mapping: the segment's first service day
    keys = ctx.key_cols(seg["end"], seg["atype"], seg["hosp"], seg["appl"], np.zeros(seg["pid"].size, np.int64),
                        seg["seq"])
    pid = seg["pid"]
    cols = dict(keys, **ctx.person_cols(p, pid))
    sdays = seg["end"] - seg["beg"] + 1
    cols.update({
        "FUNC_TYPE": _lookup(ev.FUNC_TYPES, seg["func"]), "IN_DATE": _date(seg["in_date"]),
        "OUT_DATE": _date(seg["out_date"], seg["out_date"] < 0),
        "APPL_BEG_DATE": _date(seg["beg"]), "APPL_END_DATE": _date(seg["end"]),
        "TRAN_CODE": _lookup(ev.TRAN_CODES, seg["tran"]),
        "E_BED_DAY": _s(np.minimum(sdays, 30)), "S_BED_DAY": _s(sdays - np.minimum(sdays, 30)),
    })
    for j in range(5):
        cols[f"ICD9CM_{j + 1}"] = _dx(seg["dx"][:, j], icd10)
        cols[f"ICD_OP_CODE{j + 1}"] = _op(seg["op"][:, j], icd10)
    period = _roc_period(seg["end"])
    ctx.sink.write(L.IPDTE, cols, period, [("ICD9CM_1", _unknown_dx(icd10, rng))])
    _write_orders(ctx, L.IPDTO, orders, keys, period, "ORDER_CODE", "ORDER_QTY", True, False)


def _write_enrol(ctx: _Ctx, p: Persons) -> None:
    y0, _, _ = ymd(p.entry)
    y1, _, _ = ymd(p.exit)
    ny = y1 - y0 + 1
    pid = np.repeat(np.arange(p.n), ny)
    year = y0[pid] + ev._rank_within(pid)
    first = np.maximum(p.entry[pid], np.array([days(int(y)) for y in range(1900, 2200)])[year - 1900])
    status = np.where(p.died[pid] & (year == y1[pid]), 1, 0)
    cols = ctx.person_cols(p, pid)
    cols.update({"PREM_YM": _s(_ym_int(first)), "ID_STATUS": _lookup(["1", "5"], status),
                 "AREA_NO_I": _lookup(ctx.area_codes, p.area[pid])})
    ctx.sink.write(L.ENROL, cols, year - 1911)


def _write_death(ctx: _Ctx, p: Persons, rng: Generator) -> None:
    pid = np.flatnonzero(p.died)
    d = p.exit[pid]
    cause = p.death_cause[pid]
    icd10 = d >= days(2008, 1, 1)
    cols = ctx.person_cols(p, pid)
    cols.update({
        "D_DATE": _date(d),
        "D_CODE": _lookup([c[1] for c in catalogue.DEATH_CAUSES], np.where(icd10, -1, cause)),
        "ICD10": _lookup([c[2] for c in catalogue.DEATH_CAUSES], np.where(icd10, cause, -1)),
    })
    pick = rng.integers(0, 2, pid.size)
    unknown = [("D_CODE", _lookup(["7999", "7999"], np.where(icd10, -1, pick))),
               ("ICD10", _lookup(list(UNKNOWN_ICD10_WHO), np.where(icd10, pick, -1)))]
    ctx.sink.write(L.DEATH, cols, None, unknown)


def partial_diag_dates(day: np.ndarray, rng: Generator, unknown_share: float = 0.05) -> np.ndarray:
    """Cancer DIAG_DT as int YYYYMMDD; ~``unknown_share`` have an unknown day (DD=99), a fifth
    of those also an unknown month (MM=99)."""
    y, m, d = ymd(day)
    u = rng.random(day.size)
    mm = np.where(u < unknown_share / 5, 99, m)
    dd = np.where(u < unknown_share, 99, d)
    return y * 10000 + mm * 100 + dd


def _write_cancer(ctx: _Ctx, p: Persons, rng: Generator) -> None:
    pid = np.flatnonzero(p.cancer >= 0)
    n = pid.size
    if n == 0:
        return
    ca = p.cancer[pid]
    dd = p.cancer_date[pid]
    cols = {"ID": pa.array(p.national_id[pid], pa.string()), "DIAG_DT": _s(partial_diag_dates(dd, rng)),
            "CASITE": _lookup([c.casite for c in catalogue.CANCERS], ca),
            "HISTBEH": _lookup([c.histbeh for c in catalogue.CANCERS], ca)}
    ex = p.exit[pid]
    for name, prob, codes, lo, hi in (("SURG", 0.6, ["20", "30", "40", "50"], 7, 60),
                                      ("RT", 0.3, ["11", "12"], 30, 120), ("CHEMO", 0.45, ["01", "02"], 14, 90)):
        td = dd + rng.integers(lo, hi, n)
        has = (rng.random(n) < prob) & (td <= ex)
        cols[f"{name}_CODE"] = _lookup(codes, np.where(has, rng.integers(0, len(codes), n), -1))
        cols[f"{name}_DATE"] = _date(td, ~has)
    ctx.sink.write(L.CANCER, cols)


def _write_biobank(ctx: _Ctx, p: Persons, rng: Generator) -> None:
    adult_from = p.birth + int(20 * DAYS_PER_YEAR)
    lo = np.maximum(p.entry, adult_from)
    elig = (lo <= p.exit) & (rng.random(p.n) < 0.05)
    pid = np.flatnonzero(elig)
    n = pid.size
    if n == 0:
        return
    consent = lo[pid] + (rng.random(n) * (p.exit[pid] - lo[pid] + 1)).astype(np.int64)
    consent = np.minimum(consent, p.exit[pid])
    w = np.array([b[2] for b in BIOBANKS])
    bank = rng.choice(len(BIOBANKS), size=n, p=w / w.sum())
    wd = consent + rng.integers(30, 720, n)
    has_wd = (rng.random(n) < 0.03) & (wd <= ctx.end)
    part_no = ctx.participants + 1 + np.arange(n)
    ctx.participants += n
    part_id = pc.binary_join_element_wise("TWB", pc.utf8_lpad(_s(part_no), 9, "0"), "")
    bank_ids = [b[0] for b in BIOBANKS]
    cols = {"PARTICIPANT_ID": part_id, "ID": pa.array(p.national_id[pid], pa.string()),
            "BIOBANK_ID": _lookup(bank_ids, bank), "BIOBANK_NAME": _lookup([b[1] for b in BIOBANKS], bank),
            "CONSENT_TYPE": pa.array(np.full(n, "BROAD"), pa.string()),
            "CONSENT_DATE": _roc_date(consent), "WITHDRAW_DATE": _roc_date(wd, ~has_wd)}
    ctx.sink.write(L.BIOBANK_PARTICIPANT, cols)
    # specimens
    ns = rng.integers(1, 4, n)
    sp = np.repeat(np.arange(n), ns)
    k = ev._rank_within(sp)
    limit = np.where(has_wd, wd - 1, np.minimum(p.exit[pid], ctx.end))
    cd = consent[sp] + rng.integers(0, 181, sp.size) * (k > 0)
    cd = np.where(cd > limit[sp], consent[sp], cd)
    stype = rng.integers(0, len(catalogue.SPECIMEN_TYPES), sp.size)
    # linked diagnosis: one of the person's conditions (ICD-10-CM) or empty
    person = pid[sp]
    onset = p.chronic_onset[person]
    active = onset <= cd[:, None]
    cand = ev._top_k_active(active, 1, rng)[:, 0]
    has_ca = (p.cancer[person] >= 0) & (p.cancer_date[person] <= cd)
    dx = np.where(has_ca, N_COND + p.cancer[person], cand)
    dx = np.where(rng.random(sp.size) < 0.75, dx, -1)
    sid = pc.binary_join_element_wise(part_id.take(pa.array(sp)), pc.utf8_lpad(_s(k + 1), 2, "0"), "")
    scols = {"SPECIMEN_ID": sid, "PARTICIPANT_ID": part_id.take(pa.array(sp)),
             "SPECIMEN_TYPE": _lookup(list(catalogue.SPECIMEN_TYPES), stype),
             "COLLECT_DATE": _roc_date(cd), "DIAG_CODE": _lookup(ev.DX10, dx),
             "BIOBANK_ID": _lookup(bank_ids, bank[sp])}
    unknown = [("DIAG_CODE", _lookup(list(UNKNOWN_ICD10CM), rng.integers(0, 2, sp.size)))]
    ctx.sink.write(L.BIOBANK_SPECIMEN, scols, None, unknown)


def _write_masters(ctx: _Ctx) -> None:
    f = ctx.fac
    ctx.sink.write(L.HOSB, {"HOSP_ID": pa.array(f.hosp_id, pa.string()), "HOSP_NAME": pa.array(f.name, pa.string()),
                            "HOSP_CONT_TYPE": _s(f.level), "AREA_NO_H": pa.array(f.area, pa.string()),
                            "HOSP_OPEN_DATE": _s(f.open_date)})
    drugs = catalogue.DRUGS
    ctx.sink.write(L.DRUG, {
        "DRUG_ID": pa.array([d.nhi_code for d in drugs]), "DRUG_NAME_E": pa.array([d.name_e for d in drugs]),
        "DRUG_NAME_C": pa.array([d.name_c for d in drugs]), "ATC_CODE": pa.array([d.atc for d in drugs]),
        "UNIT": pa.array([d.unit for d in drugs]), "VALID_S_DATE": pa.array(["20000101"] * len(drugs)),
        "VALID_E_DATE": pa.array([None] * len(drugs), pa.string())})


def _block(ctx: _Ctx, gidx: np.ndarray, block_no: int) -> None:
    rng = Generator(PCG64(SeedSequence([ctx.seed, 1, block_no])))
    p = make_persons(gidx, ctx.start, ctx.end, ctx.seed, rng)
    ctx.person_years += float(((p.exit - p.entry + 1) / DAYS_PER_YEAR).sum())
    x = ev.PersonExtras(p, ctx.fac, rng)
    _write_enrol(ctx, p)
    cv, co, refills, ro = ev.chronic_care(p, x, rng)
    av, ao = ev.acute_care(p, x, ctx.fac, rng)
    ao = dict(ao, visit=ao["visit"] + cv["pid"].size)
    _write_opd(ctx, p, ev._cat([cv, av]), ev._cat([co, ao]), rng)
    _write_pharmacy(ctx, p, refills, ro, rng)
    seg, io = ev.admissions(p, x, ctx.fac, rng, ctx.end)
    _write_ipd(ctx, p, seg, io, rng)
    _write_death(ctx, p, rng)
    _write_cancer(ctx, p, rng)
    _write_biobank(ctx, p, rng)


def generate_taiwan(
    out_dir: Path,
    persons: int,
    years: tuple[int, int],
    seed: int,
    encoding: str = "cp950",
    defect_rate: float = 0.0,
    progress: Callable[[str, int, int], None] | None = None,
) -> TaiwanSynthReport:
    """Write a synthetic Taiwan extract (all layout file types) to ``out_dir``.

    ``persons``: population size; ``years``: first and last calendar year (inclusive);
    ``seed``: same arguments give byte-identical files; ``encoding``: 'cp950' or 'utf-8';
    ``defect_rate``: share of data rows per file with one injected defect (ground truth in
    ``_ground_truth/``); ``progress(stage, done, total)`` is called after each person block.
    """
    if persons < 1:
        raise SynthArgumentError(f"persons must be >= 1, got {persons}")
    y0, y1 = int(years[0]), int(years[1])
    if not (1912 <= y0 <= y1 <= 2100):
        raise SynthArgumentError(f"years must be an increasing pair within 1912..2100, got {years}")
    if encoding.lower() not in ENCODINGS:
        raise SynthArgumentError(f"encoding must be one of {sorted(ENCODINGS)}, got {encoding!r}")
    if not (0.0 <= defect_rate < 0.5):
        raise SynthArgumentError(f"defect_rate must be in [0, 0.5), got {defect_rate}")
    enc = ENCODINGS[encoding.lower()]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sink = TaiwanFileSink(out_dir, enc, defect_rate, Generator(PCG64(SeedSequence([seed, 2]))))
    months = [(y - 1911) * 100 + m for y in range(y0, y1 + 1) for m in range(1, 13)]
    for ft in L.FILE_TYPES:
        if ft.period == "month":
            sink.create(ft, months)
        elif ft.period == "year":
            sink.create(ft, [y - 1911 for y in range(y0, y1 + 1)])
        else:
            sink.create(ft, [None])
    fac = make_facilities(persons, Generator(PCG64(SeedSequence([seed, 0]))))
    ctx = _Ctx(sink, fac, days(y0), days(y1, 12, 31), seed)
    _write_masters(ctx)
    block = int(np.clip(ROWS_PER_BLOCK / (ROWS_PER_PERSON_YEAR * (y1 - y0 + 1)), 500, 200_000))
    done = 0
    for b, lo in enumerate(range(0, persons, block)):  # loop over person blocks
        hi = min(persons, lo + block)
        _block(ctx, np.arange(lo, hi, dtype=np.int64), b)
        done = hi
        if progress is not None:
            progress("persons", done, persons)
    sink.close()
    report = TaiwanSynthReport(out_dir, sink.rows_per_file(), len(sink.defects), round(ctx.person_years, 3),
                               sink.defect_counts())
    manifest = {
        "generator": "crossbridge.synth.taiwan",
        "arguments": {"persons": persons, "years": [y0, y1], "seed": seed, "encoding": enc,
                      "defect_rate": defect_rate},
        "person_years": report.person_years,
        "rows": report.files,
        "defects_by_type": {k: report.defects_by_type.get(k, 0) for k in DEFECT_TYPES},
        "defects": report.defects,
    }
    (out_dir / "_ground_truth" / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n",
                                                            encoding="utf-8")
    return report
