"""Settings, declared once.

Sources, later ones winning: built-in defaults < the optional config file
(``CROSSBRIDGE_CONFIG`` or ``<workdir>/crossbridge.toml``) < environment
variables ``CROSSBRIDGE_<NAME>`` < explicit overrides (CLI flags).

The site secret is read from the environment only (``CROSSBRIDGE_SITE_SECRET``)
— never from a config file, never logged.  For demos, ``allow_demo_secret``
makes the hub create a random secret once in ``<workdir>/secrets/site_secret``
(mode 0600) so that re-runs give the same pseudonyms.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any


class SettingsError(ValueError):
    """A setting is missing, malformed or not allowed where it was given."""


_SECRET_NAMES = {"site_secret"}
#: most person partitions a run may have (each is one Airflow task and one folder per table)
MAX_PARTITIONS = 4096


@dataclass(frozen=True)
class Settings:
    workdir: Path = Path("work")
    landing: str = ""  # local directory (s3:// prefixes arrive with the scale-out work)
    warehouse: str = ""  # duckdb:PATH or postgresql://...; default <workdir>/warehouse/<site>.duckdb
    vocabulary_dir: str = ""  # an Athena download; default: the demo stand-in (terminology/demo_vocabulary)
    vocabulary_imports: str = ""  # ';'-separated FORMAT=PATH[?k=v] specs loaded on top (terminology/imports.py)
    release_store: str = ""  # file:///ABS/DIR, a path, or s3://BUCKET/PREFIX (used by releases)
    s3_endpoint_url: str = ""  # for S3-compatible stores
    release_studies: str = ""  # ';'-separated study files the release DAG builds when a site run passes the gate
    release_partner: str = ""  # publish under <partner>/ in release_store (a partner gets only its prefix)
    encoding: str = "cp950"  # raw-file encoding of the Taiwan extracts
    chunk_bytes: int = 16 << 20  # read block size for raw files
    stage_workers: int = 2  # processes typing/pseudonymising chunks in parallel (1 = in-process)
    partitions: int = 1  # person-hash partitions of staging; OMOP is built per partition (Airflow mapped tasks)
    duckdb_memory_limit: str = "1500MB"
    duckdb_threads: int = 2
    max_quarantine_share: float = 0.05  # quality outcome 'warn' above this share per file
    quality_thresholds: str = ""  # TOML file of per-site check thresholds/severities (validators/gate.py)
    fhir_export: bool = True  # write the run's FHIR R4 NDJSON (runs/<id>/fhir/) after the load
    fhir_validate: str = "sample"  # all | sample | none: fhir.resources validation of the export (docs/fhir.md)
    feed_site: str = ""  # inbound FHIR / HL7 v2 feeds: taiwan | finland | "" (whose national ids and pseudonyms they carry)
    feed_timezone: str = ""  # HL7 v2 date/times without offset: IANA zone (default: the feed site's, else UTC)
    allow_demo_secret: bool = False
    site_secret: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        if not 1 <= self.partitions <= MAX_PARTITIONS:
            raise SettingsError(f"setting partitions: {self.partitions} is not in 1..{MAX_PARTITIONS}")

    # ---- derived locations -------------------------------------------------
    @property
    def runs_dir(self) -> Path:
        return self.workdir / "runs"

    def warehouse_url(self, site: str) -> str:
        if self.warehouse:
            return self.warehouse
        return f"duckdb:{(self.workdir / 'warehouse' / f'{site}.duckdb').resolve()}"

    def require_secret(self) -> str:
        """The site secret, creating a demo one in the workdir if allowed."""
        if self.site_secret:
            return self.site_secret
        if not self.allow_demo_secret:
            raise SettingsError(
                "CROSSBRIDGE_SITE_SECRET is not set. Set it from your secrets backend, "
                "or pass --demo-secret to use a random per-workdir demo secret."
            )
        path = self.workdir / "secrets" / "site_secret"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
        return path.read_text().strip()

    def public_dict(self) -> dict[str, Any]:
        """Settings safe to record in a run summary (secrets removed)."""
        d = asdict(self)
        for name in _SECRET_NAMES:
            d.pop(name, None)
        d["workdir"] = str(self.workdir)
        return d


def _coerce(name: str, value: Any) -> Any:
    kind = {f.name: f.type for f in fields(Settings)}[name]
    try:
        if kind == "Path":
            return Path(value)
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "bool":
            if isinstance(value, bool):
                return value
            low = str(value).strip().lower()
            if low in {"1", "true", "yes", "on"}:
                return True
            if low in {"0", "false", "no", "off", ""}:
                return False
            raise ValueError(f"not a boolean: {value!r}")
        return str(value)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"setting {name}: {exc}") from exc


def load_settings(overrides: dict[str, Any] | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Build Settings from defaults, config file, environment and overrides."""
    env = os.environ if environ is None else environ
    names = {f.name for f in fields(Settings)}
    values: dict[str, Any] = {}
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}

    workdir = overrides.get("workdir") or env.get("CROSSBRIDGE_WORKDIR") or "work"
    config = env.get("CROSSBRIDGE_CONFIG") or str(Path(workdir) / "crossbridge.toml")
    cfg_path = Path(config)
    if cfg_path.exists():
        try:
            data = tomllib.loads(cfg_path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{cfg_path}: {exc}") from exc
        section = data.get("crossbridge", data)
        for key, value in section.items():
            if key not in names:
                raise SettingsError(f"{cfg_path}: unknown setting {key!r}")
            if key in _SECRET_NAMES:
                raise SettingsError(f"{cfg_path}: {key} may only come from the environment")
            values[key] = _coerce(key, value)
    elif "CROSSBRIDGE_CONFIG" in env:
        raise SettingsError(f"CROSSBRIDGE_CONFIG points to {cfg_path}, which does not exist")

    for name in names:
        key = f"CROSSBRIDGE_{name.upper()}"
        if key in env:
            values[name] = _coerce(name, env[key])
    for name, value in overrides.items():
        if name not in names:
            raise SettingsError(f"unknown setting {name!r}")
        values[name] = _coerce(name, value)
    values.setdefault("workdir", Path(workdir))
    return Settings(**values)
