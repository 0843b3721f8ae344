"""The shared quarantine schema and writer."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.quarantine import (
    QUARANTINE_SCHEMA,
    UnknownQuarantineReason,
    count_reasons,
    quarantine_table,
    read_quarantine,
    write_quarantine,
)
from connectors.taiwan.layout import QUARANTINE_REASONS


def test_write_read_and_count(tmp_path: Path) -> None:
    t = quarantine_table("f.csv", "opdte", [3, 5, 9], ["bad_number", "bad_number", "undecodable"],
                         ["T_DOT", "T_DOT", None], ["T_DOT='x' is not an integer", "T_DOT='y' ...", "bytes ff"])
    assert t.schema == QUARANTINE_SCHEMA
    write_quarantine(t, tmp_path / "q" / "a" / "one.parquet", QUARANTINE_REASONS)
    write_quarantine(t.slice(0, 1), tmp_path / "q" / "b.parquet", QUARANTINE_REASONS)
    back = read_quarantine(tmp_path / "q")
    assert back.num_rows == 4 and back.schema == QUARANTINE_SCHEMA
    assert count_reasons(back) == {"bad_number": 3, "undecodable": 1}
    assert read_quarantine(tmp_path / "missing").num_rows == 0
    assert quarantine_table("f", "x", [], [], [], []).num_rows == 0


def test_unknown_reason_is_refused(tmp_path: Path) -> None:
    t = quarantine_table("f.csv", "opdte", [3], ["made_up"], [None], [None])
    with pytest.raises(UnknownQuarantineReason, match="made_up"):
        write_quarantine(t, tmp_path / "q.parquet", QUARANTINE_REASONS)
    assert not (tmp_path / "q.parquet").exists()
