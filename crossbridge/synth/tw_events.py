"""Health-care events of one block of synthetic persons: visits, orders, refills, admissions.

Everything is returned as dicts of numpy arrays (one entry per row); the
formatting into the raw layout happens in :mod:`crossbridge.synth.taiwan`.
Diagnoses are indices into the DX table (catalogue conditions, then cancers);
orders are indices into the ORDER table (catalogue drugs, then services).
"""

from __future__ import annotations

import numpy as np

from crossbridge.synth import catalogue
from crossbridge.synth.tw_masters import Facilities
from crossbridge.synth.tw_population import (
    ACUTE, CHRONIC, COND_INDEX, DAYS_PER_YEAR, N_COND, NEVER, Persons, month_index, month_start,
)

# ---------------------------------------------------------------- code tables
DX9 = [c.icd9 for c in catalogue.CONDITIONS] + [c.icd9 for c in catalogue.CANCERS]
DX10 = [c.icd10 for c in catalogue.CONDITIONS] + [c.icd10 for c in catalogue.CANCERS]
N_DRUG = len(catalogue.DRUGS)
ORDER_CODES = [d.nhi_code for d in catalogue.DRUGS] + [s.code for s in catalogue.SERVICES]
ORDER_TYPES = ["1"] * N_DRUG + [s.order_type for s in catalogue.SERVICES]
FREQS = ["QD", "BID", "TID", "QID", "HS"]
FREQ_PER_DAY = np.array([1, 2, 3, 4, 1])
_DRUG_INDEX = {d.nhi_code: i for i, d in enumerate(catalogue.DRUGS)}
_SERVICE_INDEX = {s.code: N_DRUG + i for i, s in enumerate(catalogue.SERVICES)}
_FREQ_OF = {"AC46525100": "BID", "AC44563100": "QID", "AC38120100": "TID", "AC27531100": "TID",
            "AC32011100": "QID", "BC20688100": "QID", "AC36112100": "TID", "BC23798100": "HS",
            "BC24533100": "HS", "KC00822209": "HS", "AC45856100": "BID"}
DRUG_FREQ = np.array([FREQS.index(_FREQ_OF.get(d.nhi_code, "QD")) for d in catalogue.DRUGS])
DRUG_USE = np.array([0.5 if d.nhi_code == "AC43291100" else 1.0 for d in catalogue.DRUGS])
ORDER_PRICE = np.array([[3, 4, 18, 420, 3, 9, 2, 11, 12, 2, 15, 2, 2, 3, 4, 5, 160, 900, 45, 2, 20, 2][i]
                        for i in range(N_DRUG)]
                       + [45, 200, 80, 45, 120, 150, 200, 4000, 30000][: len(catalogue.SERVICES)], float)
CBC = _SERVICE_INDEX["08011C"]
DIALYSIS_SERVICE = _SERVICE_INDEX["58001C"]
PROC_INDEX = {p.for_condition: i for i, p in enumerate(catalogue.PROCEDURES)}
DIALYSIS_PROC = PROC_INDEX["ckd"]

_ACUTE_DRUGS = {
    "uri": ["AC44563100", "AC38120100"], "bronch": ["AC38120100", "AC27531100", "AC44563100"],
    "phar": ["AC27531100", "AC44563100"], "ge": ["AC47029100"], "lbp": ["AC36112100", "AC44563100"],
    "uti": ["AC32011100"], "pneu": ["AC27531100", "AC44563100"], "ami": ["AC35710100", "BC23345100"],
    "stroke": ["AC35710100"], "hf": ["AC45856100"],
}


def _pad_lists(lists: list[list[int]], fill: int = -1) -> tuple[np.ndarray, np.ndarray]:
    width = max(1, max(len(x) for x in lists))
    mat = np.full((len(lists), width), fill, dtype=np.int64)
    for i, x in enumerate(lists):
        mat[i, : len(x)] = x
    return mat, np.array([len(x) for x in lists])


# drugs a chronic patient may be on, per condition
CHRONIC_DRUGS, CHRONIC_NDRUG = _pad_lists(
    [[i for i, d in enumerate(catalogue.DRUGS) if d.treats == c.key] if c.chronic else []
     for c in catalogue.CONDITIONS])
# drugs for an acute visit, per DX (conditions then cancers)
_acute = []
for c in catalogue.CONDITIONS:
    if c.chronic:
        _acute.append([i for i, d in enumerate(catalogue.DRUGS) if d.treats == c.key] or [_DRUG_INDEX["AC44563100"]])
    else:
        _acute.append([_DRUG_INDEX[x] for x in _ACUTE_DRUGS.get(c.key, ["AC44563100"])])
_acute += [[_DRUG_INDEX["AC44563100"], _DRUG_INDEX["AC47029100"]] for _ in catalogue.CANCERS]
ACUTE_DRUGS, ACUTE_NDRUG = _pad_lists(_acute)
# tests/treatments per DX (condition-specific first, complete blood count always)
_serv = []
for key in [c.key for c in catalogue.CONDITIONS] + [c.key for c in catalogue.CANCERS]:
    lst = [_SERVICE_INDEX[s.code] for s in catalogue.SERVICES
           if s.for_condition == key and s.order_type == "2" and s.code != "58001C"]
    _serv.append(lst + [CBC])
SERVICES_FOR, N_SERVICES_FOR = _pad_lists(_serv)
# inpatient order candidates per DX: drugs, tests, special material
_ip = []
for k, key in enumerate([c.key for c in catalogue.CONDITIONS] + [c.key for c in catalogue.CANCERS]):
    mats = [_SERVICE_INDEX[s.code] for s in catalogue.SERVICES if s.for_condition == key and s.order_type == "3"]
    _ip.append(_acute[k] + _serv[k] + mats)
IP_ORDERS, N_IP_ORDERS = _pad_lists(_ip)

# department (FUNC_TYPE) per condition
_FUNC = {"oa": "06", "depr": "13", "lbp": "06", "uri": "09", "phar": "09", "stroke": "12"}
FUNC_TYPES = ["01", "02", "03", "04", "06", "09", "12", "13", "22"]
COND_FUNC = np.array([FUNC_TYPES.index(_FUNC.get(c.key, "02" if c.chronic else "01"))
                      for c in catalogue.CONDITIONS] + [FUNC_TYPES.index("02")] * len(catalogue.CANCERS))
CASE_TYPES = ["01", "02", "04", "08"]

ACUTE_SCALE = 1.65  # scales catalogue acute visit rates to ~15 outpatient visits per person-year
ADMISSION_SCALE = 1.15
CHRONIC_CYCLE = 28
REFILL_SHARE = 0.31
SUPPLEMENT_SHARE = 0.01


def _rank_within(group: np.ndarray) -> np.ndarray:
    """0-based rank of each element inside its run of equal (sorted) group values."""
    if group.size == 0:
        return group.copy()
    start = np.r_[0, np.flatnonzero(np.diff(group)) + 1]
    first = np.repeat(start, np.diff(np.r_[start, group.size]))
    return np.arange(group.size) - first


def _pick(fac: Facilities, levels: tuple[int, ...], u: np.ndarray) -> np.ndarray:
    cand = fac.of_level(*levels)
    return cand[(u * cand.size).astype(np.int64)]


def _top_k_active(active: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """(n, k) column indices of up to k True entries per row in random order, -1 padding."""
    key = np.where(active, rng.random(active.shape), -1.0)
    top = np.argsort(-key, axis=1, kind="stable")[:, :k]
    ok = np.take_along_axis(key, top, axis=1) >= 0
    return np.where(ok, top, -1)


def _empty_orders() -> dict[str, np.ndarray]:
    return {"visit": np.zeros(0, np.int64), "code": np.zeros(0, np.int64), "use": np.zeros(0),
            "fre": np.zeros(0, np.int64), "qty": np.zeros(0), "days": np.zeros(0, np.int64)}


def _drug_orders(visit: np.ndarray, code: np.ndarray, days: np.ndarray) -> dict[str, np.ndarray]:
    """Order rows for drug codes (use/frequency/quantity from the drug) or services (qty 1)."""
    is_drug = code < N_DRUG
    dc = np.where(is_drug, code, 0)
    use = np.where(is_drug, DRUG_USE[dc], np.nan)
    fre = np.where(is_drug, DRUG_FREQ[dc], -1)
    qty = np.where(is_drug, use * FREQ_PER_DAY[np.maximum(fre, 0)] * days, 1.0)
    return {"visit": visit, "code": code, "use": use, "fre": fre, "qty": qty,
            "days": np.where(is_drug, days, -1)}


def _cat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


class PersonExtras:
    """Per-person choices used by several event kinds."""

    def __init__(self, p: Persons, fac: Facilities, rng: np.random.Generator):
        n = p.n
        has_chronic = p.chronic_onset[:, CHRONIC] < NEVER
        self.n_chronic = has_chronic.sum(axis=1)
        age_mid = p.age_at((p.entry + p.exit) / 2)
        self.age_mid = age_mid
        to_hosp = rng.random(n) < np.where((age_mid >= 65) | (self.n_chronic >= 3), 0.4, 0.2)
        self.chronic_hosp = np.where(to_hosp, _pick(fac, (1, 2, 3), rng.random(n)), _pick(fac, (4,), rng.random(n)))
        self.home_clinic = _pick(fac, (4,), rng.random(n))
        self.pharmacy = _pick(fac, (5,), rng.random(n))
        self.cancer_hosp = _pick(fac, (1, 2), rng.random(n))
        r = rng.integers(0, 1 << 30, size=(n, N_COND))
        self.drug = np.where(CHRONIC_NDRUG[None, :] > 0,
                             CHRONIC_DRUGS[np.arange(N_COND)[None, :], r % np.maximum(CHRONIC_NDRUG, 1)[None, :]], -1)
        self.dialysis = (p.chronic_onset[:, COND_INDEX["ckd"]] < NEVER) & (rng.random(n) < 0.05)


def chronic_care(p: Persons, x: PersonExtras, rng: np.random.Generator):
    """Chronic visits (CASE_TYPE 04) every ~28 days and pharmacy refills (CASE_TYPE 08).

    Returns (visits, visit_orders, refills, refill_orders).
    """
    onset_c = p.chronic_onset[:, CHRONIC]
    first = onset_c.min(axis=1)
    has = first < NEVER
    st = np.maximum(p.entry, first) + rng.integers(0, CHRONIC_CYCLE, p.n)
    ncyc = np.where(has & (st <= p.exit), (p.exit - st) // CHRONIC_CYCLE + 1, 0)
    pid = np.repeat(np.arange(p.n), ncyc)
    k = _rank_within(pid)
    date = st[pid] + k * CHRONIC_CYCLE + rng.integers(-3, 4, pid.size)
    date = np.clip(date, p.entry[pid], p.exit[pid])
    active = np.zeros((pid.size, N_COND), dtype=bool)
    active[:, CHRONIC] = onset_c[pid] <= date[:, None]
    refill = (k > 0) & (rng.random(pid.size) < REFILL_SHARE)

    # drug orders for every active condition that has a drug
    with_drug = active & (x.drug[pid] >= 0)
    cyc, cond = np.nonzero(with_drug)
    drug = x.drug[pid[cyc], cond]
    drug_o = _drug_orders(cyc, drug, np.full(cyc.size, CHRONIC_CYCLE))
    # tests at the hospital visit (not at the pharmacy)
    tc, tcond = np.nonzero(active & (rng.random(active.shape) < 0.22))
    tcode = SERVICES_FOR[tcond, rng.integers(0, 1 << 30, tc.size) % N_SERVICES_FOR[tcond]]
    dial = x.dialysis[pid] & active[:, COND_INDEX["ckd"]]
    dc = np.flatnonzero(dial)
    svc = _drug_orders(np.r_[tc, dc], np.r_[tcode, np.full(dc.size, DIALYSIS_SERVICE)], np.zeros(tc.size + dc.size, np.int64))
    visit_orders = _cat([drug_o, svc])
    o = np.argsort(visit_orders["visit"], kind="stable")
    visit_orders = {kk: v[o] for kk, v in visit_orders.items()}

    dx = _top_k_active(active, 3, rng)
    op = np.full((pid.size, 2), -1)
    op[dial, 0] = DIALYSIS_PROC
    kid = p.age_at(date, pid) < 15
    func = np.where(kid, FUNC_TYPES.index("04"), COND_FUNC[np.maximum(dx[:, 0], 0)])
    visits = {"pid": pid, "date": date, "hosp": x.chronic_hosp[pid], "case": np.full(pid.size, 2),
              "func": func, "dx": dx, "op": op, "drug_day": np.full(pid.size, CHRONIC_CYCLE)}

    # split hospital visits / pharmacy refills and renumber the orders
    vis_keep = np.flatnonzero(~refill)
    ref_keep = np.flatnonzero(refill)
    new_v = np.full(pid.size, -1)
    new_v[vis_keep] = np.arange(vis_keep.size)
    new_r = np.full(pid.size, -1)
    new_r[ref_keep] = np.arange(ref_keep.size)
    vo = {kk: v[~refill[visit_orders["visit"]]] for kk, v in visit_orders.items()}
    vo["visit"] = new_v[vo["visit"]]
    ro = {kk: v[refill[drug_o["visit"]]] for kk, v in drug_o.items()}
    ro["visit"] = new_r[ro["visit"]]
    visits = {kk: v[vis_keep] for kk, v in visits.items()}
    refills = {"pid": pid[ref_keep], "date": date[ref_keep], "hosp": x.pharmacy[pid[ref_keep]],
               "r_hosp": x.chronic_hosp[pid[ref_keep]], "case": np.full(ref_keep.size, 3),
               "drug_day": np.full(ref_keep.size, CHRONIC_CYCLE)}
    return visits, vo, refills, ro


def _acute_rates(age: np.ndarray) -> np.ndarray:
    """(n, N_COND) yearly acute visit rates by age (0 for chronic conditions)."""
    r = np.zeros((age.size, N_COND))
    for i in ACUTE:  # loop over conditions
        c = catalogue.CONDITIONS[i]
        r[:, i] = c.prevalence_60 * c.age_slope ** ((np.clip(age, 2.0, 95.0) - 60.0) / 10.0)
    return r


def acute_care(p: Persons, x: PersonExtras, fac: Facilities, rng: np.random.Generator):
    """Acute visits (CASE_TYPE 01, ~3% emergencies 02) with 0-4 orders, plus cancer visits
    (at diagnosis, then monthly) that carry the cancer's ICD code."""
    rates = _acute_rates(x.age_mid) * (1.0 + 0.15 * x.n_chronic)[:, None] * ACUTE_SCALE
    expo = (p.exit - p.entry + 1) / DAYS_PER_YEAR
    nv = rng.poisson(rates.sum(axis=1) * expo)
    pid = np.repeat(np.arange(p.n), nv)
    date = p.entry[pid] + (rng.random(pid.size) * (p.exit - p.entry + 1)[pid]).astype(np.int64)
    cum = np.cumsum(rates, axis=1)
    cum = cum / np.maximum(cum[:, -1:], 1e-300)
    cond = np.minimum((rng.random(pid.size)[:, None] > cum[pid]).sum(axis=1), N_COND - 1)
    er = rng.random(pid.size) < 0.03
    u = rng.random(pid.size)
    hosp = np.where(u < 0.6, x.home_clinic[pid],
                    np.where(u < 0.85, _pick(fac, (4,), rng.random(pid.size)), _pick(fac, (1, 2, 3), rng.random(pid.size))))
    hosp = np.where(er, _pick(fac, (1, 2, 3), rng.random(pid.size)), hosp)
    active = np.zeros((pid.size, N_COND), dtype=bool)
    active[:, CHRONIC] = p.chronic_onset[pid][:, CHRONIC] <= date[:, None]
    top = _top_k_active(active, 2, rng)
    dx = np.full((pid.size, 3), -1)
    dx[:, 0] = cond
    with2 = rng.random(pid.size) < 0.35
    dx[:, 1] = np.where(with2, top[:, 0], -1)
    dx[:, 2] = np.where(with2 & (rng.random(pid.size) < 0.3), top[:, 1], -1)
    kid = p.age_at(date, pid) < 15
    func = np.where(er, FUNC_TYPES.index("22"), np.where(kid, FUNC_TYPES.index("04"), COND_FUNC[cond]))
    func = np.where(~er & ~kid & (cond == COND_INDEX["uri"]) & (rng.random(pid.size) < 0.5), 0, func)
    days = np.where(er, 1, rng.integers(2, 8, pid.size))
    nord = rng.choice(5, size=pid.size, p=[0.12, 0.25, 0.30, 0.21, 0.12])
    ov = np.repeat(np.arange(pid.size), nord)
    rank = _rank_within(ov)
    ocond = cond[ov]
    t = rng.random(ov.size)
    start = rng.integers(0, 1 << 20, pid.size)[ov]
    drug = ACUTE_DRUGS[ocond, (start + rank) % ACUTE_NDRUG[ocond]]
    serv = SERVICES_FOR[ocond, (start + rank) % N_SERVICES_FOR[ocond]]
    code = np.where(t < 0.76, drug, np.where(t < 0.997, serv, _SERVICE_INDEX["FBN0201A"]))
    orders = _drug_orders(ov, code, days[ov])
    visits = {"pid": pid, "date": date, "hosp": hosp, "case": np.where(er, 1, 0), "func": func,
              "dx": dx, "op": np.full((pid.size, 2), -1), "drug_day": days}

    # cancer follow-up visits, monthly after the diagnosis
    has = p.cancer >= 0
    nfu = np.where(has, np.maximum((p.exit - p.cancer_date) // 30 + 1, 0), 0)
    cp = np.repeat(np.arange(p.n), nfu)
    ck = _rank_within(cp)
    cdate = np.minimum(p.cancer_date[cp] + ck * 30 + rng.integers(-2, 3, cp.size) * (ck > 0), p.exit[cp])
    cdx = np.full((cp.size, 3), -1)
    cdx[:, 0] = N_COND + p.cancer[cp]
    cact = np.zeros((cp.size, N_COND), dtype=bool)
    cact[:, CHRONIC] = p.chronic_onset[cp][:, CHRONIC] <= cdate[:, None]
    cdx[:, 1] = _top_k_active(cact, 1, rng)[:, 0]
    cvis = {"pid": cp, "date": cdate, "hosp": x.cancer_hosp[cp], "case": np.zeros(cp.size, np.int64),
            "func": np.full(cp.size, FUNC_TYPES.index("02")), "dx": cdx, "op": np.full((cp.size, 2), -1),
            "drug_day": np.full(cp.size, 28)}
    cord = _drug_orders(np.r_[np.arange(cp.size), np.arange(cp.size)],
                        np.r_[np.full(cp.size, CBC), ACUTE_DRUGS[cdx[:, 0], 0]],
                        np.r_[np.zeros(cp.size, np.int64), np.full(cp.size, 28)])
    o = np.argsort(cord["visit"], kind="stable")
    cord = {k: v[o] for k, v in cord.items()}
    cord["visit"] = cord["visit"] + pid.size
    return _cat([visits, cvis]), _cat([orders, cord])


def admissions(p: Persons, x: PersonExtras, fac: Facilities, rng: np.random.Generator, end: int):
    """Admissions split in monthly billing segments, with their orders.

    Returns (segments, orders); a segment dict has pid, in_date, out_date (-1 if not the last),
    beg, end, hosp, func, dx (n,5), op (n,5), tran (-1, or code index), adm (admission number).
    """
    age = x.age_mid
    rate = ADMISSION_SCALE * np.where(age < 5, 0.08, 0.045 * np.exp(0.03 * (age - 30.0)))
    rate = np.maximum(rate, 0.03) * (1.0 + 0.2 * x.n_chronic)
    expo = (p.exit - p.entry + 1) / DAYS_PER_YEAR
    na = rng.poisson(rate * expo)
    pid = np.repeat(np.arange(p.n), na)
    ind = p.entry[pid] + (rng.random(pid.size) * (p.exit - p.entry + 1)[pid]).astype(np.int64)
    # primary condition: inpatient conditions plus some general ones
    keys = ["pneu", "hf", "stroke", "ami", "ge", "uti", "oa", "lbp"]
    base = np.array([0.33, 0.14, 0.14, 0.10, 0.10, 0.10, 0.04, 0.05])
    slope = np.array([catalogue.CONDITIONS[COND_INDEX[k]].age_slope for k in keys])
    w = base[None, :] * slope[None, :] ** ((np.clip(age[pid], 10, 95)[:, None] - 60.0) / 10.0)
    cw = np.cumsum(w, axis=1) / w.sum(axis=1, keepdims=True)
    prim = np.array([COND_INDEX[k] for k in keys])[np.minimum((rng.random(pid.size)[:, None] > cw).sum(axis=1), len(keys) - 1)]
    los = np.maximum(np.rint(rng.lognormal(np.log(5.0), 0.95, pid.size)), 1).astype(np.int64)
    # cancer work-up admissions at diagnosis
    cpid = np.flatnonzero((p.cancer >= 0) & (rng.random(p.n) < 0.6))
    cin = p.cancer_date[cpid]
    clos = np.maximum(np.rint(rng.lognormal(np.log(7.0), 0.6, cpid.size)), 2).astype(np.int64)
    pid = np.r_[pid, cpid]
    ind = np.r_[ind, cin]
    prim = np.r_[prim, N_COND + p.cancer[cpid]]
    los = np.r_[los, clos]
    outd = ind + los
    dies_in = p.died[pid] & (outd >= p.exit[pid])
    outd = np.minimum(outd, np.where(p.died[pid], p.exit[pid], NEVER))
    # terminal admissions for ~45% of the deaths not already in hospital
    cause_dx = np.array([COND_INDEX["ami"], N_COND + 0, N_COND + 3, COND_INDEX["pneu"], COND_INDEX["stroke"],
                         COND_INDEX["t2dm"], COND_INDEX["hf"], COND_INDEX["copd"]])
    covered = np.zeros(p.n, dtype=bool)
    covered[pid[dies_in]] = True
    tp = np.flatnonzero(p.died & ~covered & (rng.random(p.n) < 0.45))
    tlos = np.maximum(np.rint(rng.lognormal(np.log(8.0), 0.8, tp.size)), 1).astype(np.int64)
    tin = np.maximum(p.exit[tp] - tlos, p.entry[tp])
    pid = np.r_[pid, tp]
    ind = np.r_[ind, tin]
    outd = np.r_[outd, p.exit[tp]]
    prim = np.r_[prim, cause_dx[p.death_cause[tp]]]
    dies_in = np.r_[dies_in, np.ones(tp.size, bool)]
    # keep one terminal admission per person; drop other stays overlapping it
    o = np.lexsort((ind, pid))
    pid, ind, outd, prim, dies_in = pid[o], ind[o], outd[o], prim[o], dies_in[o]
    last_term = np.zeros(p.n, dtype=np.int64) - 1
    np.maximum.at(last_term, pid[dies_in], ind[dies_in])
    keep = ~dies_in & (outd < np.where(last_term[pid] >= 0, last_term[pid], NEVER))
    keep |= dies_in & (ind == last_term[pid])
    keep &= np.r_[True, ~((pid[1:] == pid[:-1]) & (ind[1:] == ind[:-1]) & dies_in[1:] & dies_in[:-1])]
    pid, ind, outd, prim, dies_in = pid[keep], ind[keep], outd[keep], prim[keep], dies_in[keep]

    n = pid.size
    tran = np.where(dies_in, 2, np.where(rng.random(n) < 0.05, 1, 0))  # index into TRAN_CODES
    active = np.zeros((n, N_COND), dtype=bool)
    active[:, CHRONIC] = p.chronic_onset[pid][:, CHRONIC] <= ind[:, None]
    active[np.arange(n), np.minimum(prim, N_COND - 1)] &= prim >= N_COND  # no repeat of the primary
    dx = np.full((n, 5), -1)
    dx[:, 0] = prim
    dx[:, 1:] = _top_k_active(active, 4, rng)
    op = np.full((n, 5), -1)
    pr = rng.random(n)
    op[:, 0] = np.where((prim == COND_INDEX["ami"]) & (pr < 0.6), PROC_INDEX["ami"],
                        np.where(prim == COND_INDEX["oa"], PROC_INDEX["oa"],
                                 np.where((prim == COND_INDEX["ge"]) & (pr < 0.2), PROC_INDEX["ge"], -1)))
    op[:, 1] = np.where(x.dialysis[pid] & active[:, COND_INDEX["ckd"]], DIALYSIS_PROC, -1)
    hosp = _pick(fac, (1, 2, 3), rng.random(n))
    func = COND_FUNC[prim]

    # monthly billing segments for stays longer than a month
    m0 = month_index(ind)
    m1 = month_index(outd)
    split = (outd - ind) > 30
    nseg = np.where(split, m1 - m0 + 1, 1)
    adm = np.repeat(np.arange(n), nseg)
    k = _rank_within(adm)
    sm = m0[adm] + k
    beg = np.where(split[adm], np.maximum(ind[adm], month_start(sm)), ind[adm])
    send = np.where(split[adm], np.minimum(outd[adm], month_start(sm + 1) - 1), outd[adm])
    last = k == nseg[adm] - 1
    ok = send <= end
    adm, beg, send, last = adm[ok], beg[ok], send[ok], last[ok]
    seg = {"pid": pid[adm], "in_date": ind[adm], "out_date": np.where(last, outd[adm], -1),
           "beg": beg, "end": send, "hosp": hosp[adm], "func": func[adm], "dx": dx[adm], "op": op[adm],
           "tran": np.where(last, tran[adm], -1), "adm": adm}

    # orders per segment
    ns = adm.size
    nord = 2 + rng.poisson(2.0, ns)
    ov = np.repeat(np.arange(ns), nord)
    rank = _rank_within(ov)
    pdx = seg["dx"][ov, 0]
    start = rng.integers(0, 1 << 20, ns)[ov]
    code = IP_ORDERS[pdx, (start + rank) % N_IP_ORDERS[pdx]]
    sdays = (send - beg + 1)
    orders = _drug_orders(ov, code, sdays[ov])
    return seg, orders


TRAN_CODES = ["1", "6", "4"]


def supplements(n_rows: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of the claims (~1%) that get a supplementary APPL_TYPE '2' copy."""
    return np.flatnonzero(rng.random(n_rows) < SUPPLEMENT_SHARE)
