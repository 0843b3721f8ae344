"""What the DAG files need from the application, kept out of the DAG files."""

from __future__ import annotations

from typing import Any

from crossbridge.settings import Settings, load_settings


def settings_from_params(params: dict[str, Any]) -> Settings:
    """Settings for a task: environment and config file, overridden by the DAG run's params."""
    overrides = {
        "landing": params.get("landing") or None,
        "workdir": params.get("workdir") or None,
        "warehouse": params.get("warehouse") or None,
        "feed_site": params.get("feed_site") or None,  # inbound feeds' DAGs only
        "feed_timezone": params.get("feed_timezone") or None,
    }
    if params.get("partitions"):
        overrides["partitions"] = params["partitions"]
    if params.get("demo_secret"):
        overrides["allow_demo_secret"] = True
    return load_settings(overrides)
