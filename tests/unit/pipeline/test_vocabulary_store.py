"""The workdir's vocabulary store: built once, rebuilt when an import changes, bad import specs refused."""

from __future__ import annotations

import os

import duckdb
import pytest

from crossbridge.pipeline.common import ensure_vocabulary
from crossbridge.settings import SettingsError, load_settings

NAMES = "vocabulary_id\tconcept_code\tlanguage\tname\nICD10CM\tE11.9\tfi\t{name}\n"


def _settings(workdir, imports: str = ""):
    return load_settings({"workdir": workdir, "vocabulary_imports": imports}, environ={})


def _finnish_names(path) -> list[str]:
    with duckdb.connect(str(path), read_only=True) as con:
        return [r[0] for r in con.execute(
            """SELECT s.concept_synonym_name FROM concept_synonym s JOIN concept c USING (concept_id)
               WHERE c.vocabulary_id = 'ICD10CM' AND c.concept_code = 'E11.9'
               AND s.language_concept_id = 4181730""").fetchall()]


def test_store_cached_and_rebuilt_when_an_import_changes(tmp_path):
    names = tmp_path / "fi-names.tsv"
    names.write_text(NAMES.format(name="Tyypin 2 diabetes ilman komplikaatioita"), encoding="utf-8")
    settings = _settings(tmp_path / "w", f"names={names}")
    first, meta = ensure_vocabulary(settings)
    assert meta["imports"] == [f"names={names}"]
    assert _finnish_names(first) == ["Tyypin 2 diabetes ilman komplikaatioita"]
    mtime = first.stat().st_mtime_ns
    again, _ = ensure_vocabulary(settings)
    assert again == first and again.stat().st_mtime_ns == mtime  # cached, not rebuilt
    names.write_text(NAMES.format(name="Tyypin 2 diabetes"), encoding="utf-8")
    os.utime(names, ns=(mtime + 10**9, mtime + 10**9))
    changed, _ = ensure_vocabulary(settings)
    assert changed != first and _finnish_names(changed) == ["Tyypin 2 diabetes"]
    plain, meta = ensure_vocabulary(_settings(tmp_path / "w"))
    assert plain not in (first, changed) and meta["imports"] == [] and _finnish_names(plain) == []


def test_bad_import_setting_is_a_settings_error(tmp_path):
    with pytest.raises(SettingsError, match="vocabulary_imports.*unknown format 'xml'"):
        ensure_vocabulary(_settings(tmp_path, "xml=foo.xml"))
    with pytest.raises(SettingsError, match="does not exist"):
        ensure_vocabulary(_settings(tmp_path, f"names={tmp_path / 'missing.tsv'}"))


def test_failed_build_leaves_no_store(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text(NAMES.format(name="x").replace("\tfi\t", "\txx\t"), encoding="utf-8")
    with pytest.raises(ValueError, match="line 2"):
        ensure_vocabulary(_settings(tmp_path / "w", f"names={bad}"))
    assert not [p for p in (tmp_path / "w" / "vocabulary").iterdir() if p.suffix == ".duckdb"]
