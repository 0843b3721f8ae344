"""What the release DAG builds: the study asked for, or the configured studies of the site whose run passed."""

from __future__ import annotations

from pathlib import Path

import pytest

from crossbridge.pipeline.release import ReleaseError, plan_releases, publish_release, study_key_name
from crossbridge.settings import load_settings

EXAMPLES = Path(__file__).resolve().parents[3] / "studies" / "examples"
TW, FI = str(EXAMPLES / "t2d_taiwan.yml"), str(EXAMPLES / "t2d_finland.yml")


def test_manual_study_wins_over_events(tmp_path):
    s = load_settings({"workdir": tmp_path, "release_studies": f"{TW};{FI}"}, environ={})
    assert plan_releases(s, study=TW, run_id="r1", events=[{"site": "finland", "run_id": "x"}]) == [
        {"study": TW, "run_id": "r1", "release_id": None}]


def test_asset_events_pick_the_studies_of_their_site(tmp_path):
    s = load_settings({"workdir": tmp_path, "release_studies": f"{TW} ; {FI}"}, environ={})
    plan = plan_releases(s, events=[{"site": "finland", "run_id": "20261121T1-finland-ab"},
                                    {"site": "hl7v2", "run_id": "z"}])
    assert plan == [{"study": FI, "run_id": "20261121T1-finland-ab",
                     "release_id": "t2d-fi-example-20261121T1-finland-ab"}]
    assert plan_releases(load_settings({"workdir": tmp_path}, environ={}), events=[{"site": "taiwan"}]) == []


def test_key_name_and_missing_store(tmp_path):
    assert study_key_name(TW) == "CROSSBRIDGE_STUDY_KEY"
    with pytest.raises(ReleaseError, match="no release store"):
        publish_release(tmp_path, load_settings({"workdir": tmp_path}, environ={}))
