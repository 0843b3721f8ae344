"""Master data of the synthetic Taiwan site: facilities, drug master, member biobanks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crossbridge.synth import catalogue

# Region codes (4 digits) with rough population weights.
AREAS: tuple[tuple[str, str, float], ...] = (
    ("0101", "台北", 0.115), ("0102", "新北", 0.170), ("0201", "桃園", 0.092), ("0301", "台中", 0.118),
    ("0401", "台南", 0.080), ("0501", "高雄", 0.118), ("0601", "基隆", 0.016), ("0602", "新竹", 0.040),
    ("0603", "苗栗", 0.024), ("0604", "彰化", 0.054), ("0605", "南投", 0.021), ("0606", "雲林", 0.029),
    ("0607", "嘉義", 0.030), ("0608", "屏東", 0.035), ("0609", "宜蘭", 0.019), ("0610", "花蓮", 0.014),
    ("0611", "台東", 0.009), ("0612", "澎湖", 0.004),
)
_SURNAMES = tuple("陳林黃張李王吳劉蔡楊許鄭謝郭洪曾邱廖賴徐周葉蘇莊呂江何蕭羅高")
_GIVEN = ("仁", "安", "康", "德", "育", "功", "蓋", "和", "信", "誠", "明", "文", "惠", "恩", "慈", "樂")
_CLINIC_KIND = ("診所", "內科診所", "家庭醫學科診所", "小兒科診所", "耳鼻喉科診所", "骨科診所", "婦產科診所")
_HOSP_STEM = ("紀念醫院", "綜合醫院", "醫院", "仁愛醫院", "博愛醫院", "基督教醫院")

# Member biobanks of the consortium: (BIOBANK_ID, Chinese name, weight).
BIOBANKS: tuple[tuple[str, str, float], ...] = (
    ("TWBK", "台灣人體生物資料庫", 0.40),
    ("NTUH", "臺大醫院人體生物資料庫", 0.14),
    ("CGMH", "長庚紀念醫院人體生物資料庫", 0.12),
    ("CMUH", "中國醫藥大學附設醫院人體生物資料庫", 0.10),
    ("KMUH", "高雄醫學大學附設中和紀念醫院人體生物資料庫", 0.08),
    ("TVGH", "臺北榮民總醫院人體生物資料庫", 0.08),
    ("TCVG", "臺中榮民總醫院許可人體生物資料庫", 0.08),
)

LEVEL_NAMES = {1: "醫學中心", 2: "區域醫院", 3: "地區醫院", 4: "診所", 5: "藥局"}


@dataclass(frozen=True)
class Facilities:
    """Facility table, indexed 0..n-1; ``level`` 1 medical centre .. 4 clinic, 5 pharmacy."""

    hosp_id: np.ndarray  # str, 10 digits
    name: np.ndarray  # str (Chinese)
    level: np.ndarray  # int
    area: np.ndarray  # str, 4 digits
    open_date: np.ndarray  # int YYYYMMDD

    def of_level(self, *levels: int) -> np.ndarray:
        return np.flatnonzero(np.isin(self.level, levels))


def facility_counts(persons: int) -> dict[int, int]:
    """Number of facilities per level for a population size (roughly Taiwan's density)."""
    return {
        1: max(2, round(persons / 1_200_000)),
        2: max(3, round(persons / 300_000)),
        3: max(5, round(persons / 150_000)),
        4: min(20_000, max(20, round(persons / 1_500))),
        5: min(8_000, max(10, round(persons / 3_000))),
    }


def make_facilities(persons: int, rng: np.random.Generator) -> Facilities:
    """Facilities with 10-digit HOSP_ID and Chinese names; the first clinics and pharmacies
    carry 許/功/蓋/育, whose CP950 second byte is 0x5C or 0x7C."""
    counts = facility_counts(persons)
    levels = np.concatenate([np.full(k, lv) for lv, k in counts.items()])
    n = levels.size
    aw = np.array([a[2] for a in AREAS])
    area_idx = rng.choice(len(AREAS), size=n, p=aw / aw.sum())
    area = np.array([a[0] for a in AREAS])[area_idx]
    place = np.array([a[1] for a in AREAS])[area_idx]
    # HOSP_ID: 2-digit area group + level digit + 7-digit serial (unique by construction)
    serial = np.arange(n) * 7 + rng.integers(0, 7, n)
    hosp_id = np.array([f"{a[:2]}{lv}{s:07d}" for a, lv, s in zip(area, levels, serial)])
    sur = rng.integers(0, len(_SURNAMES), n)
    g1 = rng.integers(0, len(_GIVEN), n)
    g2 = rng.integers(0, len(_GIVEN), n)
    kind = rng.integers(0, len(_CLINIC_KIND), n)
    stem = rng.integers(0, len(_HOSP_STEM), n)
    names = []
    forced = {4: list(catalogue.TRICKY_CHARACTERS), 5: list(reversed(catalogue.TRICKY_CHARACTERS))}
    seen: dict[int, int] = {}
    for i in range(n):  # loop over facilities (master data, small)
        lv = int(levels[i])
        k = seen.get(lv, 0)
        seen[lv] = k + 1
        given = _GIVEN[g1[i]] + _GIVEN[g2[i]]
        if lv in forced and k < len(forced[lv]):
            given = forced[lv][k] + _GIVEN[g2[i]]
        if lv == 1:
            names.append(f"{place[i]}{_SURNAMES[sur[i]]}{given}紀念醫院")
        elif lv in (2, 3):
            names.append(f"{place[i]}{given}{_HOSP_STEM[stem[i]]}")
        elif lv == 4:
            names.append(f"{_SURNAMES[sur[i]]}{given}{_CLINIC_KIND[kind[i]]}")
        else:
            names.append(f"{given}{'大藥局' if k % 3 == 0 else '藥局'}")
    open_y = rng.integers(1950, 2011, n)
    open_m = rng.integers(1, 13, n)
    open_d = rng.integers(1, 29, n)
    return Facilities(hosp_id, np.array(names), levels, area, open_y * 10000 + open_m * 100 + open_d)
