"""The PostgreSQL backend against a live server the tests start (conftest's postgres_dsn): the in-process index's
answers on the same codes by every way, writes in transactions (a killed writer, concurrent readers), refusals in
one line, FAISS interop, and `aelab index build --backend postgresql` / `aelab search --dsn`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from aelab.errors import CodeIndexError, IndexSourceError
from aelab.index import Index

pytest.importorskip("psycopg")
from aelab.index.postgresql import PostgresIndex  # noqa: E402

WAYS = ("auto", "scan", "hash", "multi-index")


def _codes(bits: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(codes as bits, ids): clustered (the low half of the bits often constant), a tenth repeated, so that
    buckets are uneven and distances tie; ids arbitrary and unique."""
    rng = np.random.default_rng(seed)
    codes = rng.random((n, bits)) < 0.5
    codes[: n // 2, : bits // 2] = False
    codes[: n // 10] = codes[n - n // 10:]
    return codes, rng.permutation(20 * n)[:n].astype(np.int64)


def _equal(got, want):
    assert len(got) == len(want)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype


@pytest.mark.parametrize("bits", [8, 20, 64, 130])
def test_every_way_answers_as_the_in_process_index(postgres_dsn, bits):
    codes, ids = _codes(bits, 1500, bits)
    ref = Index(bits)
    ref.add(codes, ids)
    with PostgresIndex.create(postgres_dsn, f"same_{bits}", bits, overwrite=True, codes=codes[:1000],
                              ids=ids[:1000]) as pg:
        pg.add(codes[1000:], ids[1000:])  # a second batch, through the table's indexes
        assert len(pg) == 1500
        _equal(pg.codes_and_ids(), ref.codes_and_ids())
        rng = np.random.default_rng(1)
        queries = np.concatenate([codes[:12] ^ (rng.random((12, bits)) < 0.04), rng.random((3, bits)) < 0.5])
        refused = 0
        for radius in (0, 1, 2, 4):
            want = ref.range_search(queries, radius)
            for way in WAYS:
                try:
                    _equal(pg.range_search(queries, radius, method=way), want)
                except CodeIndexError as e:  # a way past its probe limit says so in one line
                    assert way == "hash" and "\n" not in str(e)
                    refused += 1
        for k in (1, 10, 1600):  # 1600 > items: rows end in -1, as FAISS fills them
            want = ref.search(queries, k)
            for way in WAYS:
                try:
                    _equal(pg.search(queries, k, method=way), want)
                except CodeIndexError:
                    assert way != "auto" and way != "scan"
                    refused += 1
        _equal(pg.lookup(codes[:20]), ref.lookup(codes[:20]))
        assert pg.stats()["distinct_codes"] == ref.stats()["distinct_codes"]
        assert refused < 2 * 4 + 3 * 2  # most forced ways ran
        pg.drop()


def test_metadata_removal_and_refusals(postgres_dsn):
    codes, ids = _codes(16, 50, 3)
    about = [{"label": f"l{i % 3}", "file": f"f{i}.txt", "text": f"words of {i}"} for i in range(50)]
    source = {"model": "semhash", "run": "/x"}
    with PostgresIndex.create(postgres_dsn, "meta", 16, source, overwrite=True, codes=codes, ids=ids,
                              metadata=about) as pg:
        assert pg.metadata(ids[[3, 0]]) == [about[3], about[0]]
        assert pg.metadata([10**9]) == [{}]
        with pytest.raises(CodeIndexError, match="already in the index"):
            pg.add(codes[:2], ids[:2])
        with pytest.raises(CodeIndexError, match="repeat"):
            pg.add(codes[:2], [7, 7])
        assert len(pg) == 50  # the refused batches left nothing
        with pytest.raises(CodeIndexError, match="label, file, text"):
            pg.add(codes[:1], metadata=[{"colour": "red"}])
        with pytest.raises(IndexSourceError):
            pg.search(codes[:1], 3, source={"model": "other"})
        pg.add(codes[:2])  # default ids: the next unused ones
        assert sorted(pg.codes_and_ids()[1])[-2:] == [ids.max() + 1, ids.max() + 2]
        assert pg.remove_ids([ids[0], ids[1], 10**9]) == 2 and len(pg) == 50
        again = PostgresIndex.open(postgres_dsn, "meta")
        assert again.bits == 16 and again.source == source and len(again) == 50
        again.close()
        with pytest.raises(CodeIndexError, match="already holds an index") as e:
            PostgresIndex.create(postgres_dsn, "meta", 16)
        assert "\n" not in str(e.value)
        with pytest.raises(CodeIndexError, match="no aelab index in table nothing_here"):
            PostgresIndex.open(postgres_dsn, "nothing_here")
        pg._conn.execute("CREATE TABLE IF NOT EXISTS users_own (x int)")
        with pytest.raises(CodeIndexError, match="is not an aelab index"):
            PostgresIndex.create(postgres_dsn, "users_own", 16, overwrite=True)  # never touched, even so
        with pytest.raises(CodeIndexError, match="lower-case letters"):
            PostgresIndex.create(postgres_dsn, "Robert'); DROP TABLE x;--", 16)
    with pytest.raises(CodeIndexError, match="cannot connect to PostgreSQL") as e:
        PostgresIndex.open("postgresql://nobody:secret@/postgres?host=/nonexistent", "meta")
    assert "secret" not in str(e.value) and "\n" not in str(e.value)


def test_to_faiss_gives_the_tables_codes(postgres_dsn):
    faiss = pytest.importorskip("faiss")
    codes, ids = _codes(32, 400, 5)
    with PostgresIndex.create(postgres_dsn, "to_faiss", 32, overwrite=True, codes=codes, ids=ids) as pg:
        exported = pg.to_faiss()
        assert isinstance(exported, faiss.IndexBinaryIDMap) and exported.ntotal == 400
        queries = np.packbits(codes[:5], axis=1, bitorder="little")
        d, i = exported.search(queries, 7)
        want = pg.search(codes[:5], 7)
        np.testing.assert_array_equal(d, want[0])
        np.testing.assert_array_equal(i, want[1])
        _equal(Index.from_faiss(pg.to_faiss("hash")).codes_and_ids(), pg.codes_and_ids())


WRITER = """
import sys, numpy as np
from aelab.index.postgresql import PostgresIndex
pg = PostgresIndex.open(sys.argv[1], sys.argv[2])
codes = np.random.default_rng(0).integers(0, 256, (3_000_000, 8), dtype=np.uint8)
print("writing", flush=True)
pg.add(codes, np.arange(10**6, 4 * 10**6))
print("committed", flush=True)
"""


def test_a_writer_killed_mid_append_leaves_the_table_as_it_was(postgres_dsn):
    codes, ids = _codes(64, 1000, 7)
    with PostgresIndex.create(postgres_dsn, "killed", 64, overwrite=True, codes=codes, ids=ids) as pg:
        before = pg.codes_and_ids()
        writer = subprocess.Popen([sys.executable, "-c", WRITER, postgres_dsn, "killed"], stdout=subprocess.PIPE,
                                  text=True)
        assert writer.stdout.readline().strip() == "writing"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # until the server is receiving its COPY
            busy = pg._conn.execute("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY%%' "
                                    "AND state = 'active' AND pid <> pg_backend_pid()").fetchone()[0]
            if busy:
                break
            time.sleep(0.01)
        assert busy, "the writer never started its COPY"
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
        assert len(pg) == 1000
        _equal(pg.codes_and_ids(), before)
        deadline = time.monotonic() + 30  # the server notices the lost client and ends its transaction
        while pg._conn.execute("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY%%' "
                               "AND pid <> pg_backend_pid()").fetchone()[0] and time.monotonic() < deadline:
            time.sleep(0.05)
        pg.add(codes[:3])  # the writers' lock was released with it
        assert len(pg) == 1003


def test_readers_see_the_state_before_or_after_each_append(postgres_dsn):
    batch, batches = 20_000, 6
    with PostgresIndex.create(postgres_dsn, "readers", 32, overwrite=True) as pg:
        states = {(0, 0)} | {(batch * b, sum(range(batch * b))) for b in range(1, batches + 1)}
        seen, stop = [], threading.Event()

        def read():
            with PostgresIndex.open(postgres_dsn, "readers") as reader:
                while not stop.is_set():
                    row = reader._conn.execute("SELECT count(*), coalesce(sum(id), 0) FROM readers").fetchone()
                    seen.append((int(row[0]), int(row[1])))

        thread = threading.Thread(target=read)
        thread.start()
        rng = np.random.default_rng(0)
        for b in range(batches):
            pg.add(rng.random((batch, 32)) < 0.5)  # default ids continue: 0, 1, 2, ...
            time.sleep(0.02)
        stop.set()
        thread.join()
        assert set(seen) <= states and len(set(seen)) >= 2, sorted(set(seen))


def test_cli_build_and_search_with_postgresql(postgres_dsn, tmp_path, capsys):
    from aelab.cli import main

    run = tmp_path / "run"
    assert main(["train", "semhash", "--preset", "tiny", "--epochs", "2", "--no-progress", "--no-report",
                 "--out", str(run)]) == 0
    assert main(["index", "build", str(run), "--out", str(tmp_path / "folder")]) == 0
    assert main(["index", "build", str(run), "--backend", "postgresql", "--dsn", postgres_dsn]) == 0
    assert "in table aelab_run" in capsys.readouterr().out
    assert main(["index", "build", str(run), "--backend", "postgresql", "--dsn", postgres_dsn]) == 1
    assert "already holds an index" in capsys.readouterr().err  # refused before any encoding
    answers = []
    for where in (["--dsn", postgres_dsn, "--table", "aelab_run"], [str(tmp_path / "folder")]):
        assert main(["index", "search", *where, "--query", "5", "--top", "40", "--json"]) == 0
        answers.append([json.loads(line) for line in capsys.readouterr().out.splitlines()])
    assert answers[0] == answers[1] and len(answers[0]) == 20  # --limit's 20, with their labels
    assert all("label" in hit for hit in answers[0])
    assert main(["index", "stats", "--dsn", postgres_dsn, "--table", "aelab_run", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["backend"] == "postgresql"
    assert main(["index", "search", "--query", "5", "--top", "3"]) == 1
    assert "give an index folder or --dsn" in capsys.readouterr().err
