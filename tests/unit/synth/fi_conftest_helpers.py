"""Helpers for the synthetic Finnish generator tests: cached small extracts and line readers.

Test modules import the fixtures from here (``from fi_conftest_helpers import fi_clean, ...``);
extracts are cached per session so the two test modules share them.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from connectors.finland import layout as L
from crossbridge.synth import fi_catalogue as FC
from crossbridge.synth.finland import FinlandSynthReport, generate_finland

KNOWN_CODES = (
    {c.icd10 for c in FC.FI_CONDITIONS} | {c.icd9 for c in FC.FI_CONDITIONS} | {c.icd8 for c in FC.FI_CONDITIONS}
    | {c.icpc2 for c in FC.FI_CONDITIONS} | {c[i] for c in FC.FI_CANCERS for i in (0, 1, 2, 3)}
    | {c[1] for c in FC.COMBINATIONS} | {p for c in FC.COMBINATIONS for p, _ in c[2]}
    | {c for c, _ in FC.ICPC2_PROCESS} | {p.ncsp for p in FC.FI_PROCEDURES}
    | {v for d in FC.FI_DRUGS for v in d.vnr} | {d.atc for d in FC.FI_DRUGS} | set(FC.FI_REIMB)
    | set(FC.SAMPLE_TYPES)
)
ICD8 = {c.icd8 for c in FC.FI_CONDITIONS}
ICD9 = {c.icd9 for c in FC.FI_CONDITIONS}
ICD10_WHOLE = {c.icd10 for c in FC.FI_CONDITIONS} | {c[3] for c in FC.FI_CANCERS} | {c[1] for c in FC.COMBINATIONS}
ICD10_PARTS = ICD10_WHOLE | {p for c in FC.COMBINATIONS for p, _ in c[2]}


def parse_fi_date(v: str) -> dt.date | None:
    """``dd.mm.yyyy`` (optionally `` hh:mm``) or ``yyyy-mm-dd``; None if it is no real date."""
    try:
        if "-" in v[:5]:
            return dt.date(int(v[:4]), int(v[5:7]), int(v[8:10]))
        return dt.date(int(v[6:10]), int(v[3:5]), int(v[:2]))
    except ValueError:
        return None


@dataclass
class FiExtract:
    out: Path
    report: FinlandSynthReport
    defects: list[dict[str, str]]
    kwargs: dict
    _lines: dict[str, list[bytes]] = field(default_factory=dict)

    def data_files(self) -> list[Path]:
        return sorted(p for p in self.out.iterdir() if p.is_file())

    def files_of(self, ft: L.FileType) -> list[Path]:
        return [p for p in self.data_files() if L.identify(p.name) is ft]

    def defect_lines(self, name: str) -> set[int]:
        return {int(d["line"]) for d in self.defects if d["file"] == name}

    def raw_lines(self, name: str) -> list[bytes]:
        """Physical lines of a file (cached; line n is element n - 1)."""
        if name not in self._lines:
            data = (self.out / name).read_bytes()
            assert data.endswith(b"\n")
            self._lines[name] = data[:-1].split(b"\n")
        return self._lines[name]

    def rows(self, ft: L.FileType, clean: bool = True) -> list[tuple[str, int, dict[str, str]]]:
        """(file, line, {column: value}) of every data line of ``ft`` (ground-truth lines skipped)."""
        out = []
        for p in self.files_of(ft):
            skip = self.defect_lines(p.name) if clean else set()
            for i, raw in enumerate(self.raw_lines(p.name)[1:], start=2):
                if i in skip:
                    continue
                vals = raw.decode(ft.encoding).split(ft.delimiter)
                out.append((p.name, i, dict(zip(ft.column_names, vals))))
        return out


_CACHE: dict[str, FiExtract] = {}


def get_extract(tmp_path_factory, name: str, **kw) -> FiExtract:
    """Generate (once per session) an extract with ``generate_finland(**kw)``."""
    if name not in _CACHE:
        out = tmp_path_factory.mktemp(name)
        report = generate_finland(out, **kw)
        with open(out / "_ground_truth" / "defects.csv", encoding="utf-8", newline="") as fh:
            defects = list(csv.DictReader(fh))
        _CACHE[name] = FiExtract(out, report, defects, kw)
    return _CACHE[name]


@pytest.fixture(scope="session")
def fi_clean(tmp_path_factory) -> FiExtract:
    """Both layouts, no defects, Avohilmo years."""
    return get_extract(tmp_path_factory, "fi_clean", persons=2000, years=(2015, 2019), seed=7, layout="both")


@pytest.fixture(scope="session")
def fi_eras(tmp_path_factory) -> FiExtract:
    """Registers 1985-2003: ICD-8, ICD-9 and ICD-10 eras, births before 1900 and after 2000."""
    return get_extract(tmp_path_factory, "fi_eras", persons=3000, years=(1985, 2003), seed=3)


@pytest.fixture(scope="session")
def fi_defects(tmp_path_factory) -> FiExtract:
    return get_extract(tmp_path_factory, "fi_defects", persons=1200, years=(2014, 2017), seed=11, defect_rate=0.03,
                       layout="both")


@pytest.fixture(scope="session")
def fi_many_defects(tmp_path_factory) -> FiExtract:
    """A high defect rate on a small extract: every defect type, including wrong_encoding."""
    return get_extract(tmp_path_factory, "fi_many", persons=600, years=(2012, 2013), seed=5, defect_rate=0.3,
                       layout="both")
