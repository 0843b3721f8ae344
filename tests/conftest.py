"""Shared fixtures: connections to the PostgreSQL and Redis services on 127.0.0.1.

Tests that need a service are skipped when it is unreachable, unless
CROSSBRIDGE_REQUIRE_SERVICES=1 (CI), in which case they fail.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator

import pytest

POSTGRES_BASE_URL = "postgresql://postgres@127.0.0.1:5432/test"

# Test files that take minutes, longest first (CI, 2026-11-22). `make test` runs with
# `--dist loadfile`, where xdist hands out files in collection order: starting with the longest
# keeps one worker from running a long file alone at the end while the other idles.
LONGEST_FIRST = (
    "tests/e2e/test_partitioned_runs.py",
    "tests/e2e/test_celery_executor.py",
    "tests/e2e/test_taiwan_end_to_end.py",
    "tests/e2e/test_feed_ingest.py",
    "tests/e2e/test_finland_end_to_end.py",
    "tests/e2e/test_quality_gate.py",
    "tests/e2e/test_study_e2e.py",
    "tests/e2e/test_release_e2e.py",
    "tests/e2e/test_demo.py",
    "tests/unit/connectors/test_remote_landing.py",
    "tests/e2e/test_pg_load_fault.py",
)


def pytest_collection_modifyitems(config, items) -> None:
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))  # stable: the rest keep their order
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379


def _unavailable(message: str) -> None:
    if os.environ.get("CROSSBRIDGE_REQUIRE_SERVICES") == "1":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """URL of a fresh, uniquely named schema in database ``test`` per test module; dropped afterwards.

    Per module, not per session: modules that share a worker process must not see
    each other's tables (a load in one would change another's row counts).
    """
    import psycopg

    try:
        admin = psycopg.connect(POSTGRES_BASE_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        _unavailable(f"PostgreSQL not reachable at 127.0.0.1:5432: {exc}")
    schema = f"cb_test_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{POSTGRES_BASE_URL}?schema={schema}"
    finally:
        admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.close()


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of the Redis server at 127.0.0.1:6379 (checked with a raw PING)."""
    try:
        with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=3) as sock:
            sock.sendall(b"PING\r\n")
            reply = sock.recv(64)
    except OSError as exc:
        _unavailable(f"Redis not reachable at {REDIS_HOST}:{REDIS_PORT}: {exc}")
    if not reply.startswith(b"+PONG"):
        _unavailable(f"Redis not reachable at {REDIS_HOST}:{REDIS_PORT}: PING answered {reply!r}")
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/0"


# ---- an S3-compatible endpoint for store and release tests ------------------------------------------
FAKE_AWS_SECRET = "fake-secret-key-never-shown"  # tests assert it never appears in errors or URLs


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """moto's S3 server on a free 127.0.0.1 port (a real HTTP endpoint, not mocked calls), per module."""
    from moto.server import ThreadedMotoServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Fake credentials in the environment; no profile or config file can leak in."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_AWS_SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def s3_client(aws_env: None, moto_endpoint: str):
    from connectors.stores.s3 import make_s3_client

    return make_s3_client(moto_endpoint)


@pytest.fixture
def bucket(s3_client) -> str:
    """A fresh bucket on the moto server."""
    name = f"cb-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    return name
