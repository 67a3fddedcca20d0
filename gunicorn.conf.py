"""Gunicorn settings: ``gunicorn -c gunicorn.conf.py wsgi:app``.

Everything can be changed from the environment, so the same file serves a laptop (`make run`),
the container (GUNICORN_BIND=0.0.0.0:8000) and hosts behind a reverse proxy.
"""

import multiprocessing
import os


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000").split(",")
# Sync workers: each request holds one; photo uploads and ledger appends are short.
workers = _int(
    "GUNICORN_WORKERS", _int("WEB_CONCURRENCY", min(2 * multiprocessing.cpu_count() + 1, 8))
)
threads = _int("GUNICORN_THREADS", 1)
timeout = _int("GUNICORN_TIMEOUT", 60)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _int("GUNICORN_KEEPALIVE", 5)

# Recycle workers now and then (slow leaks), not all at once.
max_requests = _int("GUNICORN_MAX_REQUESTS", 1000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 100)

# Logs go to stdout/stderr for the process manager or the container runtime to collect.
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'

# The client's address and scheme behind reverse proxies come from the app's TRUSTED_PROXIES
# (werkzeug's ProxyFix), so they hold whatever serves the app.
