"""Audit benchmarks: the streamed whole-log export and proofs, directly and over HTTP.

Run from the repository root::

    .venv/bin/python bench/audit.py            # 100,000 entries (see docs/benchmarks.md)
    .venv/bin/python bench/audit.py --quick    # a smoke run with 5,000 entries

It builds a SQLite log with the workload of ``bench/ledger.py`` (its helpers are reused), opens
the web app on it, and measures:

- the whole-log export bundle: ``ledger.iter_log_bundle`` directly, and ``GET /ledger/export``
  through the app's WSGI stack (Flask's test client, no network), read as a stream; with the
  growth of the process's peak memory while it streams (it must not grow with the log);
- inclusion and consistency proofs: ``LogReader`` directly, and ``GET /ledger/proof/...``
  through the app, at random indexes and sizes, one at a time.

Each figure records the share of the CPU used meanwhile by other processes (``others_cpu``).
The last line printed is one JSON object holding every figure.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import multiprocessing as mp
import random
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# As in bench/ledger.py: this folder first on sys.path would shadow the ``ledger`` package.
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(ROOT)
elif str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ledger import LogReader, SignedStatement  # noqa: E402
from ledger.bundle import iter_log_bundle  # noqa: E402

_spec = importlib.util.spec_from_file_location("bench_ledger", ROOT / "bench" / "ledger.py")
assert _spec is not None and _spec.loader is not None
workload = importlib.util.module_from_spec(_spec)
sys.modules["bench_ledger"] = workload  # its statement generators run in pool processes
_spec.loader.exec_module(workload)


def peak_rss_reset() -> int:
    """Reset the kernel's peak-RSS mark of this process; return the current RSS in bytes."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_kb("VmRSS") * 1024


def peak_rss() -> int:
    return _status_kb("VmHWM") * 1024


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def build_log(url: str, entries: int, batch: int, households: list[int]) -> None:
    ledger = workload.open_ledger(url)
    pending: list[SignedStatement] = []
    with mp.Pool(2) as pool:
        for data, signature, _ in workload.iter_log_statements(households, entries, "A", pool):
            pending.append(SignedStatement(data, signature))
            if len(pending) == batch:
                ledger.append_many(pending)
                pending = []
    if pending:
        ledger.append_many(pending)
    assert ledger.size() == entries
    ledger.engine.dispose()


def make_app(url: str, instance: Path) -> Any:
    from app import create_app
    from tests.support import app_config

    config = app_config(url, instance)
    config["LOG_SIGNING_KEY"] = workload.log_signer().skey()
    config["AUTHORITY_SIGNING_KEY"] = workload.authority_signer().skey()
    config["PUBLIC_BASE_URL"] = "http://goc.bench"
    return create_app(config)


def measure_export(lines: Iterable[str | bytes], entries: int) -> dict[str, Any]:
    baseline = peak_rss_reset()
    size = 0
    with workload.CpuMeter() as meter:
        for line in lines:
            size += len(line)
    return {
        "entries": entries,
        "entries_per_s": workload.rate(entries, meter.seconds),
        "mb_per_s": round(size / meter.seconds / 1e6, 1),
        "bundle_mb": round(size / 1e6, 1),
        "peak_rss_growth_mb": round((peak_rss() - baseline) / 2**20, 1),
        "others_cpu": meter.others,
    }


def measure_calls(calls: Sequence[Any]) -> dict[str, Any]:
    with workload.CpuMeter() as meter:
        for call in calls:
            call()
    return {
        "calls": len(calls),
        "per_s": workload.rate(len(calls), meter.seconds),
        "mean_ms": round(meter.seconds / len(calls) * 1000, 3),
        "others_cpu": meter.others,
    }


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    result: dict[str, Any] = {"machine": workload.machine(), "entries": args.entries}
    households = list(range(1, args.households + 1))
    url = f"sqlite:///{workdir / 'audit.db'}"
    workload.migrate(url)
    with workload.section(f"build a {args.entries}-entry SQLite log") as meter:
        build_log(url, args.entries, args.batch, households)
    result["build_seconds"] = round(meter.seconds, 1)
    app = make_app(url, workdir / "instance")
    client = app.test_client()
    with app.app_context():
        from app.context import goc

        reader: LogReader = goc().ledger
        origin = goc().ledger.origin
        size = reader.size()

    workload.say("\n== export")
    direct = measure_export(iter_log_bundle(reader, origin, upto=size), size)
    workload.say(f"   direct: {direct}")
    response = client.get("/ledger/export", buffered=False)
    assert response.status_code == 200 and response.is_streamed
    http = measure_export(response.response, size)
    response.close()
    workload.say(f"   HTTP:   {http}")
    result["export"] = {"direct": direct, "http": http}

    rng = random.Random(6)
    pairs = [(rng.randrange(size), rng.randrange(1, size + 1)) for _ in range(args.samples)]
    inclusion = [(min(i, s - 1), s) for i, s in pairs]
    consistency = [
        tuple(sorted((rng.randrange(1, size + 1), rng.randrange(1, size + 1))))
        for _ in range(args.samples)
    ]

    def get(path: str) -> None:
        assert client.get(path).status_code == 200

    workload.say("\n== proofs")
    result["proofs"] = {
        "inclusion_direct": measure_calls(
            [lambda i=i, s=s: reader.inclusion_proof(i, s) for i, s in inclusion]
        ),
        "inclusion_http": measure_calls(
            [
                lambda i=i, s=s: get(f"/ledger/proof/inclusion?index={i}&size={s}")
                for i, s in inclusion
            ]
        ),
        "consistency_direct": measure_calls(
            [lambda a=a, b=b: reader.consistency_proof(a, b) for a, b in consistency]
        ),
        "consistency_http": measure_calls(
            [
                lambda a=a, b=b: get(f"/ledger/proof/consistency?from={a}&to={b}")
                for a, b in consistency
            ]
        ),
    }
    for name, figures in result["proofs"].items():
        workload.say(f"   {name}: {figures}")
    with app.app_context():
        from app.extensions import db

        db.engine.dispose()
    return result


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1_000, help="statements per append_many")
    parser.add_argument("--samples", type=int, default=2_000, help="proofs of each kind")
    parser.add_argument("--households", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.entries = min(args.entries, 5_000)
        args.samples = min(args.samples, 200)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="goc-bench-audit-") as workdir:
        result = run(args, Path(workdir))
    result["seconds"] = round(time.perf_counter() - started, 1)
    result["args"] = vars(args)
    workload.say(f"\ntotal {result['seconds']} s")
    print(json.dumps(result, ensure_ascii=False, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
