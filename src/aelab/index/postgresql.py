"""`PostgresIndex`: binary codes in a PostgreSQL table (14 or later), searched with the same calls as `Index`.

One row per item: `id bigint PRIMARY KEY`, `code bytea` (FAISS's bytes, `bits.to_bytes`) with a hash index for
exact lookup, and what the user attached (`label`, `file`, `text`). Two kinds of column are generated from
`code` by the server, so that they cannot disagree with it: `bits`, the code as `bit(8 * bytes)`, whose
`bit_count(bits # query)` is the Hamming distance; and up to eight 16-bit substrings `s0, s1, ...` (bytes 2i
and 2i + 1, i.e. bits 16i..16i + 15 of the code), each with a B-tree, for multi-index hashing (Norouzi,
Punjani & Fleet, CVPR 2012) inside the database: an item within R bits of a query is within R // m bits of
it on one of the m substrings (pigeonhole), so the candidates are a few index probes, checked by the full
distance. The ways a search can take are the in-process index's: "scan" (the distance of every row),
"hash" (every code within the radius enumerated and probed in the hash index), "multi-index" (the
substrings); "auto" picks the cheapest by a count of the work (`_ways`). All give the same hits, ordered by
(distance, id).

Each `add` and `remove_ids` is one transaction (a writer killed part-way leaves the table as it was;
readers see the state before or after, never between), serialised with other writers by an advisory lock
so that default ids never collide. Which tables hold indexes, their code length and the model that made
their codes: the table `aelab_indexes`.
"""

from __future__ import annotations

import math
import re
import shutil
import struct
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CodeIndexError
from .bits import U64, ball_volume, check_bits, extract, flip_masks, from_bytes, to_bytes
from .interface import CodeIndex, bucket_stats, checked_ids, checked_source, source_text
from .search import FILLER

REGISTRY = "aelab_indexes"
SUBSTRING_BITS = 16
MAX_SUBSTRINGS = 8
METADATA = ("label", "file", "text")  # what a user may attach to an item
MAX_PROBES = 200_000  # values sent in one query's probe list: past this a way is refused (forced) or not taken
# the work of each way, in rows of a scan (~0.05 us a row in PostgreSQL's parallel scan, which takes ~5 ms to start
# its workers), fitted to bench/index_speed.py --postgresql's forced ways on 100k-10M codes (2 cores): a probe of
# the hash index ~5 us, of a substring B-tree ~2 us, a candidate fetched and checked ~0.75 us while they are sparse,
# ~0.3 ms a query; past LOSSY candidates (each on a page of its own, at worst) the server's bitmap of them outgrows
# work_mem (4 MB by default) and turns lossy: every row of every page is checked, in one process, about DENSE scans'
# time (10M 64-bit codes: 424k candidates took 3.4 s against a 0.6 s parallel scan)
PROBE_HASH, PROBE_BTREE, CANDIDATE, FIXED, SCAN_FIXED = 100.0, 40.0, 15.0, 6000.0, 100_000.0
LOSSY, DENSE = 65_000, 3.0
_TABLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")  # lower case: the name needs no quoting in psql


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise CodeIndexError("the PostgreSQL backend needs psycopg: pip install 'aelab[postgresql]'") from None
    return psycopg


def _redacted(dsn: str) -> str:
    """A DSN without its password, for messages."""
    return re.sub(r"(password=)\S+", r"\1***", re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", dsn))


def check_table(table: str) -> str:
    """A table name aelab creates: lower-case letters, digits and underscores, not starting with a digit."""
    if not isinstance(table, str) or not _TABLE.match(table):
        raise CodeIndexError(f"a table name is lower-case letters, digits and underscores (at most 63, not starting "
                             f"with a digit), got {table!r}")
    return table


def connect(dsn: str) -> Any:
    """An autocommit connection to the server at `dsn` (14 or later), or a one-line error saying why not."""
    psycopg = _psycopg()
    try:
        conn = psycopg.connect(dsn, autocommit=True)
    except psycopg.Error as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CodeIndexError(f"cannot connect to PostgreSQL at {_redacted(dsn)}: {first}") from None
    if conn.info.server_version < 140000:
        conn.close()
        raise CodeIndexError(f"the PostgreSQL backend needs server 14 or later (bit_count); {_redacted(dsn)} runs "
                             f"{conn.info.server_version // 10000}")
    return conn


class PostgresIndex(CodeIndex):
    """Codes of 1..1024 bits by int64 id in a PostgreSQL table: `add(codes, ids, metadata=...)`,
    `remove_ids(ids)`, `search(queries, k)`, `range_search(queries, radius)`, `lookup(codes)` and
    `metadata(ids)`, with `Index`'s arguments and answers (`interface.CodeIndex`).

    `PostgresIndex.create(dsn, table, bits)` makes the table; `PostgresIndex.open(dsn, table)` opens one."""

    def __init__(self, conn: Any, dsn: str, table: str, bits: int, source: dict[str, Any] | None) -> None:
        """Use `create` or `open`."""
        self._conn, self.dsn, self.table = conn, dsn, table
        self.bits, self.source = bits, source
        self.nbytes = (bits + 7) // 8
        self.substrings = min(math.ceil(self.nbytes * 8 / SUBSTRING_BITS), MAX_SUBSTRINGS)
        self._estimate = (-np.inf, 0)  # (when, rows) of the last estimate of the table's size
        self.last_plan: list[str] = []  # the steps the last query of the last search took: "way, within r bits"

    # -- making and opening --------------------------------------------------------------------

    @classmethod
    def create(cls, dsn: str, table: str, bits: int, source: Mapping[str, Any] | None = None,
               overwrite: bool = False, codes: Any = None, ids: Any = None,
               metadata: Sequence[Mapping[str, Any]] | None = None) -> PostgresIndex:
        """A new index in `table`, holding `codes` (with `ids` and `metadata`, as `add` takes them) if given:
        one transaction, so the table appears whole or not at all. overwrite=True replaces an aelab index
        there; a table that is not one is never touched. The table's indexes are built after its rows (faster
        than keeping them up to date row by row)."""
        table, bits, src = check_table(table), check_bits(bits), checked_source(source)
        conn = connect(dsn)
        try:
            with conn.transaction():
                _claim(conn, table, overwrite)
                index = cls(conn, dsn, table, bits, src)
                create_table, create_indexes = index._schema()
                conn.execute(create_table)
                if codes is not None:
                    index._insert(codes, ids, source, metadata)
                for statement in create_indexes:
                    conn.execute(statement)
                conn.execute(_sql("ANALYZE {t}", table))  # the planner's statistics of the substrings, at once
                conn.execute(f"INSERT INTO {REGISTRY} (name, bits, substrings, source) VALUES (%s, %s, %s, %s)",
                             (table, bits, index.substrings, source_text(src) if src is not None else None))
        except BaseException:
            conn.close()
            raise
        return index

    @staticmethod
    def check_free(dsn: str, table: str, overwrite: bool = False) -> None:
        """Raise the one-line error `create` would for this server and table, writing nothing but the registry
        table (a check to make before minutes of encoding)."""
        conn = connect(dsn)
        try:
            with conn.transaction():
                _claim(conn, check_table(table), overwrite, drop=False)
        finally:
            conn.close()

    @classmethod
    def open(cls, dsn: str, table: str) -> PostgresIndex:
        """The index in `table` at `dsn`."""
        table = check_table(table)
        conn = connect(dsn)
        row = None
        if conn.execute("SELECT to_regclass(%s) IS NOT NULL", (REGISTRY,)).fetchone()[0]:
            row = conn.execute(f"SELECT bits, source FROM {REGISTRY} WHERE name = %s", (table,)).fetchone()
        if row is None or not conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()[0]:
            conn.close()
            raise CodeIndexError(f"no aelab index in table {table} at {_redacted(dsn)}; build one: "
                                 f"aelab index build RUN --backend postgresql --dsn DSN --table {table}")
        return cls(conn, dsn, table, int(row[0]), row[1])

    def _schema(self) -> tuple[Any, list[Any]]:
        """(CREATE TABLE, [CREATE INDEX, ...])."""
        width = 8 * self.nbytes
        subs = [f"s{i} integer GENERATED ALWAYS AS ({_substring_sql(i, self.nbytes)}) STORED"
                for i in range(self.substrings)]
        columns = ["id bigint PRIMARY KEY", "code bytea NOT NULL",
                   f"bits bit({width}) GENERATED ALWAYS AS (('x' || encode(code, 'hex'))::bit({width})) STORED",
                   *subs, *(f"{m} text" for m in METADATA)]
        indexes = [_sql("CREATE INDEX {i} ON {t} USING hash (code)", self.table, i=f"{self.table}_code")]
        indexes += [_sql(f"CREATE INDEX {{i}} ON {{t}} (s{i})", self.table, i=f"{self.table}_s{i}")
                    for i in range(self.substrings)]
        return _sql("CREATE TABLE {t} (" + ", ".join(columns) + ")", self.table), indexes

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> PostgresIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def drop(self) -> None:
        """Delete the table and its entry in the registry (one transaction)."""
        with self._conn.transaction():
            self._conn.execute(_sql("DROP TABLE IF EXISTS {t}", self.table))
            self._conn.execute(f"DELETE FROM {REGISTRY} WHERE name = %s", (self.table,))

    def __repr__(self) -> str:
        return f"PostgresIndex(bits={self.bits}, table={self.table!r}, dsn={_redacted(self.dsn)!r})"

    def __len__(self) -> int:
        return int(self._conn.execute(_sql("SELECT count(*) FROM {t}", self.table)).fetchone()[0])

    # -- writing -------------------------------------------------------------------------------

    def add(self, codes: Any, ids: Any = None, source: Mapping[str, Any] | None = None,
            metadata: Sequence[Mapping[str, Any]] | None = None) -> None:
        """Add codes with int64 ids (default: the next unused ones) and, for each, an optional dict of
        `label`, `file` and `text`; one transaction: all of them or none."""
        with self._conn.transaction():
            self._conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (self.table,))
            self._insert(codes, ids, source, metadata)

    def _insert(self, codes: Any, ids: Any, source: Mapping[str, Any] | None,
                metadata: Sequence[Mapping[str, Any]] | None) -> None:
        """The rows of `add`, inside the caller's transaction."""
        psycopg = _psycopg()
        packed = self._rows(codes, "codes", source)
        n = len(packed)
        about = _metadata(metadata, n)
        if ids is None:
            start = self._conn.execute(_sql("SELECT coalesce(max(id) + 1, 0) FROM {t}", self.table)).fetchone()[0]
            ids = np.arange(start, start + n, dtype=np.int64)
        ids = checked_ids(ids, n)
        if not n:
            return
        if len(np.unique(ids)) < n:
            raise CodeIndexError(f"the ids given repeat; ids are unique in a PostgreSQL index (table {self.table})")
        try:
            with self._conn.transaction():  # a savepoint: the error below leaves the outer transaction usable
                self._copy(ids, to_bytes(packed, self.bits), about)
        except psycopg.errors.UniqueViolation:
            raise CodeIndexError(f"an id given is already in the index (table {self.table}); ids are unique "
                                 "in a PostgreSQL index: remove_ids first to replace an item") from None

    def _copy(self, ids: np.ndarray, raw: np.ndarray, about: list[dict] | None) -> None:
        """COPY the rows in: codes alone as one binary buffer built by numpy, with metadata row by row."""
        with self._conn.cursor() as cur:
            if about is None:
                rows = np.empty(len(ids), self._copy_row())
                rows["fields"], rows["n1"], rows["id"], rows["n2"], rows["code"] = 2, 8, ids, self.nbytes, raw
                with cur.copy(_sql("COPY {t} (id, code) FROM STDIN WITH (FORMAT binary)", self.table)) as cp:
                    cp.write(b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0))
                    step = 1 << 16
                    for a in range(0, len(rows), step):  # bounded pieces: the buffer is not copied whole again
                        cp.write(rows[a:a + step].tobytes())
                    cp.write(struct.pack(">h", -1))
                return
            cols = ", ".join(("id", "code", *METADATA))
            with cur.copy(_sql(f"COPY {{t}} ({cols}) FROM STDIN", self.table)) as cp:
                for i, code, m in zip(ids.tolist(), raw, about):
                    cp.write_row((i, code.tobytes(), *(m.get(k) for k in METADATA)))

    def _copy_row(self) -> np.dtype:
        """One (id, code) row of PostgreSQL's binary COPY: field count, then each field's length and bytes."""
        return np.dtype([("fields", ">i2"), ("n1", ">i4"), ("id", ">i8"), ("n2", ">i4"), ("code", "u1", (self.nbytes,))])

    def remove_ids(self, ids: Any) -> int:
        """Delete the items with these ids (one transaction); returns how many there were."""
        a = checked_ids(ids, None)
        with self._conn.transaction():
            self._conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (self.table,))
            cur = self._conn.execute(_sql("DELETE FROM {t} WHERE id = ANY(%s)", self.table), (a.tolist(),))
            return int(cur.rowcount)

    # -- reading -------------------------------------------------------------------------------

    def codes_and_ids(self) -> tuple[np.ndarray, np.ndarray]:
        """All codes (n, words) and ids (n,), ordered by id: one binary COPY, parsed by numpy."""
        with self._conn.cursor() as cur:
            with cur.copy(_sql("COPY (SELECT id, code FROM {t} ORDER BY id) TO STDOUT WITH (FORMAT binary)",
                               self.table)) as cp:
                chunks = [bytes(c) for c in cp]
        body = b"".join(chunks)[19:-2]  # the header (11 + 4 + 4 bytes) and the trailer (-1)
        rows = np.frombuffer(body, self._copy_row())
        return from_bytes(rows["code"], self.bits), rows["id"].astype(np.int64)

    def metadata(self, ids: Any) -> list[dict[str, Any]]:
        """What was stored beside each id (missing ones: {}), in the order given."""
        a = checked_ids(ids, None)
        rows = self._conn.execute(_sql(f"SELECT id, {', '.join(METADATA)} FROM {{t}} WHERE id = ANY(%s)",
                                       self.table), (a.tolist(),)).fetchall()
        found = {r[0]: {k: v for k, v in zip(METADATA, r[1:]) if v is not None} for r in rows}
        return [found.get(int(i), {}) for i in a.tolist()]

    def stats(self) -> dict[str, Any]:
        """Items, distinct codes, bucket sizes (items per distinct code), bytes of the table and its indexes."""
        sizes = np.array([r[0] for r in self._conn.execute(
            _sql("SELECT count(*) FROM {t} GROUP BY code", self.table)).fetchall()], np.int64)
        disk = self._conn.execute("SELECT pg_total_relation_size(%s)", (self.table,)).fetchone()[0]
        return {
            "items": int(sizes.sum()), "bits": self.bits, "backend": "postgresql", "table": self.table,
            **bucket_stats(sizes), "substrings": self.substrings, "bytes_on_disk": int(disk),
        }

    # -- searching -----------------------------------------------------------------------------

    def range_search(self, queries: Any, radius: int, method: str = "auto",
                     source: Mapping[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every item at distance < radius of each query, as `Index.range_search`: (lims, D, I)."""
        self._check_method(method)
        radius = self._check_radius(radius)
        q = self._rows(queries, "queries", source)
        way = self._way(method, radius - 1, self._estimated_rows() if method == "auto" else 0) \
            if radius > 0 and len(q) else "scan"  # the same for every query: chosen once
        hits = []
        for row in q:
            self.last_plan = []
            hits.append(self._within(row, radius - 1, way) if radius > 0 else ([], []))
        lims = np.zeros(len(q) + 1, np.int64)
        lims[1:] = np.cumsum([len(i) for i, _ in hits])
        ids = np.array([x for i, _ in hits for x in i], np.int64)
        dist = np.array([x for _, d in hits for x in d], np.int32)
        return lims, dist, ids

    def search(self, queries: Any, k: int, method: str = "auto",
               source: Mapping[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest items of each query, as `Index.search`: (D, I), rows by (distance, id), missing
        neighbours as id -1 with distance 2**31 - 1."""
        self._check_method(method)
        k = self._check_k(k)
        q = self._rows(queries, "queries", source)
        D = np.full((len(q), k), FILLER, np.int32)
        I = np.full((len(q), k), -1, np.int64)
        if not k or not len(q):
            return D, I
        n = self._estimated_rows()
        scan = method == "scan" or (method == "auto" and (n <= k or self._growing_work(k, n) > self._ways(0, n)["scan"]))
        expected = self._expected_radius(k, n)  # these two hold for every query: worked out once
        for row, code in enumerate(q):
            self.last_plan = []
            ids, dist = self._scan_nearest(code, k) if scan else self._nearest(code, k, method, n, expected)
            D[row, : len(ids)], I[row, : len(ids)] = dist, ids
        return D, I

    def _nearest(self, code: np.ndarray, k: int, method: str, n: int, expected: int) -> tuple[list[int], list[int]]:
        """A growing way's steps until k items lie within the step's radius: radius 0, 1, 2, ... for "hash";
        for "multi-index" the top of each band of m radii that probe the same substring values (m - 1,
        2m - 1, ...). "auto" picks each step's way by `_ways`, and the scan's ORDER BY ... LIMIT k instead when
        the steps up to the radius expected to hold k items (`_expected_radius`) cost more than a scan, or
        when a step past it would bring their work past a scan's (`search` decides the first)."""
        r, spent = -1, 0.0
        while r < self.bits:
            work = self._ways(r + 1, n)
            way = self._way(method, r + 1, n, work)
            if way == "scan" or (method == "auto" and r + 1 > expected and spent + work[way] > work["scan"]):
                return self._scan_nearest(code, k)
            spent += work[way]
            r = self._step_end(way, r)
            ids, dist = self._within(code, r, way, limit=k)
            if len(ids) >= k:
                return ids, dist
        return ids, dist

    def _step_end(self, way: str, r: int) -> int:
        """The radius of a growing way's next step after r: r + 1 ("hash"), or the top of the next band of m radii
        that probe the same substring values ("multi-index")."""
        m = self.substrings
        return min(((r + 1) // m + 1) * m - 1, self.bits) if way == "multi-index" else r + 1

    def _growing_work(self, k: int, n: int) -> float:
        """The work of "auto"'s growing steps up to the radius expected to hold k items."""
        r, spent, expected = -1, 0.0, self._expected_radius(k, n)
        while r < expected:
            work = self._ways(r + 1, n)
            way = min(work, key=work.__getitem__)
            if way == "scan":
                return float("inf")
            spent, r = spent + work[way], self._step_end(way, r)
        return spent

    def _scan_nearest(self, code: np.ndarray, k: int) -> tuple[list[int], list[int]]:
        self.last_plan.append(f"scan, nearest {k}")
        rows = self._conn.execute(_sql(f"SELECT id, {_DISTANCE} AS d FROM {{t}} ORDER BY d, id LIMIT %(k)s",
                                       self.table), {"q": self._bit_string(code), "k": k}).fetchall()
        return [r[0] for r in rows], [r[1] for r in rows]

    def _within(self, code: np.ndarray, r: int, way: str, limit: int | None = None) -> tuple[list[int], list[int]]:
        """(ids, distances) of the items within r bits of one code (packed words), by (distance, id)."""
        self.last_plan.append(f"{way}, within {r} bits")
        args: dict[str, Any] = {"q": self._bit_string(code), "r": r}
        if way == "scan":
            where = "true"
        elif way == "hash":
            masks = np.concatenate([flip_masks(self.bits, c) for c in range(min(r, self.bits) + 1)])
            args["codes"] = [bytes(b) for b in to_bytes(code[None, :] ^ masks, self.bits)]
            where = "code = ANY(%(codes)s::bytea[])"
        else:
            t = r // self.substrings
            parts = []
            for i in range(self.substrings):
                width = _substring_width(i, self.nbytes)
                key = int(extract(code[None, :], SUBSTRING_BITS * i, width)[0])
                masks = np.concatenate([flip_masks(width, c)[:, 0] for c in range(min(t, width) + 1)])
                args[f"s{i}"] = (U64(key) ^ masks).astype(np.int64).tolist()
                parts.append(f"s{i} = ANY(%(s{i})s::integer[])")
            where = " OR ".join(parts)
        limit_sql = " LIMIT %(limit)s" if limit is not None else ""
        if limit is not None:
            args["limit"] = limit
        rows = self._conn.execute(_sql(f"SELECT id, d FROM (SELECT id, {_DISTANCE} AS d FROM {{t}} WHERE {where}) h "
                                       f"WHERE d <= %(r)s ORDER BY d, id{limit_sql}", self.table), args).fetchall()
        return [x[0] for x in rows], [x[1] for x in rows]

    def _estimated_rows(self) -> int:
        """The planner's count of the table's rows (kept by ANALYZE and autovacuum), read at most once a second:
        what the choice of a way needs, without counting the rows on every query (results never depend on it)."""
        now = time.monotonic()
        if now - self._estimate[0] > 1.0:
            rows = self._conn.execute("SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)",
                                      (self.table,)).fetchone()
            self._estimate = (now, len(self) if rows is None or rows[0] < 0 else int(rows[0]))
        return self._estimate[1]

    def _ways(self, r: int, n: int) -> dict[str, float]:
        """The work of each way to find the items within r bits of a query among n, in rows of a scan, the codes
        taken as spread evenly; a way whose probe list would pass MAX_PROBES is left out."""
        work = {"scan": SCAN_FIXED + n}
        full = ball_volume(self.bits, r)
        if full <= MAX_PROBES:
            work["hash"] = FIXED + PROBE_HASH * full + CANDIDATE * n * min(full / (1 << self.bits), 1.0)
        t = r // self.substrings
        widths = [_substring_width(i, self.nbytes) for i in range(self.substrings)]
        probes = sum(ball_volume(w, t) for w in widths)
        if probes <= MAX_PROBES:
            candidates = n * min(sum(ball_volume(w, t) / (1 << w) for w in widths), 1.0)
            work["multi-index"] = FIXED + PROBE_BTREE * probes + (CANDIDATE * candidates if candidates <= LOSSY
                                                                   else DENSE * n)
        return work

    def _expected_radius(self, k: int, n: int) -> int:
        """The radius holding k of n codes spread evenly (real codes cluster: their k nearest lie closer)."""
        r, volume, space = 0, 1, 1 << self.bits
        while r < self.bits and n * volume < k * space:
            r += 1
            volume += math.comb(self.bits, r)
        return r

    def _way(self, method: str, r: int, n: int, work: dict[str, float] | None = None) -> str:
        """The way `method` names, or "auto"'s cheapest; a forced way past MAX_PROBES refused in one line."""
        work = self._ways(r, n) if work is None else work
        if method == "auto":
            return min(work, key=work.__getitem__)
        if method not in work:
            raise CodeIndexError(f"method {method!r} would probe more than {MAX_PROBES:,} values for radius {r + 1} "
                                 f"on {self.bits}-bit codes; use method='scan' or 'auto'")
        return method

    def _bit_string(self, code: np.ndarray) -> str:
        """A packed code as the `bits` column holds it: its bytes' bits, the highest of byte 0 first."""
        return "".join(f"{b:08b}" for b in to_bytes(code[None, :], self.bits)[0].tolist())


_DISTANCE = "bit_count(bits # %(q)s::bit varying)"


def _substring_width(i: int, nbytes: int) -> int:
    return min(SUBSTRING_BITS, 8 * nbytes - SUBSTRING_BITS * i)


def _substring_sql(i: int, nbytes: int) -> str:
    """Substring i from the code's bytes 2i (low) and 2i + 1 (high): bits 16i..16i + 15 in `bits.py`'s order."""
    low = f"get_byte(code, {2 * i})"
    return low if 2 * i + 1 >= nbytes else f"({low} | (get_byte(code, {2 * i + 1}) << 8))"


def _sql(text: str, table: str, **names: str) -> Any:
    """SQL text with {t} (and any other {name}) filled by quoted identifiers."""
    from psycopg import sql

    return sql.SQL(text).format(t=sql.Identifier(table), **{k: sql.Identifier(v) for k, v in names.items()})


def _claim(conn: Any, table: str, overwrite: bool, drop: bool = True) -> None:
    """Inside a transaction: make sure `table` may be created (the registry made if missing), dropping the aelab
    index there when overwrite (and drop) is set; a one-line error otherwise."""
    conn.execute(f"CREATE TABLE IF NOT EXISTS {REGISTRY} (name text PRIMARY KEY, bits integer NOT NULL, "
                 "substrings integer NOT NULL, source jsonb, created timestamptz NOT NULL DEFAULT now())")
    exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()[0]
    known = conn.execute(f"SELECT 1 FROM {REGISTRY} WHERE name = %s", (table,)).fetchone()
    if exists and not known:
        raise CodeIndexError(f"table {table} exists and is not an aelab index; choose another table")
    if (exists or known) and not overwrite:
        raise CodeIndexError(f"table {table} already holds an index; pass overwrite=True (--overwrite) to replace it")
    if (exists or known) and drop:
        conn.execute(_sql("DROP TABLE IF EXISTS {t}", table))
        conn.execute(f"DELETE FROM {REGISTRY} WHERE name = %s", (table,))


def _metadata(metadata: Sequence[Mapping[str, Any]] | None, n: int) -> list[dict[str, Any]] | None:
    if metadata is None:
        return None
    if isinstance(metadata, (str, bytes, Mapping)) or not isinstance(metadata, Sequence) or len(metadata) != n:
        raise CodeIndexError(f"metadata is a list of {n} dicts, one per code")
    out = []
    for m in metadata:
        if not isinstance(m, Mapping) or set(m) - set(METADATA):
            raise CodeIndexError(f"each item's metadata is a dict of {', '.join(METADATA)}; got {m!r}")
        out.append({k: None if v is None else str(v) for k, v in m.items()})
    return out


class LocalServer:
    """A PostgreSQL server of its own in `folder`, for tests, benchmarks and trying the backend: `pgserver`'s
    bundled binaries when installed, else the system's `initdb` and `pg_ctl`. `dsn` connects; `stop()` ends it.

    A server already running in `folder` is joined, not started again. With pgserver it stops when this
    Python process ends, unless keep=True (then `LocalServer(folder).stop()` stops it later)."""

    def __init__(self, folder: str | Path, keep: bool = False) -> None:
        self.folder = Path(folder).expanduser().resolve()
        self.keep = keep
        self._server: Any = None
        self.dsn = self._pgserver() or self._system()

    def _pgserver(self) -> str | None:
        import warnings

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # platformdirs' note that XDG_RUNTIME_DIR is unset
                import pgserver
        except ImportError:
            return None
        self._server = pgserver.get_server(self.folder, cleanup_mode=None if self.keep else "stop")
        return self._server.get_uri()

    def _system(self) -> str:
        found = [shutil.which("pg_ctl")] + sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), reverse=True)
        pg_ctl = next((Path(p) for p in found if p), None)
        if pg_ctl is None:
            raise CodeIndexError("no PostgreSQL to start: pip install pgserver (it bundles the server), or install "
                                 "PostgreSQL 14 or later")
        data = self.folder / "data"
        if not (data / "PG_VERSION").exists():
            done = subprocess.run([str(pg_ctl.with_name("initdb")), "-D", str(data), "-U", "postgres",
                                   "--auth=trust"], capture_output=True, text=True)
            if done.returncode:
                raise CodeIndexError(f"initdb failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
        done = subprocess.run([str(pg_ctl), "-D", str(data), "-l", str(self.folder / "server.log"), "-w", "-o",
                               f"-k {self.folder} -c listen_addresses=''", "start"], capture_output=True, text=True)
        if done.returncode:
            raise CodeIndexError(f"pg_ctl start failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
        self._pg_ctl = pg_ctl
        return f"postgresql://postgres@/postgres?host={self.folder}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup_mode = "stop"  # also when it was started to be kept
            self._server.cleanup()
        elif getattr(self, "_pg_ctl", None):
            subprocess.run([str(self._pg_ctl), "-D", str(self.folder / "data"), "-m", "fast", "stop"],
                           capture_output=True)
