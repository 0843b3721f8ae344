"""Small hand-made raw Taiwan files for the connector tests (no dependency on the generator)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from connectors.taiwan import layout
from connectors.taiwan.national_id import make_ids


def valid_ids(n: int, seed: int = 0) -> list[str]:
    """``n`` distinct valid national IDs."""
    rng = np.random.default_rng(seed)
    letters = rng.integers(ord("A"), ord("Z") + 1, n).astype(np.uint8)
    seconds = np.frombuffer(b"12", dtype=np.uint8)[rng.integers(0, 2, n)]
    bodies = rng.choice(10_000_000, n, replace=False)
    return [str(x) for x in make_ids(letters, seconds, bodies)]


PID = valid_ids(4, seed=42)

_VISIT_BASE = {
    "FEE_YM": "201401",
    "APPL_TYPE": "1",
    "HOSP_ID": "1101010012",
    "APPL_DATE": "20140215",
    "CASE_TYPE": "01",
    "SEQ_NO": "1",
}

DEFAULTS: dict[str, dict[str, str]] = {
    "opdte": {
        **_VISIT_BASE,
        "ID": PID[0],
        "ID_BIRTH_Y": "1950",
        "ID_S": "1",
        "FUNC_TYPE": "01",
        "FUNC_DATE": "20140110",
        "ICD9CM_1": "4019   ",
        "ICD9CM_2": "25000  ",
        "DRUG_DAY": "28",
        "PRSN_ID": "DR00000001",
        "T_DOT": "512",
    },
    "opdto": {
        **_VISIT_BASE,
        "ORDER_SEQ_NO": "1",
        "ORDER_TYPE": "1",
        "DRUG_NO": "A000015421  ",
        "DRUG_USE": "1.5",
        "DRUG_FRE": "BID     ",
        "TOTAL_QTY": "84",
        "DRUG_DAY": "28",
    },
    "ipdte": {
        **_VISIT_BASE,
        "CASE_TYPE": "1 ",
        "ID": PID[0],
        "ID_BIRTH_Y": "1950",
        "ID_S": "1",
        "FUNC_TYPE": "02",
        "IN_DATE": "20140105",
        "OUT_DATE": "20140110",
        "APPL_BEG_DATE": "20140105",
        "APPL_END_DATE": "20140110",
        "ICD9CM_1": "486    ",
        "TRAN_CODE": "1",
        "E_BED_DAY": "5",
        "S_BED_DAY": "0",
    },
    "ipdto": {
        **_VISIT_BASE,
        "CASE_TYPE": "1 ",
        "ORDER_SEQ_NO": "1",
        "ORDER_TYPE": "2",
        "ORDER_CODE": "33070B      ",
        "ORDER_QTY": "1",
        "DRUG_DAY": "1",
    },
    "druge": {
        **_VISIT_BASE,
        "HOSP_ID": "5901010010",
        "ID": PID[1],
        "ID_BIRTH_Y": "1960",
        "ID_S": "2",
        "FUNC_DATE": "20140120",
        "R_HOSP_ID": "1101010012",
        "PRSN_ID": "PH00000001",
        "DRUG_DAY": "28",
    },
    "drugo": {
        **_VISIT_BASE,
        "HOSP_ID": "5901010010",
        "ORDER_SEQ_NO": "1",
        "DRUG_NO": "A000015421",
        "DRUG_USE": "1",
        "DRUG_FRE": "QD",
        "TOTAL_QTY": "28",
        "DRUG_DAY": "28",
    },
    "enrol": {"ID": PID[0], "ID_BIRTH_Y": "1950", "ID_S": "1", "PREM_YM": "201401", "ID_STATUS": "1", "AREA_NO_I": "0101"},
    "hosb": {"HOSP_ID": "1101010012", "HOSP_NAME": "台北市立醫院", "HOSP_CONT_TYPE": "1", "AREA_NO_H": "0101",
             "HOSP_OPEN_DATE": "19900101"},
    "drug": {"DRUG_ID": "A000015421", "DRUG_NAME_E": "METFORMIN 500MG", "DRUG_NAME_C": "二甲雙胍", "ATC_CODE": "A10BA02",
             "UNIT": "TAB", "VALID_S_DATE": "20000101", "VALID_E_DATE": ""},
    "cancer": {"ID": PID[2], "DIAG_DT": "20140399", "CASITE": "C349", "HISTBEH": "81403"},
    "bb_participant": {"PARTICIPANT_ID": "P00000000001", "ID": PID[3], "BIOBANK_ID": "TWB1", "BIOBANK_NAME": "臺灣人體生物資料庫",
                       "CONSENT_TYPE": "BROAD", "CONSENT_DATE": "103/01/02"},
}


def row(ft_key: str, **values: str) -> dict[str, str]:
    """A raw row of a file type: the defaults with ``values`` overriding them."""
    out = dict(DEFAULTS.get(ft_key, {}))
    out.update(values)
    return out


def line(ft: layout.FileType, values: dict[str, str]) -> str:
    """One raw line (without newline) in layout column order; absent columns are empty."""
    unknown = set(values) - set(ft.column_names)
    assert not unknown, unknown
    return ",".join(values.get(c, "") for c in ft.column_names)


def write_raw(
    folder: Path,
    ft_key: str,
    rows: list[dict[str, str] | str | bytes],
    *,
    name: str | None = None,
    encoding: str = "cp950",
    newline: str = "\n",
) -> Path:
    """Write a raw file (header + rows) into ``folder``; a str/bytes row is written as the literal line."""
    ft = layout.BY_KEY[ft_key]
    if name is None:
        name = ft.file_name(103, 1) if ft.period == "month" else ft.file_name(103)
    path = folder / name
    out = bytearray((",".join(ft.column_names) + newline).encode(encoding))
    for r in rows:
        if isinstance(r, bytes):
            out += r + newline.encode()
        elif isinstance(r, str):
            out += (r + newline).encode(encoding)
        else:
            out += (line(ft, r) + newline).encode(encoding)
    folder.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(out))
    return path
