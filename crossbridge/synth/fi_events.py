"""Health-care events of one block of synthetic Finnish persons (numpy dicts, one entry per row).

Diagnoses are indices into the DX table: catalogue conditions, then cancers, then the
combination codes of ``fi_catalogue.COMBINATIONS``.  The codes written depend on the ICD era
of the event date (ICD-10 from 1996, Finnish ICD-9 1987-1995, ICD-8 before); cancers and
combination codes exist only as ICD-10 in the catalogue, so events needing them are
ICD-10-era only (a pre-1996 cancer death is certified as pneumonia).  Register windows:
Hilmo inpatient care all years, Hilmo outpatient specialist care from 1998, NCSP-F
procedures from 1997, Kela purchases from 1995, Avohilmo from 2011.
Formatting into the raw layout happens in :mod:`crossbridge.synth.finland`.
"""

from __future__ import annotations

import numpy as np

from connectors.finland import layout as L
from crossbridge.synth import catalogue
from crossbridge.synth import fi_catalogue as FC
from crossbridge.synth.fi_population import CHRONIC, COND, N_CANCER, N_COND, FiPersons, days
from crossbridge.synth.tw_events import _rank_within, _top_k_active
from crossbridge.synth.tw_population import DAYS_PER_YEAR, NEVER

# ------------------------------------------------------------------ DX table
COMBO = {key: N_COND + N_CANCER + j for j, (key, _, _) in enumerate(FC.COMBINATIONS)}
N_DX = N_COND + N_CANCER + len(FC.COMBINATIONS)
CANCER0 = N_COND
DX_CODES: tuple[list[str | None], ...] = (
    [c.icd8 for c in FC.FI_CONDITIONS] + [None] * (N_DX - N_COND),
    [c.icd9 for c in FC.FI_CONDITIONS] + [None] * (N_DX - N_COND),
    [c.icd10 for c in FC.FI_CONDITIONS] + [c[3] for c in FC.FI_CANCERS] + [c[1] for c in FC.COMBINATIONS],
)
ICD9_FROM = int(np.datetime64(L.ICD9_FROM, "D").astype(np.int64))
ICD10_FROM = int(np.datetime64(L.ICD10_FROM, "D").astype(np.int64))
NCSP_FROM = days(1997)
OUTPATIENT_FROM = days(1998)
KELA_FROM = days(1995)
AVOHILMO_FROM = days(2011)


def _parts() -> tuple[list, list, list]:
    """ICD-10 split of every DX: symptom/main part, cause/external part, ATC part (None if absent)."""
    c1, c2, c3 = list(DX_CODES[2]), [None] * N_DX, [None] * N_DX
    for key, _, parts in FC.COMBINATIONS:  # a handful of combination codes
        i = COMBO[key]
        roles = {role: code for code, role in parts}
        c1[i] = roles.get("symptom", roles.get("main"))
        c2[i] = roles.get("cause", roles.get("external"))
        c3[i] = roles.get("atc")
    return c1, c2, c3


PART_MAIN, PART_CAUSE, PART_ATC = _parts()
ROLE2 = np.zeros(N_DX, np.int64)  # second part: 0 none, 1 cause part (PDGE/SDGE), 2 external cause (ULKSYY)
WHOLE = np.zeros(N_DX, bool)  # '#' codes: written whole (in SDGO)
for _key, _, _combo_parts in FC.COMBINATIONS:
    _roles = {r for _, r in _combo_parts}
    ROLE2[COMBO[_key]] = 1 if "cause" in _roles else (2 if "external" in _roles else 0)
    WHOLE[COMBO[_key]] = "atc" in _roles
BASE_CONDITION = np.arange(N_DX)  # a combination's underlying catalogue condition (for ICPC-2), -1 none
BASE_CONDITION[N_COND:] = -1
BASE_CONDITION[COMBO["dm_retinopathy"]] = COND["t2dm"]
BASE_CONDITION[COMBO["dm_nephropathy"]] = COND["t2dm"]


def era_index(day: np.ndarray) -> np.ndarray:
    """0 = ICD-8, 1 = ICD-9, 2 = ICD-10 by the event day."""
    day = np.asarray(day)
    return (day >= ICD9_FROM).astype(np.int64) + (day >= ICD10_FROM)


def codable(dx: np.ndarray, era: np.ndarray) -> np.ndarray:
    """True where DX has a code in the era (cancers and combinations: ICD-10 only)."""
    return (dx >= 0) & ((dx < N_COND) | (era == 2))


# ---------------------------------------------------------------- care codes
PALA = ["1", "5", "91", "93"]
WARD, DAY_SURGERY, OUTPATIENT, EMERGENCY = range(4)
EA = ["10", "20", "30", "40", "50", "70", "98"]
_EA_OF = {"ge": "20", "oa": "20", "lbp": "20", "depr": "70"}
DX_EA = np.array([EA.index(_EA_OF.get(c.key, "10")) for c in FC.FI_CONDITIONS]
                 + [EA.index("20" if c[4] in ("breast", "colon") else "10") for c in FC.FI_CANCERS]
                 + [EA.index("20" if k == "hip_fracture_fall" else "10") for k, _, _ in FC.COMBINATIONS])
PROC = {p.ncsp: i for i, p in enumerate(FC.FI_PROCEDURES)}
_INPATIENT_KEYS = ["pneu", "hf", "stroke", "ami", "ge", "uti", "oa", "lbp"]
_INPATIENT_BASE = np.array([0.30, 0.14, 0.13, 0.10, 0.09, 0.09, 0.05, 0.05])
_URGENT_KEYS = {"pneu", "hf", "stroke", "ami", "uti"}
DRUG_COND = np.array([COND[d.treats] for d in FC.FI_DRUGS])
DRUGS_OF = {c: [j for j, d in enumerate(FC.FI_DRUGS) if COND[d.treats] == c] for c in range(N_COND)}
_ACUTE_DRUG = {"uri": "N02BE01", "phar": "J01CA04", "bronch": "J01CA04", "pneu": "J01CA04", "uti": "J01DB01",
               "ge": "A02BC01", "lbp": "M01AB05"}
ACUTE_DRUG = np.full(N_COND, -1)
for _k, _atc in _ACUTE_DRUG.items():
    ACUTE_DRUG[COND[_k]] = next(j for j, d in enumerate(FC.FI_DRUGS) if d.atc == _atc)
PARACETAMOL = next(j for j, d in enumerate(FC.FI_DRUGS) if d.atc == "N02BE01")
REIMB_OF = [c.reimb for c in FC.FI_CONDITIONS]
SK1 = sorted({r for r in REIMB_OF if r})
COND_SK1 = np.array([SK1.index(r) if r else -1 for r in REIMB_OF])
CONTACT = list(FC.AVOHILMO_CONTACT_TYPES)  # R10 R20 R51 R52
SERVICE = ["T11", "T40"]
PROFESSION = ["221", "2221"]  # physician, nurse
PROCESS = [c for c, _ in FC.ICPC2_PROCESS]  # -30 -31 -50 -45
ICPC = [c.icpc2 for c in FC.FI_CONDITIONS]
NO_AMOUNT = -(1 << 40)


def _lognormal_days(rng: np.random.Generator, median: float, sigma: float, n: int, low: int = 1) -> np.ndarray:
    return np.maximum(np.rint(rng.lognormal(np.log(median), sigma, n)), low).astype(np.int64)


def _within(p: FiPersons, pid: np.ndarray, rng: np.random.Generator, lo: int | None = None) -> np.ndarray:
    """A uniform day inside each person's observation (from ``lo`` when given)."""
    a = p.entry[pid] if lo is None else np.maximum(p.entry[pid], lo)
    return a + (rng.random(pid.size) * np.maximum(p.exit[pid] - a + 1, 0)).astype(np.int64)


def _poisson_events(p: FiPersons, rate: np.ndarray, rng: np.random.Generator, lo: int | None = None):
    """(pid, day) of Poisson events at yearly ``rate`` per person inside the observation (from ``lo``)."""
    a = p.entry if lo is None else np.maximum(p.entry, lo)
    expo = np.maximum(p.exit - a + 1, 0) / DAYS_PER_YEAR
    pid = np.repeat(np.arange(p.n), rng.poisson(rate * expo))
    return pid, _within(p, pid, rng, lo)


def _active(p: FiPersons, pid: np.ndarray, day: np.ndarray) -> np.ndarray:
    act = np.zeros((pid.size, N_COND), bool)
    act[:, CHRONIC] = p.onset[pid][:, CHRONIC] <= day[:, None]
    return act


def _choice(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """Row-wise categorical draw from (n, k) weights."""
    cw = np.cumsum(weights, axis=1)
    cw = cw / np.maximum(cw[:, -1:], 1e-300)
    return np.minimum((rng.random(weights.shape[0])[:, None] > cw).sum(axis=1), weights.shape[1] - 1)


def _cat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([q[k] for q in parts]) for k in parts[0]}


def _take(d: dict[str, np.ndarray], idx) -> dict[str, np.ndarray]:
    return {k: v[idx] for k, v in d.items()}


class Extras:
    """Per-person choices shared by several event kinds."""

    def __init__(self, p: FiPersons, rng: np.random.Generator):
        n = p.n
        self.n_chronic = (p.onset[:, CHRONIC] < NEVER).sum(axis=1)
        self.age_mid = p.age_at((p.entry + p.exit) / 2)
        self.dialysis = (p.onset[:, COND["ckd"]] < NEVER) & (rng.random(n) < 0.05)
        self.provider = rng.integers(0, 3, n)  # provider number within the home municipality
        r = rng.integers(0, 1 << 30, (n, N_COND))
        self.drug = np.full((n, N_COND), -1)
        for c, lst in DRUGS_OF.items():  # conditions, not persons
            if lst and c in CHRONIC:
                self.drug[:, c] = np.array(lst)[r[:, c] % len(lst)]
        self.treated = rng.random((n, N_COND)) < 0.9
        self.dose_dispensing = (self.age_mid >= 75) & (rng.random(n) < 0.15)


# ----------------------------------------------------------------- Hilmo
def hilmo(p: FiPersons, x: Extras, rng: np.random.Generator, end: int) -> dict[str, np.ndarray]:
    """Hilmo episodes: pid, adm, minute, dis (-1 = still open at the period end), pala, ea, urgent,
    dx (n, 4) DX indices (main first, -1 padding, all codable in the admission's era), proc (n, 2)."""
    age = x.age_mid
    # ward stays
    rate = np.maximum(0.04 * np.exp(0.03 * (age - 30.0)), 0.025) * (1.0 + 0.15 * x.n_chronic)
    wpid, wadm = _poisson_events(p, rate, rng)
    slope = np.array([catalogue.CONDITIONS[COND[k]].age_slope for k in _INPATIENT_KEYS] + [2.0, 1.0])
    base = np.r_[_INPATIENT_BASE, 0.04, 0.002]
    w = base[None, :] * slope[None, :] ** ((np.clip(age[wpid], 10, 95)[:, None] - 60.0) / 10.0)
    keys = np.array([COND[k] for k in _INPATIENT_KEYS] + [COMBO["hip_fracture_fall"], COMBO["tb_meningitis"]])
    wmain = keys[_choice(rng, w)]
    wlos = _lognormal_days(rng, 4.5, 0.9, wpid.size)
    long_term = (age[wpid] >= 75) & (rng.random(wpid.size) < 0.03)
    wlos = np.where(long_term, _lognormal_days(rng, 300.0, 0.8, wpid.size, 30), wlos)
    # cancer work-up stays at diagnosis
    cpid = np.flatnonzero((p.cancer >= 0) & (rng.random(p.n) < 0.6))
    cadm = p.cancer_date[cpid]
    # terminal stays for ~45% of deaths
    tpid = np.flatnonzero(p.died & (rng.random(p.n) < 0.45))
    tlos = _lognormal_days(rng, 8.0, 0.8, tpid.size)
    tadm = np.maximum(p.exit[tpid] - tlos, p.entry[tpid])
    tmain = p.death_dx[tpid]
    tmain = np.where(codable(tmain, era_index(tadm)), tmain, COND["pneu"])
    ward = {"pid": np.r_[wpid, cpid, tpid], "adm": np.r_[wadm, cadm, tadm],
            "los": np.r_[wlos, _lognormal_days(rng, 7.0, 0.6, cpid.size, 2), p.exit[tpid] - tadm],
            "main": np.r_[wmain, CANCER0 + p.cancer[cpid], tmain],
            "term": np.r_[np.zeros(wpid.size + cpid.size, bool), np.ones(tpid.size, bool)]}
    ward = _drop_overlaps(ward, p)
    nw = ward["pid"].size
    ward["pala"] = np.full(nw, WARD)
    ward["urgent"] = np.isin(ward["main"], [COND[k] for k in _URGENT_KEYS] + [COMBO["hip_fracture_fall"],
                                                                              COMBO["tb_meningitis"]]) | ward["term"]
    # outpatient specialist visits (from 1998): follow-up of a chronic condition or an acute problem
    opid, oday = _poisson_events(p, 0.16 + 0.10 * x.n_chronic, rng, OUTPATIENT_FROM)
    act = _active(p, opid, oday)
    pick = _top_k_active(act, 1, rng)[:, 0]
    fallback = np.array([COND[k] for k in ("lbp", "uti", "oa", "depr")])[rng.integers(0, 4, opid.size)]
    omain = np.where(pick >= 0, pick, fallback)
    # cancer follow-up, every ~3 months for two years
    has = (p.cancer >= 0)
    first = np.maximum(p.cancer_date + 30, OUTPATIENT_FROM)
    nfu = np.where(has & (first <= p.exit), np.minimum((p.exit - first) // 91 + 1, 8), 0)
    fpid = np.repeat(np.arange(p.n), nfu)
    fday = first[fpid] + _rank_within(fpid) * 91 + rng.integers(-7, 8, fpid.size)
    fday = np.clip(fday, first[fpid], p.exit[fpid])
    # emergency visits
    epid, eday = _poisson_events(p, 0.03 + 0.03 * np.exp(0.02 * (age - 40.0)), rng, OUTPATIENT_FROM)
    ekeys = np.array([COND[k] for k in ("ami", "stroke", "pneu", "uti", "ge", "lbp", "uri")]
                     + [COMBO["hip_fracture_fall"]])
    ew = np.array([0.08, 0.08, 0.15, 0.15, 0.15, 0.15, 0.14, 0.10])
    emain = ekeys[_choice(rng, np.tile(ew, (epid.size, 1)))]
    # day surgery
    dpid, dday = _poisson_events(p, 0.004 + 0.01 * (age >= 50), rng, OUTPATIENT_FROM)
    dmain = np.where(rng.random(dpid.size) < 0.7, COND["oa"], COND["cad"])
    out = {"pid": np.r_[opid, fpid, epid, dpid], "adm": np.r_[oday, fday, eday, dday],
           "main": np.r_[omain, CANCER0 + p.cancer[fpid], emain, dmain],
           "pala": np.r_[np.full(opid.size + fpid.size, OUTPATIENT), np.full(epid.size, EMERGENCY),
                         np.full(dpid.size, DAY_SURGERY)]}
    no = out["pid"].size
    out["los"] = np.zeros(no, np.int64)
    out["term"] = np.zeros(no, bool)
    out["urgent"] = out["pala"] == EMERGENCY
    ep = _cat([ward, out])
    era = era_index(ep["adm"])
    ok = codable(ep["main"], era)
    ep = _take(ep, ok)
    era = era[ok]
    n = ep["pid"].size
    pid = ep["pid"]
    # discharge: open at the period end, at death (in hospital) or before emigration
    raw = ep["adm"] + ep["los"]
    dis = np.minimum(raw, p.exit[pid])
    open_ = (raw > end) & ~p.died[pid] & ~p.emigrated[pid]
    ep["dis"] = np.where(open_, -1, dis)
    urgent = ep["urgent"]
    ep["minute"] = np.where(urgent, rng.integers(0, 24 * 60, n), rng.integers(7 * 60, 15 * 60, n))
    kid = p.age_at(ep["adm"], pid) < 16
    ep["ea"] = np.where(kid, EA.index("40"), DX_EA[ep["main"]])
    ep["ea"] = np.where(ep["pala"] == EMERGENCY, np.where(kid, EA.index("40"), EA.index("98")), ep["ea"])
    # secondary diagnoses: active chronic conditions other than the main one
    act = _active(p, pid, ep["adm"])
    act[np.arange(n), np.minimum(ep["main"], N_COND - 1)] &= ep["main"] >= N_COND
    sec = _top_k_active(act, 3, rng)
    keep = rng.random(sec.shape) < np.where(ep["pala"] == WARD, 0.7, 0.3)[:, None]
    sec = np.where(keep, sec, -1)
    icd10 = era == 2
    comp = icd10[:, None] & (sec == COND["t2dm"]) & (rng.random(sec.shape) < 0.25)
    sec = np.where(comp, np.where(rng.random(sec.shape) < 0.6, COMBO["dm_retinopathy"], COMBO["dm_nephropathy"]),
                   sec)
    rash = icd10 & (rng.random(n) < 0.01)
    dx = np.full((n, 4), -1)
    dx[:, 0] = ep["main"]
    dx[:, 1:] = sec
    dx[:, 3] = np.where(rash & (dx[:, 3] < 0), COMBO["drug_rash_amoxicillin"], dx[:, 3])
    ep["dx"] = _compact(dx)
    ep["proc"] = _procedures(ep, x, rng)
    del ep["los"], ep["term"]
    o = np.lexsort((ep["minute"], ep["adm"], pid))
    return _take(ep, o)


def _drop_overlaps(ward: dict[str, np.ndarray], p: FiPersons) -> dict[str, np.ndarray]:
    """Keep one terminal stay per person and drop ward stays overlapping an earlier one."""
    o = np.lexsort((~ward["term"], ward["adm"], ward["pid"]))
    ward = _take(ward, o)
    pid, adm, term = ward["pid"], ward["adm"], ward["term"]
    dis = np.minimum(adm + ward["los"], p.exit[pid])
    first_term = np.full(p.n, NEVER)
    np.minimum.at(first_term, pid[term], adm[term])
    keep = np.where(term, adm == first_term[pid], dis < first_term[pid])
    keep &= ~(term & np.r_[False, (pid[1:] == pid[:-1]) & term[:-1] & term[1:]])
    ward = _take(ward, keep)
    pid, adm = ward["pid"], ward["adm"]
    dis = np.minimum(adm + ward["los"], p.exit[pid])
    big = np.int64(1) << 40
    run = np.maximum.accumulate(pid * big + dis)
    prev = np.r_[-1, run[:-1]]
    ok = ~((np.r_[False, pid[1:] == pid[:-1]]) & (adm <= prev - pid * big))
    return _take(ward, ok)


def _compact(dx: np.ndarray) -> np.ndarray:
    """Move -1 padding to the right and drop repeated codes within a row."""
    keep = dx >= 0
    for j in range(1, dx.shape[1]):  # columns, not rows: drop repeats of an earlier column
        keep[:, j] &= ~(dx[:, :j] == dx[:, j: j + 1]).any(axis=1)
    order = np.argsort(~keep, axis=1, kind="stable")
    return np.take_along_axis(np.where(keep, dx, -1), order, axis=1)


def _procedures(ep: dict[str, np.ndarray], x: Extras, rng: np.random.Generator) -> np.ndarray:
    """NCSP-F procedures (from 1997) by main diagnosis and service type; (n, 2) indices, -1 none."""
    n = ep["pid"].size
    main, pala = ep["main"], ep["pala"]
    u = rng.random(n)
    p0 = np.full(n, -1)
    ward = pala == WARD
    p0 = np.where(ward & (main == COND["ami"]) & (u < 0.6), PROC["FNG05"], p0)
    p0 = np.where(ward & (main == COND["oa"]), PROC["NGB20"], p0)
    p0 = np.where(ward & (main == COND["ge"]) & (u < 0.2), PROC["JEA00"], p0)
    p0 = np.where(ward & (main == COND["pneu"]) & (u < 0.5), PROC["GD1AA"], p0)
    p0 = np.where((pala == OUTPATIENT) & (main == COND["cad"]) & (u < 0.4), PROC["SB211"], p0)
    p0 = np.where((pala == EMERGENCY) & (main == COND["ami"]) & (u < 0.8), PROC["SB211"], p0)
    p0 = np.where((pala == EMERGENCY) & (main == COND["pneu"]) & (u < 0.6), PROC["GD1AA"], p0)
    p0 = np.where((pala == DAY_SURGERY) & (main == COND["cad"]) & (u < 0.5), PROC["FNG05"], p0)
    p1 = np.where((pala == OUTPATIENT) & x.dialysis[ep["pid"]] & (main == COND["ckd"]), PROC["KAS10"], -1)
    proc = np.c_[p0, p1]
    proc = np.where((ep["adm"] >= NCSP_FROM)[:, None], proc, -1)
    return _compact(proc)


def hilmo_rows(ep: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Diagnosis rows (episode, n, dx, era) and procedure rows (episode, n, proc) of episodes."""
    e, j = np.nonzero(ep["dx"] >= 0)
    diag = {"episode": e, "n": j, "dx": ep["dx"][e, j], "era": era_index(ep["adm"])[e]}
    e, j = np.nonzero(ep["proc"] >= 0)
    proc = {"episode": e, "n": j, "proc": ep["proc"][e, j]}
    return diag, proc


# -------------------------------------------------------------- primary care
def primary_care(p: FiPersons, x: Extras, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Primary-care contacts from 1995 (Avohilmo writes those from 2011; earlier ones only lead
    to drug purchases): pid, day, minute, kind (0 chronic, 1 acute, 2 health check), main, sec (DX,
    -1), contact, service, prof, urgent, icd, icpc (bool), process (n, 2), proc."""
    lo = KELA_FROM
    age = x.age_mid
    cpid, cday = _poisson_events(p, np.where(x.n_chronic > 0, 0.9 + 0.35 * x.n_chronic, 0.0), rng, lo)
    act = _active(p, cpid, cday)
    top = _top_k_active(act, 2, rng)
    ok = top[:, 0] >= 0
    cpid, cday, top = cpid[ok], cday[ok], top[ok]
    rates = np.zeros((p.n, N_COND))
    for c in range(N_COND):  # conditions, not persons
        cc = catalogue.CONDITIONS[c]
        if c not in CHRONIC:
            rates[:, c] = cc.prevalence_60 * cc.age_slope ** ((np.clip(age, 2.0, 95.0) - 60.0) / 10.0)
    rates *= 0.45
    apid, aday = _poisson_events(p, rates.sum(axis=1), rng, lo)
    amain = _choice(rng, rates[apid])
    asec = _top_k_active(_active(p, apid, aday), 1, rng)[:, 0]
    asec = np.where(rng.random(apid.size) < 0.3, asec, -1)
    hpid, hday = _poisson_events(p, np.where(age >= 18, 0.12, 0.2), rng, lo)
    n_c, n_a, n_h = cpid.size, apid.size, hpid.size
    v = {"pid": np.r_[cpid, apid, hpid], "day": np.r_[cday, aday, hday],
         "kind": np.r_[np.zeros(n_c, np.int64), np.ones(n_a, np.int64), np.full(n_h, 2)],
         "main": np.r_[top[:, 0], amain, np.full(n_h, -1)],
         "sec": np.r_[np.where(rng.random(n_c) < 0.4, top[:, 1], -1), asec, np.full(n_h, -1)]}
    n = v["pid"].size
    pid, day, kind = v["pid"], v["day"], v["kind"]
    combo = (v["main"] == COND["t2dm"]) & (day >= ICD10_FROM) & (rng.random(n) < 0.1)
    v["main"] = np.where(combo, np.where(rng.random(n) < 0.6, COMBO["dm_retinopathy"], COMBO["dm_nephropathy"]),
                         v["main"])
    old = p.age_at(day, pid) >= 80
    u = rng.random(n)
    video = np.where(day >= days(2020), 0.10, 0.03)
    contact = np.where(u < video, 3, np.where(u < video + 0.25, 2, 0))
    contact = np.where(old & (rng.random(n) < 0.15), 1, contact)
    v["contact"] = np.where(kind == 2, 0, contact)
    v["service"] = (v["contact"] == 1).astype(np.int64)
    nurse = rng.random(n) < np.where(kind == 1, 0.25, 0.5)
    v["prof"] = nurse.astype(np.int64)
    v["urgent"] = (kind == 1) & (rng.random(n) < 0.4)
    v["icd"] = (kind != 2) & (~nurse | (rng.random(n) < 0.3))
    v["icpc"] = (kind == 2) | nurse | (rng.random(n) < 0.4)
    proc0 = np.where((kind == 2) & (rng.random(n) < 0.5), PROCESS.index("-31"), PROCESS.index("-30"))
    renew = (kind == 0) & (rng.random(n) < 0.4)
    advice = (kind == 0) & nurse & (rng.random(n) < 0.3)
    v["process"] = np.c_[np.where(kind == 2, proc0, np.where(renew, PROCESS.index("-50"), -1)),
                         np.where(advice, PROCESS.index("-45"), -1)]
    main = v["main"]
    v["proc"] = np.where((kind == 0) & np.isin(main, [COND["cad"], COND["htn"]]) & (rng.random(n) < 0.1),
                         PROC["SB211"],
                         np.where(np.isin(main, [COND["pneu"], COND["bronch"]]) & (rng.random(n) < 0.2),
                                  PROC["GD1AA"], -1))
    v["minute"] = np.where(v["urgent"], rng.integers(7 * 60, 21 * 60, n), rng.integers(8 * 60, 16 * 60, n))
    o = np.lexsort((v["minute"], day, pid))
    return _take(v, o)


def avohilmo_rows(v: dict[str, np.ndarray]) -> tuple[dict, dict, dict]:
    """ICD-10 rows (visit, n, dx), ICPC-2 rows (visit, n, code) and procedure rows (visit, n, proc)."""
    dx = np.c_[v["main"], np.where(v["sec"] != v["main"], v["sec"], -1)]
    dx = _compact(np.where(v["icd"][:, None], dx, -1))
    e, j = np.nonzero(dx >= 0)
    icd = {"visit": e, "n": j, "dx": dx[e, j]}
    base = np.where(v["main"] >= 0, BASE_CONDITION[np.maximum(v["main"], 0)], -1)
    pr = v["process"]
    codes = np.c_[np.where(v["icpc"] & (base >= 0), base, -1),
                  np.where(pr[:, 0] >= 0, N_COND + pr[:, 0], -1),
                  np.where(pr[:, 1] >= 0, N_COND + pr[:, 1], -1)]
    codes = _compact(codes)
    e, j = np.nonzero(codes >= 0)
    icpc = {"visit": e, "n": j, "code": codes[e, j]}  # index into ICPC2_TABLE
    e = np.flatnonzero(v["proc"] >= 0)
    proc = {"visit": e, "n": np.zeros(e.size, np.int64), "proc": v["proc"][e]}
    return icd, icpc, proc


ICPC2_TABLE = ICPC + PROCESS


# ------------------------------------------------------------------- Kela
def rights(p: FiPersons, x: Extras, rng: np.random.Generator, end: int):
    """Special reimbursement rights: rows (pid, cond, start, stop (-1 in force)) and per person/condition
    (start, stop) arrays for the purchase look-up (asthma and COPD share right 203)."""
    n = p.n
    has = (p.onset < NEVER) & (COND_SK1 >= 0)[None, :] & (rng.random((n, N_COND)) < 0.7)
    start = p.onset + rng.integers(30, 365, (n, N_COND))
    has &= start <= p.exit[:, None]
    ended = (p.died | p.emigrated)[:, None] | (rng.random((n, N_COND)) < 0.03)
    stop = np.where(p.died | p.emigrated, p.exit, -1)[:, None] + np.zeros((1, N_COND), np.int64)
    early = start + rng.integers(365, 5 * 365, (n, N_COND))
    stop = np.where(ended & (stop < 0) & (early <= end), early, np.where(ended, stop, -1))
    start_m = np.where(has, start, NEVER)
    stop_m = np.where(has, np.where(stop < 0, NEVER, stop), -NEVER)
    # one right 203 for asthma and COPD together: it covers the drugs of both
    a, c = COND["asthma"], COND["copd"]
    either = has[:, a] | has[:, c]
    first_a = start_m[:, a] <= start_m[:, c]
    lo = np.minimum(start_m[:, a], start_m[:, c])
    hi = np.maximum(stop_m[:, a], stop_m[:, c])
    for k in (a, c):  # the two conditions
        start_m[either, k] = lo[either]
        stop_m[either, k] = hi[either]
    row_has = has.copy()
    row_has[:, a] = either & first_a
    row_has[:, c] = either & ~first_a
    pid, cond = np.nonzero(row_has)
    rows = {"pid": pid, "cond": cond, "start": start_m[pid, cond],
            "stop": np.where(stop_m[pid, cond] >= NEVER, -1, stop_m[pid, cond])}
    return rows, start_m, stop_m


def purchases(p: FiPersons, x: Extras, visits: dict[str, np.ndarray], start_m: np.ndarray, stop_m: np.ndarray,
              rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Kela purchases from 1995: chronic refills about every 90 days (packages for ~90 days) and
    acute purchases after primary-care visits; ~0.3% are followed by a return (negative packages).
    Columns: pid, day, drug, vnr, plkm, sk1 (-1 none), korv and kakorv (cents; NO_AMOUNT = empty), laji, ref."""
    treat = (x.drug >= 0) & x.treated & (p.onset < NEVER)
    pp, cc = np.nonzero(treat)
    first = np.maximum(np.maximum(p.onset[pp, cc] + rng.integers(0, 30, pp.size), p.entry[pp]), KELA_FROM)
    first = first + rng.integers(0, 90, pp.size) * (p.onset[pp, cc] < p.entry[pp])
    cnt = np.where(first <= p.exit[pp], (p.exit[pp] - first) // 90 + 1, 0)
    k = np.repeat(np.arange(pp.size), cnt)
    rank = _rank_within(k)
    day = np.minimum(first[k] + rank * 90 + rng.integers(-10, 11, k.size) * (rank > 0), p.exit[pp[k]])
    pid, cond = pp[k], cc[k]
    drug = x.drug[pid, cond]
    pkg_days = np.array([d.package_days for d in FC.FI_DRUGS])
    plkm = np.maximum(np.rint(90.0 / pkg_days[drug]), 1).astype(np.int64)
    # acute purchases after visits
    vdrug = np.where(visits["main"] < N_COND, ACUTE_DRUG[np.clip(visits["main"], 0, N_COND - 1)], -1)
    buy_share = np.where(vdrug == PARACETAMOL, 0.08, 0.5)  # paracetamol is mostly bought over the counter
    av = np.flatnonzero((visits["kind"] == 1) & (vdrug >= 0) & (rng.random(visits["pid"].size) < buy_share))
    apid = visits["pid"][av]
    aday = np.minimum(visits["day"][av] + rng.integers(0, 4, av.size), p.exit[apid])
    adrug = ACUTE_DRUG[visits["main"][av]]
    pid = np.r_[pid, apid]
    day = np.r_[day, aday]
    drug = np.r_[drug, adrug]
    plkm = np.r_[plkm, np.ones(av.size, np.int64)]
    ok = day >= KELA_FROM
    pid, day, drug, plkm = pid[ok], day[ok], drug[ok], plkm[ok]
    # one purchase per person, day and drug
    key = (pid * 100_000 + (day - days(1900))) * 64 + drug
    _, first_i = np.unique(key, return_index=True)
    first_i = np.sort(first_i)
    pid, day, drug, plkm = pid[first_i], day[first_i], drug[first_i], plkm[first_i]
    m = pid.size
    cond = DRUG_COND[drug]
    sk1 = COND_SK1[cond]
    has_right = (sk1 >= 0) & (start_m[pid, cond] <= day) & (day <= stop_m[pid, cond])
    sk1 = np.where(has_right, sk1, -1)
    share = np.where(sk1 < 0, 0.40, np.where(np.array(SK1 + ["x"])[sk1] == "103", 1.0, 0.65))
    vnr_n = np.array([len(d.vnr) for d in FC.FI_DRUGS])
    vnr = rng.integers(0, 1 << 20, m) % vnr_n[drug]
    laji = np.where(x.dose_dispensing[pid] & (cond != COND["uri"]), 1, 0)
    price = np.array([round(d.package_price_eur * 100) for d in FC.FI_DRUGS])
    total = price[drug] * plkm
    korv = np.rint(total * share).astype(np.int64)
    extra = (rng.random(m) < 0.03) & (share < 1.0)
    kakorv = np.where(extra, np.maximum(total - korv - 250 * plkm, 0), NO_AMOUNT)
    ref = np.arange(m)
    buy = {"pid": pid, "day": day, "drug": drug, "vnr": vnr, "plkm": plkm, "sk1": sk1, "korv": korv,
           "kakorv": kakorv, "laji": laji, "ref": ref}
    ret = np.flatnonzero(rng.random(m) < 0.003)
    back = _take(buy, ret)
    back["day"] = np.minimum(back["day"] + rng.integers(1, 11, ret.size), p.exit[back["pid"]])
    back["plkm"] = -back["plkm"]
    back["korv"] = -back["korv"]
    back["kakorv"] = np.where(back["kakorv"] != NO_AMOUNT, -back["kakorv"], NO_AMOUNT)
    out = _cat([buy, back])
    o = np.lexsort((out["drug"], out["day"], out["pid"]))
    out = _take(out, o)
    out["ref"] = np.arange(out["pid"].size)
    return out


# --------------------------------------------------------------- registries
def cancers(p: FiPersons, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Cancer Registry tumours: pid, day, cancer, side (index into ['1','2','9'], -1 = not paired)."""
    pid = np.flatnonzero(p.cancer >= 0)
    paired = np.isin(p.cancer[pid], [j for j, c in enumerate(FC.FI_CANCERS) if c[4] in ("lung", "breast")])
    u = rng.random(pid.size)
    side = np.where(paired, np.where(u < 0.02, 2, (u < 0.51).astype(np.int64)), -1)
    return {"pid": pid, "day": p.cancer_date[pid], "cancer": p.cancer[pid], "side": side}


def deaths(p: FiPersons, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Causes of death: pid, day, era, dx (n, 6) = underlying, immediate, contributing 1-4 (-1 empty);
    every code is codable in the era of the death date."""
    pid = np.flatnonzero(p.died)
    n = pid.size
    day = p.exit[pid]
    era = era_index(day)
    u = p.death_dx[pid]
    u = np.where(codable(u, era), u, COND["pneu"])
    r = rng.random(n)
    imm = np.where(r < 0.4, u, np.where(r < 0.75, COND["pneu"], COND["hf"]))
    act = _active(p, pid, day)
    act[np.arange(n), np.minimum(u, N_COND - 1)] &= u >= N_COND
    contrib = _top_k_active(act, 4, rng)
    contrib = np.where(rng.random(contrib.shape) < 0.5, contrib, -1)
    dx = np.c_[u, imm, _compact(contrib)]
    return {"pid": pid, "day": day, "era": era, "dx": dx}


def biobank(p: FiPersons, rng: np.random.Generator, start: int, end: int):
    """Consents of ~5% of persons (some withdrawn) and 1-3 samples per consenting person collected
    between consent and withdrawal/exit.  Returns (consents, samples)."""
    adult = np.maximum(p.entry, p.birth + int(18 * DAYS_PER_YEAR))
    pid = np.flatnonzero((adult <= p.exit) & (rng.random(p.n) < 0.05))
    n = pid.size
    cday = adult[pid] + (rng.random(n) * (p.exit[pid] - adult[pid] + 1)).astype(np.int64)
    cday = np.minimum(cday, p.exit[pid])
    bank = rng.integers(0, len(FC.BIOBANKS), n)
    wd = cday + rng.integers(30, 720, n)
    has_wd = (rng.random(n) < 0.03) & (wd <= p.exit[pid])
    consents = {"pid": pid, "bank": bank, "day": cday, "withdrawn": np.where(has_wd, wd, -1)}
    ns = rng.integers(1, 4, n)
    ci = np.repeat(np.arange(n), ns)
    k = _rank_within(ci)
    limit = np.where(has_wd, wd - 1, p.exit[pid])
    sday = cday[ci] + (rng.random(ci.size) * (limit[ci] - cday[ci] + 1)).astype(np.int64) * (k > 0)
    sday = np.clip(sday, cday[ci], limit[ci])
    samples = {"consent": ci, "pid": pid[ci], "bank": bank[ci], "day": sday,
               "type": rng.integers(0, len(FC.SAMPLE_TYPES), ci.size)}
    return consents, samples
