from pathlib import Path

import pytest

from crossbridge.settings import SettingsError, load_settings


def test_defaults_then_file_then_env_then_overrides(tmp_path: Path):
    (tmp_path / "crossbridge.toml").write_text('[crossbridge]\nencoding = "utf-8"\nduckdb_threads = 1\n')
    env = {"CROSSBRIDGE_WORKDIR": str(tmp_path), "CROSSBRIDGE_DUCKDB_THREADS": "2"}
    s = load_settings({"landing": "/data/in"}, environ=env)
    assert s.workdir == tmp_path
    assert s.encoding == "utf-8"  # from the file
    assert s.duckdb_threads == 2  # env beats file
    assert s.landing == "/data/in"  # override
    assert s.warehouse_url("taiwan") == f"duckdb:{(tmp_path / 'warehouse' / 'taiwan.duckdb').resolve()}"


def test_secret_is_refused_in_config_file(tmp_path: Path):
    (tmp_path / "crossbridge.toml").write_text('site_secret = "oops"\n')
    with pytest.raises(SettingsError, match="only come from the environment"):
        load_settings(environ={"CROSSBRIDGE_WORKDIR": str(tmp_path)})


def test_unknown_setting_and_bad_type_are_clear_errors(tmp_path: Path):
    (tmp_path / "crossbridge.toml").write_text('encodng = "x"\n')
    with pytest.raises(SettingsError, match="unknown setting 'encodng'"):
        load_settings(environ={"CROSSBRIDGE_WORKDIR": str(tmp_path)})
    with pytest.raises(SettingsError, match="duckdb_threads"):
        load_settings(environ={"CROSSBRIDGE_WORKDIR": str(tmp_path / "x"), "CROSSBRIDGE_DUCKDB_THREADS": "two"})


def test_missing_config_file_named_by_env_is_an_error(tmp_path: Path):
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(environ={"CROSSBRIDGE_CONFIG": str(tmp_path / "nope.toml")})


def test_secret_required_unless_demo(tmp_path: Path):
    s = load_settings({"workdir": tmp_path}, environ={})
    with pytest.raises(SettingsError, match="CROSSBRIDGE_SITE_SECRET"):
        s.require_secret()
    demo = load_settings({"workdir": tmp_path, "allow_demo_secret": True}, environ={})
    first = demo.require_secret()
    assert len(first) == 64 and demo.require_secret() == first  # stable per workdir
    assert (tmp_path / "secrets" / "site_secret").stat().st_mode & 0o077 == 0
    env = load_settings({"workdir": tmp_path}, environ={"CROSSBRIDGE_SITE_SECRET": "s3cret"})
    assert env.require_secret() == "s3cret"
    assert "site_secret" not in env.public_dict() and "s3cret" not in repr(env)
