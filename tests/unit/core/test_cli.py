"""The CLI's site arguments and the side-by-side summary of several site runs."""

from __future__ import annotations

import pytest

from crossbridge.cli import SITES, build_parser, format_side_by_side


def test_sites_argument_parses_and_refuses_unknown_sites(capsys) -> None:
    p = build_parser()
    assert p.parse_args(["demo"]).sites == SITES == ("taiwan", "finland")
    assert p.parse_args(["demo", "--sites", "finland"]).sites == ("finland",)
    assert p.parse_args(["synth", "finland", "--persons", "5", "--years", "2015", "--out", "x",
                         "--layout", "finngen"]).layout == "finngen"
    for bad in ("norway", "", "taiwan,norway"):
        with pytest.raises(SystemExit):
            p.parse_args(["demo", "--sites", bad])
        assert "sites must be among" in capsys.readouterr().err


def _summary(rows_out: dict[str, int], rows_in: int) -> dict:
    return {
        "state": "succeeded", "reconciled": True, "quality": {"outcome": "warn"},
        "rows_in": {"a.csv": rows_in}, "rows_quarantined": {"a.csv": {"bad_number": 2}},
        "stage_seconds": {"stage": 1.25, "map": 0.5}, "rows_out": rows_out,
    }


def test_side_by_side_lists_every_table_of_either_site() -> None:
    text = format_side_by_side([
        ("taiwan", _summary({"person": 2000, "visit_detail": 989}, 384_476)),
        ("finland", _summary({"person": 2102, "specimen": 131}, 107_164)),
        ("later", {"state": "failed", "reconciled": False, "quality": {}}),
    ])
    lines = {line.split()[0]: line.split()[1:] for line in text.splitlines()[2:]}
    assert text.splitlines()[1].split() == ["taiwan", "finland", "later"]
    assert lines["person"] == ["2,000", "2,102", "-"]
    assert lines["visit_detail"] == ["989", "0", "-"] and lines["specimen"] == ["0", "131", "-"]
    assert lines["source"] == ["rows", "384,476", "107,164", "-"]
    assert lines["state"] == ["succeeded", "succeeded", "failed"]
    assert lines["seconds"] == ["1.8", "1.8", "-"]
