"""A short run of bench/load.py (the same machinery): gunicorn + PostgreSQL + moto's S3 under
households logging steps and buyers reading pages, once per crash mode. Every acknowledged step
must be in the ledger, none twice, no 5xx but a 503 "retry" while the database or the server is
gone, and the ledger must verify (the script's own checks, in its last JSON line)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import PG_URL, ROOT

if PG_URL:  # the load runs on PostgreSQL, like the PostgreSQL variants of the other tests

    @pytest.mark.slow
    @pytest.mark.parametrize("crash", ["workers", "postgres"])
    def test_load_and_crash(crash: str) -> None:
        run = subprocess.run(
            [sys.executable, str(ROOT / "bench" / "load.py"), "--duration", "6", "--workers", "2",
             "--households", "4", "--buyers", "6", "--crash", crash, "--pg-url", PG_URL],
            capture_output=True, text=True, timeout=300, cwd=ROOT,
        )  # fmt: skip
        lines = run.stdout.strip().splitlines()
        assert lines, run.stderr[-3000:]
        result = json.loads(lines[-1])
        assert result["acknowledged"] > 0, result
        assert result["lost"] == 0 and result["duplicates"] == 0, result
        assert result["unacknowledged"] == 0, result
        assert result["verify"].startswith("OK"), result
        assert result["server_errors"] == 0, run.stderr[-6000:]
        assert run.returncode == 0, run.stderr[-3000:]
        if crash == "workers":
            assert result["crash"]["killed_processes"] >= 3, result
        if crash == "postgres":
            assert result["crash"]["terminated_backends"] > 0, result
