"""Load and crash benchmark: gunicorn + PostgreSQL + S3 (moto's server) under households logging
steps with photos and buyers reading batch pages.

    .venv/bin/python bench/load.py                      # 60 s, 4 workers, 20 households, 50 buyers
    .venv/bin/python bench/load.py --crash workers      # kill -9 every worker and the master
    .venv/bin/python bench/load.py --crash postgres     # pg_terminate_backend on the app's backends

Households post steps through the JSON API (bearer token, multipart with a JPEG, an
Idempotency-Key per step) and retry with the same key on any error until acknowledged; each
acknowledged seq is recorded client-side. Buyers GET /b/<code>. Afterwards: every acknowledged
step is in the ledger at its seq, no key recorded twice, and the whole ledger verifies.

PostgreSQL comes from ``--pg-url`` (default ``$BENCH_DATABASE_URL``, else ``$TEST_DATABASE_URL``,
else postgresql://postgres@127.0.0.1:5432/test); the run uses a fresh schema, dropped after.
Prints progress lines, then one JSON object as the last line. Exits non-zero if a guarantee
failed (a 5xx outside the crash window, a lost acknowledged step, a duplicate, a failed verify).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import urllib3  # noqa: E402
from PIL import Image  # noqa: E402
from sqlalchemy import create_engine, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from app.config import Settings  # noqa: E402
from tests.support import app_config, migrate  # noqa: E402

APP_NAME = "goc-load"  # the app's PostgreSQL application_name, to find its backends
PASSWORD = "mật-khẩu-tải-thử"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_http(url: str, deadline: float, process: subprocess.Popen[bytes] | None = None) -> None:
    http = urllib3.PoolManager(retries=False, timeout=5)
    while True:
        try:
            http.request("GET", url)
            return
        except urllib3.exceptions.HTTPError:
            if time.monotonic() > deadline or (process and process.poll() is not None):
                raise RuntimeError(f"{url} did not come up") from None
            time.sleep(0.2)


@contextmanager
def moto_server() -> Iterator[str]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url, time.monotonic() + 30, server)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


@contextmanager
def pg_schema(pg_url: str) -> Iterator[str]:
    """A fresh, migrated schema; the app's URL names it and tags its connections."""
    schema = f"load_{uuid.uuid4().hex[:10]}"
    admin = create_engine(make_url(pg_url).set(drivername="postgresql+psycopg"))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = (
        make_url(pg_url)
        .set(drivername="postgresql+psycopg")
        .update_query_dict({"options": f"-csearch_path={schema}", "application_name": APP_NAME})
        .render_as_string(hide_password=False)
    )
    try:
        migrate(url)
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = :name AND pid <> pg_backend_pid()"
                ),
                {"name": APP_NAME},
            )
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


class Gunicorn:
    """gunicorn serving wsgi:app; ``kill_all`` is kill -9 of the master and every worker."""

    def __init__(self, env: dict[str, str], workers: int, log: Path) -> None:
        self.env = {**env, "GUNICORN_WORKERS": str(workers)}
        self.url = ""
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        # A fresh port each start (clients follow ``url``): the killed master's port may linger.
        port = free_port()
        self.env["GUNICORN_BIND"] = f"127.0.0.1:{port}"
        self.url = f"http://127.0.0.1:{port}"
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_http(self.url + "/healthz", time.monotonic() + 180, self.process)
        except RuntimeError as exc:
            raise RuntimeError(f"gunicorn did not start:\n{self.errors()}") from exc

    def errors(self, lines: int = 400) -> str:
        """The end of the server's log without request lines: its errors and tracebacks."""
        logged = self.log.read_text(errors="replace").splitlines()
        return "\n".join(line for line in logged[-lines:] if not line.startswith(("{", "127.")))

    def workers(self) -> list[int]:
        assert self.process is not None
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in path.read_text().split()] if path.exists() else []

    def kill_all(self) -> int:
        assert self.process is not None
        pids = self.workers()
        self.process.kill()  # the master first: alive, it would replace the workers killed
        self.process.wait()
        for pid in pids:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return len(pids)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0  # connection refused/reset, timeouts
    server_errors: list[tuple[float, int]] = field(default_factory=list)  # (answered, status)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, started: float, status: int | None) -> None:
        with self.lock:
            if status is None:
                self.errors += 1
                return
            now = time.monotonic()
            self.latencies.append(now - started)
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if status >= 500:
                self.server_errors.append((now, status))

    def summary(self, seconds: float) -> dict[str, Any]:
        ordered = sorted(self.latencies)

        def pct(p: float) -> float | None:
            if not ordered:
                return None
            return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 1)

        return {
            "requests": len(ordered),
            "per_second": round(len(ordered) / seconds, 1),
            "p50_ms": pct(0.50),
            "p95_ms": pct(0.95),
            "p99_ms": pct(0.99),
            "mean_ms": round(statistics.fmean(ordered) * 1000, 1) if ordered else None,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "connection_errors": self.errors,
        }


def jpeg(rng: random.Random) -> bytes:
    out = io.BytesIO()
    color = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
    Image.new("RGB", (64, 48), color).save(out, format="JPEG")
    return out.getvalue()


@dataclass
class Household:
    token: str
    batch: str
    acked: dict[str, int] = field(default_factory=dict)  # Idempotency-Key -> acknowledged seq
    unacked: list[str] = field(default_factory=list)  # keys given up on at the very end


def writer(
    server: Gunicorn,
    household: Household,
    stop: threading.Event,
    give_up: float,
    stats: Stats,
    n: int,
) -> None:
    """Log steps until ``stop``; retry each with its key until acknowledged (or ``give_up``)."""
    http = urllib3.PoolManager(maxsize=1, retries=False, timeout=urllib3.Timeout(30))
    rng = random.Random(n)
    path = f"/api/v1/batches/{household.batch}/steps"
    while not stop.is_set():
        key = f"load-{n}-{uuid.uuid4().hex}"
        photo = jpeg(rng)
        fields = {
            "kind": "harvest",
            "quantity": str(rng.randint(1, 500)),
            "note": f"bước {len(household.acked)}",
            "photos": ("p.jpg", photo, "image/jpeg"),
        }
        while True:
            started = time.monotonic()
            try:
                response = http.request(
                    "POST", server.url + path, fields=fields,
                    headers={"Authorization": f"Bearer {household.token}", "Idempotency-Key": key},
                )  # fmt: skip
            except urllib3.exceptions.HTTPError:
                stats.record(started, None)
            else:
                stats.record(started, response.status)
                if response.status == 201:
                    household.acked[key] = json.loads(response.data)["seq"]
                    break
                if response.status < 500 and response.status != 429:
                    raise RuntimeError(f"step refused {response.status}: {response.data[:300]!r}")
            if time.monotonic() > give_up:
                household.unacked.append(key)
                return
            time.sleep(0.2)


def reader(server: Gunicorn, codes: list[str], stop: threading.Event, stats: Stats, n: int) -> None:
    http = urllib3.PoolManager(maxsize=1, retries=False, timeout=urllib3.Timeout(30))
    rng = random.Random(1000 + n)
    while not stop.is_set():
        started = time.monotonic()
        try:
            response = http.request("GET", f"{server.url}/b/{rng.choice(codes)}")
        except urllib3.exceptions.HTTPError:
            stats.record(started, None)
            time.sleep(0.1)
        else:
            stats.record(started, response.status)


def setup_hamlet(config: dict[str, Any], households: int) -> list[tuple[str, str]]:
    """Admin and households, in-process; returns (phone, token) per household."""
    from app import create_app
    from app.context import goc
    from app.extensions import db
    from app.services.accounts import create_admin, issue_token
    from app.services.households import enroll_household

    app = create_app(config)
    made = []
    with app.app_context():
        admin = create_admin(db.session, phone="0912999000", password=PASSWORD, name="Ban số")
        for i in range(households):
            phone = f"09129{i:05d}"
            household = enroll_household(
                db.session, goc(), actor=admin, profile={"head_name": f"Hộ {i}"},
                phone=phone, password=PASSWORD, member_name=f"Hộ {i}",
            )  # fmt: skip
            made.append((phone, issue_token(db.session, user=household.members[0])))
        db.engine.dispose()
    return made


def check_ledger(config: dict[str, Any], homes: list[Household]) -> dict[str, Any]:
    """Every acknowledged seq is that household's step; no key twice; the ledger verifies."""
    from app import create_app
    from app.cli import verified_summary
    from app.extensions import db
    from app.models import Batch, IdempotencyRecord, Step

    app = create_app(config)
    with app.app_context():
        lost, steps_total, keyed = [], 0, 0
        for home in homes:
            batch_id = db.session.scalar(select(Batch.id).where(Batch.code == home.batch))
            rows = db.session.execute(
                select(Step.seq, Step.batch_id).where(Step.batch_id == batch_id)
            )
            recorded = {seq: batch for seq, batch in rows}
            lost += [seq for seq in home.acked.values() if recorded.get(seq) != batch_id]
            steps_total += len(recorded)
        keyed = db.session.scalar(
            select(text("count(*)")).select_from(IdempotencyRecord).where(
                IdempotencyRecord.step_id.is_not(None)
            )
        )  # fmt: skip
        try:
            summary = verified_summary()
        except Exception as exc:
            summary = f"FAIL: {exc}"
        db.engine.dispose()
    acked = sum(len(h.acked) for h in homes)
    unacked = sum(len(h.unacked) for h in homes)
    return {
        "acknowledged": acked,
        "unacknowledged": unacked,
        "steps_in_ledger": steps_total,
        "lost": len(lost),
        # one step per key: never more steps than keys sent, never a step without its key
        "duplicates": max(0, steps_total - acked - unacked) + abs(steps_total - (keyed or 0)),
        "verify": summary,
    }


def pg_killer(pg_url: str, stop: threading.Event, every: float, killed: list[int]) -> None:
    admin = create_engine(make_url(pg_url).set(drivername="postgresql+psycopg"))
    try:
        while not stop.wait(every):
            with admin.begin() as conn:
                n = conn.execute(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE application_name = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": APP_NAME},
                ).scalar()
            killed.append(int(n or 0))
    finally:
        admin.dispose()


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, moto_server() as s3, pg_schema(args.pg_url) as url:
        import boto3

        os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                          AWS_DEFAULT_REGION="us-east-1")  # fmt: skip
        bucket = f"goc-load-{uuid.uuid4().hex[:8]}"
        boto3.client("s3", endpoint_url=s3).create_bucket(Bucket=bucket)
        config = app_config(
            url,
            Path(tmp) / "instance",
            GOC_ENV="development",
            STORAGE_URL=f"s3://{bucket}/goc",
            S3_ENDPOINT_URL=s3,
            PUBLIC_PAGE_STATE_SECONDS=str(Settings.public_page_state_seconds),  # as deployed
        )
        logins = setup_hamlet(config, args.households)
        env = {**os.environ, **{k: str(v) for k, v in config.items()}, "GUNICORN_MAX_REQUESTS": "0"}
        server = Gunicorn(env, args.workers, Path(tmp) / "gunicorn.log")
        stop = threading.Event()
        server.start()
        try:
            http = urllib3.PoolManager()
            homes = []
            for _phone, token in logins:
                response = http.request(
                    "POST", f"{server.url}/api/v1/batches",
                    body=json.dumps({"product": "Bưởi Phúc Trạch", "unit": "quả",
                                     "start_date": time.strftime("%Y-%m-%d")}),
                    headers={"Authorization": f"Bearer {token}",
                             "Content-Type": "application/json"},
                )  # fmt: skip
                assert response.status == 201, response.data
                homes.append(Household(token, json.loads(response.data)["code"]))
            codes = [h.batch for h in homes]
            writes, reads = Stats(), Stats()
            started = time.monotonic()
            give_up = started + args.duration + 60
            threads = [
                threading.Thread(target=writer, args=(server, h, stop, give_up, writes, i))
                for i, h in enumerate(homes)
            ] + [
                threading.Thread(target=reader, args=(server, codes, stop, reads, i))
                for i in range(args.buyers)
            ]
            for thread in threads:
                thread.start()
            crash: dict[str, Any] = {"mode": args.crash}
            window = (started + args.duration * 0.4, started + args.duration * 0.7)
            if args.crash == "workers":
                time.sleep(args.duration * 0.5)
                crash["killed_processes"] = server.kill_all() + 1
                crash["down_at"] = round(time.monotonic() - started, 1)
                server.start()
                crash["restarted_after_s"] = round(time.monotonic() - started - crash["down_at"], 1)
                window = (started + crash["down_at"] - 1, time.monotonic() + 5)
            elif args.crash == "postgres":
                time.sleep(args.duration * 0.4)
                killed: list[int] = []
                killer_stop = threading.Event()
                killer = threading.Thread(target=pg_killer,
                                          args=(args.pg_url, killer_stop, 1.0, killed))  # fmt: skip
                killer.start()
                time.sleep(args.duration * 0.3)
                killer_stop.set()
                killer.join()
                crash["terminated_backends"] = sum(killed)
                crash["kill_rounds"] = len(killed)
                window = (window[0] - 1, time.monotonic() + 5)
            time.sleep(max(0.0, started + args.duration - time.monotonic()))
            stop.set()
            for thread in threads:
                thread.join()
            seconds = time.monotonic() - started
        finally:
            stop.set()  # on an error too: the clients' threads must not outlive the run
            server.stop()
        checks = check_ledger(config, homes)
        server_errors = [
            status
            for stats in (writes, reads)
            for at, status in stats.server_errors
            # In a crash the app answers 503 (retry later) while its database is gone; a 500,
            # or a 503 outside the crash, is a failure.
            if status != 503 or args.crash == "none" or not window[0] <= at <= window[1]
        ]
        if server_errors:
            print(f"server errors; the server's log:\n{server.errors(4000)}", file=sys.stderr)
        crash["server_errors_in_crash_window"] = sum(
            len(s.server_errors) for s in (writes, reads)
        ) - len(server_errors)
        result = {
            "benchmark": "load",
            "duration_s": round(seconds, 1),
            "workers": args.workers,
            "households": args.households,
            "buyers": args.buyers,
            "crash": crash,
            "writes": writes.summary(seconds),
            "reads": reads.summary(seconds),
            "server_errors": len(server_errors),
            **checks,
            "cpus": os.cpu_count(),
            "loadavg_1m": round(os.getloadavg()[0], 2),
        }
        result["ok"] = (
            result["server_errors"] == 0
            and checks["lost"] == 0
            and checks["duplicates"] == 0
            and checks["unacknowledged"] == 0
            and str(checks["verify"]).startswith("OK")
        )
        return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load (60)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (4)")
    parser.add_argument("--households", type=int, default=20, help="writing households (20)")
    parser.add_argument("--buyers", type=int, default=50, help="reading buyers (50)")
    parser.add_argument("--crash", choices=("none", "workers", "postgres"), default="none")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("BENCH_DATABASE_URL")
        or os.environ.get("TEST_DATABASE_URL")
        or "postgresql://postgres@127.0.0.1:5432/test",
    )
    args = parser.parse_args(argv)
    result = run(args)
    writes, reads = result["writes"], result["reads"]
    print(f"writes: {writes['per_second']}/s p50 {writes['p50_ms']} ms p95 {writes['p95_ms']} ms "
          f"p99 {writes['p99_ms']} ms; reads: {reads['per_second']}/s p50 {reads['p50_ms']} ms "
          f"p95 {reads['p95_ms']} ms p99 {reads['p99_ms']} ms")  # fmt: skip
    print(f"acknowledged {result['acknowledged']}, lost {result['lost']}, duplicates "
          f"{result['duplicates']}, 5xx {result['server_errors']}; {result['verify']}")  # fmt: skip
    print(json.dumps(result, ensure_ascii=False))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
