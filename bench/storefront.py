"""Storefront benchmark: a 30-step batch page under gunicorn against a trivial endpoint.

Run from the repository root (needs ``wrk``: ``apt-get install wrk``; not needed by tests)::

    .venv/bin/python bench/storefront.py                  # SQLite, 4 workers, 32 clients
    .venv/bin/python bench/storefront.py --database postgresql
    .venv/bin/python bench/storefront.py --help

It seeds a fresh database through the app's services (a household, a batch of 30 steps with
photos, 40 more batches for the marketplace), starts gunicorn with the repository's
gunicorn.conf.py on ``bench/storefront_wsgi.py`` (the app plus one trivial route), and drives it
with wrk at 32 concurrent connections. Endpoints are measured in alternating rounds, so a
neighbour's load hits them alike. Figures: requests/s and p50/p99 latency of each endpoint, the
batch page's throughput as a share of the trivial endpoint's (the target is at least 0.5), the
page weight before photos, and the QR image cache. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

# Run as ``python bench/storefront.py``, this file's directory comes first on sys.path and its
# own name would shadow the ``storefront`` package: put the repository root there instead.
ROOT = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(ROOT)
elif str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from app.config import Settings  # noqa: E402
from bench.ledger import CpuMeter, machine, say  # noqa: E402
from tests.support import app_config, jpeg_bytes, migrate  # noqa: E402

STEPS = 30
MARKET_BATCHES = 40
TARGET_RATIO = 0.5
PAGE_BUDGET = 100 * 1024
GTIN = "8930000000019"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("BENCH_DATABASE_URL")
        or os.environ.get("TEST_DATABASE_URL")
        or "postgresql://postgres@127.0.0.1:5432/test",
    )
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--connections", type=int, default=32, help="concurrent clients")
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--page-state-seconds",
        type=float,
        default=Settings.public_page_state_seconds,
        help="PUBLIC_PAGE_STATE_SECONDS (default: the production default; 0: read every request)",
    )
    return parser.parse_args()


# -- the database ----------------------------------------------------------------------------


@contextmanager
def database(kind: str, pg_url: str, directory: Path) -> Iterator[str]:
    """A migrated, empty database: a SQLite file, or a PostgreSQL schema dropped afterwards."""
    if kind == "sqlite":
        url = f"sqlite:///{directory / 'storefront.db'}"
        migrate(url)
        yield url
        return
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    base = make_url(pg_url).set(drivername="postgresql+psycopg")
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = base.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False
    )
    try:
        migrate(url)
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def seed(config: dict[str, Any]) -> dict[str, Any]:
    """Through the services, as households would: returns the codes the bench requests."""
    from app import create_app
    from app.context import goc
    from app.extensions import db
    from app.models import User
    from app.services.accounts import create_admin
    from app.services.batches import create_batch, record_step
    from app.services.households import enroll_household, update_profile
    from app.services.photos import prepare_photo

    app = create_app(config)
    with app.app_context():
        admin = create_admin(db.session, phone="0912000001", password="x" * 12, name="Ban số hoá")
        household = enroll_household(
            db.session,
            goc(),
            actor=admin,
            profile={
                "head_name": "Nguyễn Văn An",
                "hamlet": "Thôn Phúc Trạch",
                "commune": "Hương Trạch",
                "province": "Hà Tĩnh",
                "crops": "bưởi Phúc Trạch",
                "certificates": "VietGAP 2025",
            },
            phone="0912000101",
            password="x" * 12,
            member_name="Nguyễn Văn An",
        )
        member = db.session.scalar(select(User).where(User.household_id == household.id))
        assert member is not None
        update_profile(
            db.session,
            goc(),
            actor=member,
            household=household,
            public={},
            private={
                "bank_bin": "970436",
                "bank_account": "0071000123456",
                "bank_account_name": "NGUYEN VAN AN",
            },
        )
        start = date.today() - timedelta(days=120)
        for n in range(MARKET_BATCHES):
            create_batch(
                db.session,
                goc(),
                actor=member,
                data={
                    "product": ("Bưởi Phúc Trạch", "Gạo ST25", "Cải mầm")[n % 3],
                    "variety": f"Vụ {n + 1}",
                    "unit": "kg",
                    "start_date": start.isoformat(),
                },
            )
        batch = create_batch(
            db.session,
            goc(),
            actor=member,
            data={
                "product": "Bưởi Phúc Trạch",
                "variety": "Bưởi đường",
                "plot": "Vườn sau nhà",
                "unit": "quả",
                "start_date": start.isoformat(),
                "gtin": GTIN,
                "lot": "PT-26-01",
            },
        )
        for n in range(STEPS):
            when = (datetime.now(UTC) - timedelta(days=110 - 3 * n)).isoformat()
            kind, data = step_data(n)
            photos = (
                [prepare_photo(jpeg_bytes((40 + n, 120, 60), (800, 600)), keep_location=False)]
                if n % 6 == 0
                else []
            )
            record_step(db.session, goc(), actor=member, batch=batch, kind=kind,
                        data={**data, "occurred_at": when}, photos=photos)  # fmt: skip
        codes = {"batch": batch.code, "household": household.code, "size": goc().ledger.size()}
        db.session.remove()
        db.engine.dispose()
    return codes


def step_data(n: int) -> tuple[str, dict[str, str]]:
    """A realistic season: care, fertilising, irrigation, a spraying, harvests, packing."""
    if n == 8:
        return "spraying", {"product": "Boóc-đô", "active_ingredient": "đồng sunfat",
                            "dose": "20 ml / bình 16 l", "phi_days": "14"}  # fmt: skip
    if n >= 26:
        return "harvest", {"quantity": str(120 + n)}
    kinds = [
        ("care", {"activity": "Làm cỏ, tỉa cành, bao trái bằng túi giấy"}),
        ("fertilising", {"product": "Phân hữu cơ vi sinh Sông Gianh", "amount": "2"}),
        ("irrigation", {"method": "nhỏ giọt", "water_source": "giếng khoan"}),
        ("note", {"note": "Trời nắng nhẹ, quả phát triển đều, không thấy sâu bệnh. " * 2}),
    ]
    return kinds[n % len(kinds)]


# -- gunicorn and wrk ------------------------------------------------------------------------


@contextmanager
def gunicorn(
    config: dict[str, Any], workers: int, port: int, log: Path
) -> Iterator[tuple[str, int]]:
    env = {**os.environ, **{k: str(v) for k, v in config.items()}}
    env.update(
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS=str(workers),
        GUNICORN_MAX_REQUESTS="0",  # no recycling mid-measurement (it would drop the caches)
    )
    binary = Path(sys.executable).with_name("gunicorn")
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(binary), "-c", "gunicorn.conf.py", "bench.storefront_wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/_bench/trivial", timeout=2) as response:
                    response.read()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"gunicorn did not start; see {log}") from None
                time.sleep(0.3)
        yield base, server.pid
    finally:
        with suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def server_cpu_seconds(master: int) -> float:
    """CPU seconds used so far by gunicorn's master and its live workers (none recycle here)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            fields = stat[stat.rfind(")") + 2 :].split()
            if int(entry.name) == master or int(fields[1]) == master:
                total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()  # type: ignore[union-attr]
    return round(float(number) * UNITS[unit], 2)


def wrk(url: str, connections: int, seconds: int, server: int) -> dict[str, Any]:
    """Requests/s and latency percentiles of ``url`` under ``connections`` clients, and the
    server's CPU time per request (what throughput would be on a machine of its own)."""
    cpu = server_cpu_seconds(server)
    with CpuMeter() as meter:
        output = subprocess.run(
            ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "--latency",
             url],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", output, re.MULTILINE))
    if len(latency) != 2:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: (.*)$", output, re.MULTILINE)
    cpu = server_cpu_seconds(server) - cpu
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    return {
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),  # type: ignore[union-attr]
        "server_cpu_ms_per_request": round(cpu * 1e3 / requests, 3) if requests else None,
        "p50_ms": _ms(latency["50"]),
        "p99_ms": _ms(latency["99"]),
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(1) if errors else "",
        "others_cpu": meter.others,
    }


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        body: bytes = response.read()
        return body


def qr_cache_figures(public_url: str) -> dict[str, Any]:
    """What one QR costs to make, and that the second request for it is a cache hit."""
    from storefront import qr

    qr.png.cache_clear()
    started = time.perf_counter()
    qr.png(public_url, qr.DEFAULT_PNG_SIZE)
    cold = time.perf_counter() - started
    started = time.perf_counter()
    qr.png(public_url, qr.DEFAULT_PNG_SIZE)
    warm = time.perf_counter() - started
    info = qr.png.cache_info()
    return {
        "png_generate_ms": round(cold * 1e3, 2),
        "png_cached_us": round(warm * 1e6, 1),
        "cache_hits": info.hits,
        "cache_misses": info.misses,
        "generate_bound_per_core_per_s": round(1 / cold, 1),
    }


# -- the run ---------------------------------------------------------------------------------


def main() -> None:
    args = parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench/storefront.py needs wrk: apt-get install wrk")
    directory = Path(tempfile.mkdtemp(prefix="goc-bench-storefront-"))
    result: dict[str, Any] = {
        "machine": machine(),
        "database": args.database,
        "page_state_seconds": args.page_state_seconds,
    }
    try:
        with database(args.database, args.pg_url, directory) as url:
            config = app_config(
                url,
                directory / "instance",
                GOC_ENV="production",
                PUBLIC_PAGE_STATE_SECONDS=str(args.page_state_seconds),
            )
            say(f"seeding {args.database}: a batch of {STEPS} steps, {MARKET_BATCHES} more")
            codes = seed(config)
            code = codes["batch"]
            log = directory / "gunicorn.log"
            with gunicorn(config, args.workers, args.port, log) as (base, server):
                result.update(measure(args, base, server, code, config["PUBLIC_BASE_URL"]))
            result["ledger_entries"] = codes["size"]
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    print(json.dumps(result, ensure_ascii=False))


def measure(
    args: argparse.Namespace, base: str, server: int, code: str, public_base: str
) -> dict[str, Any]:
    started = time.perf_counter()
    page = fetch(f"{base}/b/{code}")  # the first request verifies and renders: no cache yet
    first_ms = round((time.perf_counter() - started) * 1e3, 1)
    css = fetch(f"{base}/static/app.css")
    photos = len(re.findall(rb'<img src="/p/', page))
    weight = {
        "html_bytes": len(page),
        "css_bytes": len(css),
        "total_bytes": len(page) + len(css),
        "budget_bytes": PAGE_BUDGET,
        "met": len(page) + len(css) <= PAGE_BUDGET,
        "thumbnails_not_counted": photos,
    }
    say(f"page weight before photos: {weight['total_bytes']} bytes ({photos} thumbnails apart)")
    say(f"first (uncached) batch page request: {first_ms} ms")
    endpoints = {
        "trivial": "/_bench/trivial",
        "batch_page": f"/b/{code}",
        "qr_png": f"/b/{code}/qr.png",
        "market": "/",
    }
    for path in endpoints.values():  # every worker renders and caches once before measuring
        wrk(base + path, args.connections, 2, server)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in endpoints}
    for n in range(args.rounds):
        for name, path in endpoints.items():
            runs[name].append(wrk(base + path, args.connections, args.duration, server))
            say(f"round {n + 1} {name:10} {json.dumps(runs[name][-1])}")
    summary = {name: summarise(r) for name, r in runs.items()}
    # Neighbours' load swings within seconds: each round's page run is paired with the trivial
    # run just before it, and the median of those ratios is the figure; the CPU-time ratio is
    # what the throughput ratio would be on a machine of its own.
    paired = sorted(
        page["requests_per_s"] / trivial["requests_per_s"]
        for page, trivial in zip(runs["batch_page"], runs["trivial"], strict=True)
    )
    ratio = paired[len(paired) // 2]
    cpu_ratio = (
        summary["trivial"]["server_cpu_ms_per_request"]
        / summary["batch_page"]["server_cpu_ms_per_request"]
    )
    say(f"batch page / trivial: {ratio:.3f} throughput (median of rounds), {cpu_ratio:.3f} CPU")
    qr_figures = qr_cache_figures(f"{public_base}/01/0{GTIN}/10/PT-26-01")
    say(f"QR: {json.dumps(qr_figures)}")
    return {
        "workers": args.workers,
        "connections": args.connections,
        "duration_s": args.duration,
        "rounds": args.rounds,
        "steps": STEPS,
        "endpoints": summary,
        "ratio": round(ratio, 3),
        "ratio_by_round": [round(r, 3) for r in paired],
        "ratio_by_server_cpu": round(cpu_ratio, 3),
        "target_ratio": TARGET_RATIO,
        "met": ratio >= TARGET_RATIO,
        "page_weight": weight,
        "first_request_ms": first_ms,
        "qr": {**qr_figures, "endpoint_per_s": summary["qr_png"]["requests_per_s"]},
        "runs": runs,
    }


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean throughput over the rounds; the median round's latencies and CPU time per request;
    the worst load seen."""
    ordered = sorted(runs, key=lambda r: r["requests_per_s"])
    middle = ordered[len(ordered) // 2]
    cpu = sorted(r["server_cpu_ms_per_request"] for r in runs)
    return {
        "requests_per_s": round(sum(r["requests_per_s"] for r in runs) / len(runs), 1),
        "server_cpu_ms_per_request": cpu[len(cpu) // 2],
        "p50_ms": middle["p50_ms"],
        "p99_ms": middle["p99_ms"],
        "non_2xx": sum(r["non_2xx"] for r in runs),
        "others_cpu_max": max(r["others_cpu"] for r in runs),
    }


if __name__ == "__main__":
    main()
