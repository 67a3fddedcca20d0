"""Appends from many processes at once: one gap-free sequence, one chain, one checkpoint each.

Every process opens its own engine from the database URL (processes are spawned, so nothing is
inherited) and appends one statement per transaction: steps on its household's own lot, and
every fifth one an inspection signed by the co-op on a subject all processes share, so subject
chains are contended too.
"""

from __future__ import annotations

import itertools
import multiprocessing
import queue
import time
import traceback
from typing import Any

import pytest
from sqlalchemy import text

from ledger import KEY_REGISTER, LogReader, NoteSigner
from tests.conftest import BACKENDS
from tests.support import Fixture, seeded_signer

SHARED = "village:inspections"
INSPECT_EVERY = 5
TIMEOUT = 120


def household_name(index: int) -> str:
    return f"household:C{index:02d}"


def household_key(index: int) -> NoteSigner:
    return seeded_signer(household_name(index), 40 + index)


def append_worker(url: str, index: int, count: int, barrier: Any, results: Any) -> None:
    """Runs in a spawned process: ``count`` appends, one per transaction."""
    try:
        fixture = Fixture.create(url)
        household = household_key(index)
        appended: list[tuple[int, bytes]] = []
        barrier.wait(TIMEOUT)
        for i in range(count):
            if i % INSPECT_EVERY == INSPECT_EVERY - 1:
                entry = fixture.step(fixture.authority, SHARED, "check.inspection", by=index, n=i)
            else:
                entry = fixture.step(household, f"lot:C{index:02d}-1", weight_kg=i)
            appended.append((entry.seq, entry.hash))
        fixture.engine.dispose()
        results.put((index, appended, None))
    except BaseException:
        results.put((index, [], traceback.format_exc()))


def run_appenders(log: Fixture, url: str, processes: int, count: int) -> None:
    """Register ``processes`` households, append from as many processes, check the result."""
    for index in range(processes):
        household, _ = log.register(household_name(index), 40 + index)
        assert household.key_id == household_key(index).key_id
    registered = log.ledger.size()
    assert registered == processes

    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes)
    results = context.Queue()
    workers = [
        context.Process(target=append_worker, args=(url, i, count, barrier, results))
        for i in range(processes)
    ]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    outcomes: dict[int, list[tuple[int, bytes]]] = {}
    try:
        for _ in workers:
            index, appended, failure = results.get(timeout=TIMEOUT)
            assert failure is None, f"process {index} failed:\n{failure}"
            outcomes[index] = appended
    except queue.Empty:
        pytest.fail(f"appenders did not finish within {TIMEOUT} s")
    finally:
        for worker in workers:
            worker.join(10)
            if worker.is_alive():
                worker.kill()
    elapsed = time.monotonic() - started
    assert all(w.exitcode == 0 for w in workers)

    total = registered + processes * count
    # every process got its own, increasing seqs; together they are exactly registered..total-1
    for appended in outcomes.values():
        seqs = [seq for seq, _ in appended]
        assert len(seqs) == count and seqs == sorted(seqs)
    claimed = sorted(seq for appended in outcomes.values() for seq, _ in appended)
    assert claimed == list(range(registered, total))

    with log.engine.connect() as conn:
        count_, low, high = conn.execute(
            text("SELECT count(*), min(seq), max(seq) FROM ledger_entries")
        ).one()
        sizes = conn.execute(text("SELECT size FROM ledger_checkpoints ORDER BY size")).scalars()
        sizes = list(sizes)
    assert (count_, low, high) == (total, 0, total - 1)
    # one checkpoint per append transaction: exactly one at every size 1..total
    assert sizes == list(range(1, total + 1))

    reader = LogReader(log.engine)
    stored = {entry.seq: entry for entry in reader.iter_entries()}
    for appended in outcomes.values():
        for seq, digest in appended:
            assert stored[seq].hash == digest
    # a single chain: every entry links to the one before it
    for seq in range(1, total):
        assert stored[seq].prev_hash == stored[seq - 1].hash, seq
    inspections = [e for e in stored.values() if e.statement.parse().subject == SHARED]
    assert len(inspections) == processes * (count // INSPECT_EVERY)
    for before, after in itertools.pairwise(inspections):
        assert after.subject_prev_hash == before.hash
    assert all(stored[s].statement.parse().kind == KEY_REGISTER for s in range(registered))

    summary = log.verifier(workers=2).verify_log(log.ledger.iter_log())
    assert summary.entries == total
    assert summary.subjects == 2 * processes + 1
    assert summary.checkpoint is not None and summary.checkpoint.size == total
    print(f"{processes} x {count} appends in {elapsed:.1f} s")


@pytest.mark.slow
@pytest.mark.parametrize("database_url", [b for b in BACKENDS if b == "postgresql"], indirect=True)
class TestPostgresqlConcurrency:
    def test_eight_processes_of_two_hundred_appends(self, log: Fixture, database_url: str) -> None:
        run_appenders(log, database_url, processes=8, count=200)


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
class TestSqliteConcurrency:
    def test_four_processes_of_twenty_five_appends(self, log: Fixture, database_url: str) -> None:
        run_appenders(log, database_url, processes=4, count=25)
