"""Synthetic HL7 v2 feeds: realistic ADT and ORU^R01 messages in several files, with counted defects.

``generate_hl7v2(out_dir, messages=N, seed=S, site='taiwan'|'finland', defect_rate=R,
framing='mllp'|'newline'|'cr'|'crlf'|'mixed', versions=(...))`` writes five files:

* ``<site>_adt_utf8.hl7``    MSH-18 ``UNICODE UTF-8``, names in the national script;
* ``<site>_lab_<set>.hl7``   MSH-18 ``BIG-5`` (Taiwan) or ``8859/1`` (Finland);
* ``<site>_legacy.hl7``      no MSH-18, Latin-1 bytes (every name has a Latin-1 letter);
* ``<site>_feed_bom.hl7``    no MSH-18, UTF-8 with a byte-order mark;
* ``<site>_ascii.hl7``       MSH-18 ``ASCII``, romanised names.

Messages follow patient stories told in time order (outpatient registration A04 + results
+ A08 update; admission A01, results, transfer A02, discharge A03; cancelled admission
A01 + A11; cancelled discharge A01 A03 A13 A03; a duplicate registration merged with A40;
results without a visit) and carry EVN, PID (national ID valid by construction --
``connectors.taiwan.national_id.make_ids`` / ``connectors.finland.hetu.make_hetus`` --
plus a medical record number), PV1, ORC/OBR/OBX (NM with UCUM units and reference
ranges, SN, ST, CWE), NTE and Z-segments, in HL7 versions drawn from ``versions``.
Framing: MLLP, ``\\n``, ``\\r``, ``\\r\\n``, or (``mixed``) a random choice per message; one
file is wrapped in a batch envelope (FHS/BHS ... BTS/FTS) unless the framing is MLLP.

Defects: ``round(messages * defect_rate)`` messages get exactly one defect, the quarantine
reasons taken in turn: unsupported_message_type, unsupported_version, missing_required_field
(PID-3 emptied), bad_date (PID-7 not a calendar date), malformed (PID-8 repeated, which
hl7apy refuses), bad_encoding (declared UTF-8, written in Latin-1) and invalid_national_id
(check character changed).  The report gives the counts the reader must reproduce:
``expected`` {messages_in, mapped, quarantined {reason: n}, by_type, merges, encodings}.
Deterministic for a seed.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from connectors.finland.hetu import CHECK_CHARS, make_hetus
from connectors.taiwan.national_id import make_ids
from crossbridge.synth.common import SynthArgumentError

__all__ = ["DEFECTS", "FRAMINGS", "Hl7v2SynthReport", "VERSIONS", "generate_hl7v2"]

VERSIONS = ("2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.8")
FRAMINGS = ("mllp", "newline", "cr", "crlf", "mixed")
DEFECTS = ("unsupported_message_type", "unsupported_version", "missing_required_field", "bad_date", "malformed",
           "bad_encoding", "invalid_national_id")

_SITE = {
    "taiwan": {
        "facilities": ["TPEVGH", "NTUH", "CGMH"], "authority": "MOI", "nid_type": "NNTWN", "offset": "+0800",
        "family": ["王", "李", "張", "陳", "林", "黃", "吳", "劉"], "given": ["小明", "美玲", "志豪", "淑芬", "家豪", "雅婷"],
        "family_latin": ["Wáng", "Lí", "Zhàng", "Chén", "Lín", "Huáng", "Wú", "Liú"],  # Latin-1 letters only
        "given_latin": ["Xiaomíng", "Meilíng", "Zhìháo", "Shúfen", "Jiaháo", "Yatíng"],
        "city": "台北市", "city_latin": "Táipei", "lab_charset": ("BIG-5", "cp950", "big5"),
    },
    "finland": {
        "facilities": ["HUS", "TAYS", "OYS"], "authority": "FI-DVV", "nid_type": "NNFIN", "offset": "+0200",
        "family": ["Virtanen", "Korhonen", "Mäkinen", "Nieminen", "Mäkelä", "Hämäläinen", "Laine", "Heikkinen"],
        "given": ["Matti", "Liisa", "Jääkko", "Sanna", "Pekka", "Päivi"],
        "family_latin": ["Mäkinen", "Mäkelä", "Hämäläinen", "Järvinen", "Kärkkäinen", "Pöyhönen"],
        "given_latin": ["Jääkko", "Päivi", "Kyösti", "Märta"],
        "city": "Helsinki", "city_latin": "Helsinki", "lab_charset": ("8859/1", "latin-1", "8859"),
    },
}
# LOINC code, name, UCUM unit, low, high, decimals
_TESTS = {
    "24331-1^Lipid panel": [("2093-3", "Cholesterol", "mg/dL", 120, 200, 0), ("2571-8", "Triglyceride", "mg/dL", 40, 150, 0),
                            ("2085-9", "HDL Cholesterol", "mg/dL", 40, 80, 0)],
    "58410-2^CBC panel": [("718-7", "Hemoglobin", "g/dL", 12.0, 16.0, 1), ("6690-2", "Leukocytes", "10*3/uL", 4.0, 10.0, 1),
                          ("777-3", "Platelets", "10*3/uL", 150, 400, 0)],
    "24323-8^Comprehensive metabolic panel": [("2345-7", "Glucose", "mg/dL", 70, 99, 0),
                                              ("2160-0", "Creatinine", "mg/dL", 0.6, 1.3, 2),
                                              ("4548-4", "Hemoglobin A1c", "%", 4.0, 5.6, 1)],
}
_STORIES = (("outpatient", 4), ("inpatient", 3), ("cancel_admit", 1), ("cancel_discharge", 1), ("merge", 1),
            ("lab_only", 2))


@dataclass
class Hl7v2SynthReport:
    out_dir: Path
    files: dict[str, int] = field(default_factory=dict)  # file name -> messages written
    messages: int = 0
    defects: int = 0
    defects_by_type: dict[str, int] = field(default_factory=dict)
    expected: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["out_dir"] = str(self.out_dir)
        return d


@dataclass
class _Patient:
    nid: str
    mr: str
    sex: str
    birth: str
    family: int
    given: int


@dataclass
class _Msg:
    segments: list[list[str]]
    type: str  # 'ADT^A01'
    file: int
    nid: str
    defect: str | None = None


class _Gen:
    def __init__(self, site: str, seed: int, versions: tuple[str, ...], n_patients: int):
        self.site, self.cfg, self.versions = site, _SITE[site], versions
        self.r = random.Random(seed)
        rng = np.random.default_rng(seed)
        births = np.datetime64("1940-01-01") + rng.integers(0, 80 * 365, n_patients).astype("timedelta64[D]")
        male = rng.random(n_patients) < 0.5
        if site == "taiwan":
            letters = rng.integers(ord("A"), ord("Z") + 1, n_patients).astype(np.uint8)
            seconds = np.where(male, ord("1"), ord("2")).astype(np.uint8)
            nids = [str(x) for x in make_ids(letters, seconds, rng.integers(0, 10_000_000, n_patients))]
        else:
            nids = make_hetus(births, male, rng).to_pylist()
        self.patients = [
            _Patient(nids[i], f"MR{100000 + i}", "M" if male[i] else "F", str(births[i]).replace("-", ""),
                     self.r.randrange(len(self.cfg["family"])), self.r.randrange(len(self.cfg["given"])))
            for i in range(n_patients)]
        self.control = 0
        self.visits = 0
        self.orders = 0

    # ---- segments
    def ts(self, t: datetime, offset: bool = True) -> str:
        return t.strftime("%Y%m%d%H%M%S") + (self.cfg["offset"] if offset else "")

    def msh(self, mtype: str, t: datetime, version: str, app: str, facility: str) -> list[str]:
        self.control += 1
        if version == "2.3":
            mtype = "^".join(mtype.split("^")[:2])  # the MSG structure component arrived in 2.3.1
        return ["MSH", "^~\\&", app, facility, "HUB", "CROSSBRIDGE", self.ts(t, self.r.random() < 0.9), "",
                mtype, f"{facility[:3]}{self.control:08d}", "P", version, "", "", "AL", "NE", "", ""]

    def pid(self, p: _Patient, facility: str, *, dup_mr: str | None = None) -> list[str]:
        cfg = self.cfg
        if dup_mr is not None:
            ids = f"{dup_mr}^^^{facility}^MR"
        elif self.r.random() < 0.1:  # national id recognised by shape only
            ids = f"{p.nid}^^^{cfg['authority']}~{p.mr}^^^{facility}^MR"
        else:
            ids = f"{p.nid}^^^{cfg['authority']}^{cfg['nid_type']}~{p.mr}^^^{facility}^MR"
        name = f"{cfg['family'][p.family]}^{cfg['given'][p.given]}"
        f = ["PID", "1", "", ids, "", name, "", p.birth, p.sex, "", "",
             f"{self.r.randint(1, 300)} Main St^^{cfg['city']}^^{self.r.randint(100, 999)}", "",
             f"^PRN^PH^^^^{self.r.randint(10**8, 10**9 - 1)}"]
        return f

    def pv1(self, cls: str, facility: str, visit: str, admit: datetime | None, discharge: datetime | None,
            ward: str, prior: str = "") -> list[str]:
        f = ["PV1", "1", cls, f"{ward}^{self.r.randint(100, 450)}^{self.r.choice('ABCD')}^{facility}", "", "", prior,
             f"{self.r.randint(1000, 9999)}^DOC^ONE", "", "", self.r.choice(["MED", "SUR", "CAR", "PED"])]
        f += [""] * (19 - len(f)) + [f"{visit}^^^{facility}^VN"]
        f += [""] * (44 - len(f)) + [self.ts(admit) if admit else "", self.ts(discharge) if discharge else ""]
        return f

    def zseg(self) -> list[str]:
        return ["ZPV", "1", self.r.choice(["VIP^Y", "ROOM^SINGLE", "DIET^LOWSALT"]), f"x{self.r.randint(1, 99)}"]

    def oru_body(self, facility: str, app: str, t: datetime) -> list[list[str]]:
        segs = []
        panel = self.r.choice(sorted(_TESTS))
        self.orders += 1
        placer, filler = f"P{self.orders:07d}", f"F{self.orders:07d}"
        obs_t = t - timedelta(hours=self.r.randint(1, 6))
        segs.append(["ORC", "RE", f"{placer}^{app}", f"{filler}^LAB"])
        status = self.r.choice("FFFFC")
        obr = ["OBR", "1", f"{placer}^{app}", f"{filler}^LAB", f"{panel}^LN", "", "", self.ts(obs_t)]
        obr += [""] * (22 - len(obr)) + [self.ts(t)]
        obr += [""] * (25 - len(obr)) + [status]
        segs.append(obr)
        n = 0
        for code, name, unit, low, high, dec in _TESTS[panel]:
            n += 1
            span = high - low
            value = round(self.r.uniform(low - span * 0.3, high + span * 0.3), dec)
            flag = "H" if value > high else "L" if value < low else "N"
            fmt = f"{{:.{dec}f}}"
            segs.append(["OBX", str(n), "NM", f"{code}^{name}^LN", "", fmt.format(value), f"{unit}^{unit}^UCUM",
                         f"{fmt.format(low)}-{fmt.format(high)}", flag, "", "", status, "", "", self.ts(obs_t)])
        if self.r.random() < 0.3:
            n += 1
            segs.append(["OBX", str(n), "SN", "1988-5^C reactive protein^LN", "", "<^5", "mg/L^mg/L^UCUM", "<5", "N",
                         "", "", status])
        if self.r.random() < 0.3:
            n += 1
            segs.append(["OBX", str(n), "CWE", "882-1^ABO and Rh group^LN", "", "A+^A Rh positive^L", "", "", "",
                         "", "", status])
        if self.r.random() < 0.4:
            n += 1
            segs.append(["OBX", str(n), "ST", "HEMO^Hemolysis index^L", "", "slightly hemolysed", "", "", "", "", "",
                         status])
            segs.append(["NTE", "1", "L", "Sample received late"])
        return segs

    # ---- stories
    def story(self, kind: str, t: datetime) -> list[tuple[str, datetime, dict]]:
        """[(type^trigger, time, options)] of one story."""
        h = timedelta(hours=1)
        if kind == "outpatient":
            out = [("ADT^A04", t, {}), ("ORU^R01", t + 2 * h, {})]
            if self.r.random() < 0.5:
                out.append(("ADT^A08", t + 3 * h, {}))
            return out
        if kind == "inpatient":
            return [("ADT^A01", t, {}), ("ORU^R01", t + 5 * h, {}), ("ADT^A02", t + 30 * h, {}),
                    ("ORU^R01", t + 40 * h, {}), ("ADT^A03", t + 90 * h, {})]
        if kind == "cancel_admit":
            return [("ADT^A01", t, {}), ("ADT^A11", t + h, {})]
        if kind == "cancel_discharge":
            return [("ADT^A01", t, {}), ("ADT^A03", t + 50 * h, {}), ("ADT^A13", t + 51 * h, {}),
                    ("ADT^A03", t + 80 * h, {})]
        if kind == "merge":
            dup = f"ER{self.r.randint(10**6, 10**7 - 1)}"
            return [("ADT^A04", t, {"dup": dup}), ("ADT^A40", t + 4 * h, {"dup": dup})]
        return [("ORU^R01", t, {"no_visit": True})]

    def build(self, mtype: str, t: datetime, opts: dict, p: _Patient, facility: str, visit: dict) -> list[list[str]]:
        version = self.r.choice(self.versions)
        typ, trig = mtype.split("^")
        structure = {"A01": "ADT_A01", "A04": "ADT_A01", "A08": "ADT_A01", "A02": "ADT_A02", "A03": "ADT_A03",
                     "A11": "ADT_A09", "A13": "ADT_A01", "A40": "ADT_A39", "R01": "ORU_R01"}[trig]
        app = "LIS" if typ == "ORU" else "ADT"
        segs = [self.msh(f"{mtype}^{structure}", t, version, app, facility)]
        if typ == "ADT":
            segs.append(["EVN", trig if version < "2.7" else "", self.ts(t)])  # EVN-1 is withdrawn in 2.7
        dup = opts.get("dup")
        segs.append(self.pid(p, facility, dup_mr=dup if trig == "A04" and dup else None))
        if trig == "A40":
            segs.append(["MRG", f"{dup}^^^{facility}^MR"])
            return segs
        if not opts.get("no_visit"):
            cls = visit["class"]
            discharge = t if trig == "A03" else None
            prior = ""
            if trig == "A02":
                prior = f"{visit['ward']}^101^A^{facility}"
                visit["ward"] = self.r.choice(["W2", "W3", "ICU"])
            segs.append(self.pv1(cls, facility, visit["number"], visit["admit"], discharge, visit["ward"], prior))
        if self.r.random() < 0.5:
            segs.append(self.zseg())
        if typ == "ORU":
            segs.extend(self.oru_body(facility, app, t))
        return segs


def _defect(msg: _Msg, kind: str, gen: _Gen) -> None:
    segs = msg.segments
    msh = segs[0]
    pid = next(s for s in segs if s[0] == "PID")
    if kind == "unsupported_message_type":
        msh[8] = gen.r.choice(["ADT^A05", "ORM^O01", "SIU^S12"])
    elif kind == "unsupported_version":
        msh[11] = gen.r.choice(["2.2", "2.9"])
    elif kind == "missing_required_field":
        pid[3] = ""
    elif kind == "bad_date":
        pid[7] = gen.r.choice(["19801345", "20230230", "1980010"])
    elif kind == "malformed":
        pid[8] = "M~F"
    elif kind == "bad_encoding":  # declared UTF-8, written in Latin-1 (the name has a non-ASCII letter)
        msh[17] = "UNICODE UTF-8"
        pid[5] = f"{gen.cfg['family_latin'][0]}^{gen.cfg['given_latin'][0]}"
        pid[11] = pid[11].replace(gen.cfg["city"], gen.cfg["city_latin"])
    elif kind == "invalid_national_id":
        nid = msg.nid
        if gen.site == "taiwan":
            bad = nid[:-1] + str((int(nid[-1]) + 1) % 10)
        else:
            bad = nid[:-1] + CHECK_CHARS[(CHECK_CHARS.index(nid[-1]) + 1) % len(CHECK_CHARS)]
        if nid in pid[3]:
            pid[3] = pid[3].replace(nid, bad, 1)
        else:  # a duplicate registration without the national id: give it a broken one
            pid[3] = f"{bad}^^^{gen.cfg['authority']}^{gen.cfg['nid_type']}~{pid[3]}"
    msg.defect = kind


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def _files(site: str) -> list[tuple[str, str | None, str, bool]]:
    """(file name, MSH-18 or None, python codec, BOM) of the five files."""
    charset, codec, tag = _SITE[site]["lab_charset"]
    return [(f"{site}_adt_utf8.hl7", "UNICODE UTF-8", "utf-8", False),
            (f"{site}_lab_{tag}.hl7", charset, codec, False),
            (f"{site}_legacy.hl7", None, "latin-1", False),
            (f"{site}_feed_bom.hl7", None, "utf-8", True),
            (f"{site}_ascii.hl7", "ASCII", "ascii", False)]


def _expected_label(declared: str | None, codec: str, bom: bool) -> str:
    if declared is not None:
        return f"{codec} (declared)"
    if bom:
        return "utf-8 (bom)"
    return f"{codec} (undeclared)"


def generate_hl7v2(out_dir: Path | str, *, messages: int = 200, seed: int = 42, site: str = "taiwan",
                   defect_rate: float = 0.05, framing: str = "mixed",
                   versions: tuple[str, ...] | list[str] | None = None) -> Hl7v2SynthReport:
    """Write the synthetic feed files under ``out_dir`` (see the module docstring)."""
    if site not in _SITE:
        raise SynthArgumentError(f"site must be one of {sorted(_SITE)}, got {site!r}")
    if framing not in FRAMINGS:
        raise SynthArgumentError(f"framing must be one of {FRAMINGS}, got {framing!r}")
    if messages < 1 or not 0.0 <= defect_rate <= 1.0:
        raise SynthArgumentError("messages must be >= 1 and defect_rate within [0, 1]")
    versions = tuple(versions or VERSIONS)
    unknown = sorted(set(versions) - set(VERSIONS))
    if unknown:
        raise SynthArgumentError(f"unsupported versions {unknown}; choose from {VERSIONS}")
    gen = _Gen(site, seed, versions, max(8, messages // 6))
    files = _files(site)
    cfg = gen.cfg

    msgs: list[_Msg] = []
    start = datetime(2024, 1, 1, 8, 0, 0)
    kinds = [k for k, w in _STORIES for _ in range(w)]
    while len(msgs) < messages:
        p = gen.r.choice(gen.patients)
        facility = gen.r.choice(cfg["facilities"])
        t0 = start + timedelta(minutes=gen.r.randrange(0, 360 * 24 * 60))
        kind = gen.r.choice(kinds)
        gen.visits += 1
        visit = {"number": f"V{gen.visits:07d}", "class": {"outpatient": "O"}.get(kind, gen.r.choice("IIE")),
                 "admit": t0, "ward": gen.r.choice(["W1", "W2", "ER"])}
        for mtype, t, opts in gen.story(kind, t0):
            if len(msgs) == messages:
                break
            segs = gen.build(mtype, t, opts, p, facility, visit)
            msgs.append(_Msg(segs, mtype, gen.r.randrange(len(files)), p.nid))

    n_defects = round(messages * defect_rate)
    chosen = sorted(gen.r.sample(range(messages), n_defects))
    for i, idx in enumerate(chosen):
        _defect(msgs[idx], DEFECTS[i % len(DEFECTS)], gen)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    per_file: list[list[tuple[bytes, _Msg]]] = [[] for _ in files]
    encodings: dict[str, int] = {}
    for m in msgs:
        name, declared, codec, bom = files[m.file]
        segs = m.segments
        pid = next(s for s in segs if s[0] == "PID")
        if m.defect == "bad_encoding":
            data = "\r".join("|".join(s) for s in segs).encode("latin-1")
            per_file[m.file].append((data, m))
            continue
        if declared is not None:
            segs[0][17] = declared
        if codec in ("latin-1", "ascii"):  # names and city this file's character set can write
            conv = _ascii if codec == "ascii" else (lambda x: x)
            pid[5] = f"{conv(gen.r.choice(cfg['family_latin']))}^{conv(gen.r.choice(cfg['given_latin']))}"
            pid[11] = pid[11].replace(cfg["city"], conv(cfg["city_latin"]))
        text = "\r".join("|".join(s) for s in segs)
        per_file[m.file].append((text.encode(codec), m))
        if m.defect is None:
            label = _expected_label(declared, "latin-1" if codec == "latin-1" else codec, bom)
            encodings[label] = encodings.get(label, 0) + 1

    report = Hl7v2SynthReport(out_dir=out, messages=messages, defects=n_defects)
    frames = {"cr": b"\r", "newline": b"\n", "crlf": b"\r\n"}
    for f_i, ((name, _, _, bom), items) in enumerate(zip(files, per_file)):
        chunks = []
        envelope = framing != "mllp" and f_i == 1
        if envelope:
            chunks.append(f"FHS|^~\\&|LIS|{cfg['facilities'][0]}|HUB|CROSSBRIDGE|20240101000000\r"
                          f"BHS|^~\\&|LIS|{cfg['facilities'][0]}|HUB|CROSSBRIDGE|20240101000000\r".encode())
        for data, _m in items:
            how = framing if framing != "mixed" else gen.r.choice(["mllp", "newline", "cr", "crlf"])
            if how == "mllp" and not envelope:
                chunks.append(b"\x0b" + data + b"\r\x1c\r")
            else:
                sep = frames.get(how, b"\r")
                chunks.append(data.replace(b"\r", sep) + sep)
        if envelope:
            chunks.append(f"BTS|{len(items)}\rFTS|1\r".encode())
        (out / name).write_bytes((b"\xef\xbb\xbf" if bom else b"") + b"".join(chunks))
        report.files[name] = len(items)

    good = [m for m in msgs if m.defect is None]
    by_type: dict[str, int] = {}
    for m in good:
        by_type[m.type] = by_type.get(m.type, 0) + 1
    report.defects_by_type = {k: sum(1 for m in msgs if m.defect == k) for k in DEFECTS}
    report.expected = {
        "messages_in": messages,
        "mapped": len(good),
        "quarantined": {k: v for k, v in sorted(report.defects_by_type.items()) if v},
        "by_type": dict(sorted(by_type.items())),
        "merges": by_type.get("ADT^A40", 0),
        "encodings": dict(sorted(encodings.items())),
    }
    return report
