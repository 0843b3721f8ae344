"""Shared fixtures for the synthetic Taiwan generator tests: small generated extracts."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import pytest

from connectors.taiwan import layout as L
from crossbridge.synth.taiwan import TaiwanSynthReport, generate_taiwan


@dataclass
class Extract:
    out: Path
    report: TaiwanSynthReport
    encoding: str
    defects: list[dict[str, str]]

    def data_files(self) -> list[Path]:
        return sorted(p for p in self.out.iterdir() if p.is_file())

    def defect_lines(self, name: str) -> set[int]:
        return {int(d["line"]) for d in self.defects if d["file"] == name}

    def raw_lines(self, name: str) -> list[bytes]:
        data = (self.out / name).read_bytes()
        assert data.endswith(b"\n")
        return data[:-1].split(b"\n")

    def rows(self, ft: L.FileType, clean: bool = True) -> list[tuple[str, int, dict[str, str]]]:
        """(file, line, {column: value}) of every data line of ``ft`` (defect lines skipped)."""
        out = []
        for p in self.data_files():
            if L.identify(p.name) is not ft:
                continue
            skip = self.defect_lines(p.name) if clean else set()
            for i, raw in enumerate(self.raw_lines(p.name)[1:], start=2):
                if i in skip:
                    continue
                vals = raw.decode(self.encoding).split(",")
                out.append((p.name, i, dict(zip(ft.column_names, vals))))
        return out


def _make(tmp_path_factory, name: str, **kw) -> Extract:
    out = tmp_path_factory.mktemp(name)
    report = generate_taiwan(out, **kw)
    with open(out / "_ground_truth" / "defects.csv", encoding="utf-8", newline="") as fh:
        defects = list(csv.DictReader(fh))
    enc = "utf-8" if kw.get("encoding", "cp950") in ("utf-8", "utf8") else "cp950"
    return Extract(out, report, enc, defects)


@pytest.fixture(scope="session")
def clean_extract(tmp_path_factory) -> Extract:
    return _make(tmp_path_factory, "tw_clean", persons=1500, years=(2015, 2016), seed=7)


@pytest.fixture(scope="session")
def defect_extract(tmp_path_factory) -> Extract:
    return _make(tmp_path_factory, "tw_defects", persons=800, years=(2015, 2016), seed=11, defect_rate=0.03)


@pytest.fixture(scope="session")
def utf8_defect_extract(tmp_path_factory) -> Extract:
    return _make(tmp_path_factory, "tw_utf8", persons=300, years=(2016, 2016), seed=5, encoding="utf-8",
                 defect_rate=0.05)


@pytest.fixture
def make_extract(tmp_path_factory):
    """Factory: ``make_extract(name, **generate_taiwan kwargs) -> Extract``."""
    return lambda name, **kw: _make(tmp_path_factory, name, **kw)
