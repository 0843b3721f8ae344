"""``crossbridge synth hl7v2`` and ``crossbridge ingest fhir|hl7v2``: arguments and usage errors
(the runs themselves: tests/e2e/test_feed_ingest.py)."""

from __future__ import annotations

import pytest

from crossbridge.cli import build_parser, main


def test_synth_hl7v2_writes_the_feed(tmp_path, capsys):
    assert main(["synth", "hl7v2", "--messages", "40", "--out", str(tmp_path / "f"), "--feed-site", "finland",
                 "--defect-rate", "0.1"]) == 0
    out = capsys.readouterr().out
    assert "wrote 5 HL7 v2 files, 40 messages (36 should map, 4 injected defects)" in out
    assert sorted(p.name for p in (tmp_path / "f").glob("*.hl7"))[0].startswith("finland_")


@pytest.mark.parametrize("args, message", [
    (["synth", "hl7v2", "--out", "X"], "synth hl7v2 needs --messages"),
    (["synth", "taiwan", "--out", "X"], "synth taiwan needs --persons and --years"),
    (["ingest", "hl7v2", "--in", "X/none", "--workdir", "X/w", "--demo-secret", "--no-airflow"],
     "is not a directory"),
])
def test_usage_errors_exit_2(tmp_path, capsys, args, message):
    assert main([a.replace("X", str(tmp_path)) for a in args]) == 2
    assert message in capsys.readouterr().err


def test_ingest_options_reach_the_settings():
    args = build_parser().parse_args(["ingest", "hl7v2", "--in", "L", "--site", "taiwan", "--timezone", "Asia/Taipei"])
    assert (args.feed, str(args.landing), args.feed_site, args.feed_timezone) == ("hl7v2", "L", "taiwan",
                                                                                  "Asia/Taipei")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["ingest", "hl7v2", "--in", "L", "--site", "sweden"])
    assert build_parser().parse_args(["summary", "--site", "fhir"]).site == "fhir"
