"""Airflow ``[core] hostname_callable`` for the Celery integration tests: the worker's name (``CB_WORKER``),
so task instances show which of two workers on one machine ran them."""

import os
import socket


def get_hostname() -> str:
    return os.environ.get("CB_WORKER") or socket.getfqdn()
