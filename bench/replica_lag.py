"""How stale a streaming replica's reads are: the time from a commit on the primary to the row being
visible on a hot standby (scripts/pg-standby.sh), idle and while the primary takes a bulk load.

Runs against the project-local cluster (scripts/pg.sh start): creates the database
gridops_replica_bench (dropped first), copies the cluster into a temporary standby, measures, stops the
standby and drops the database. Probes commit with synchronous_commit=on (as production does; the
local cluster's default is off, which adds up to wal_writer_delay).

    .venv/bin/python bench/replica_lag.py [--probes 200] [--load-rows 2000000]
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import psycopg2

ROOT = Path(__file__).resolve().parent.parent
PRIMARY = str(ROOT / "var" / "pg" / "run")
DB = "gridops_replica_bench"


def connect(host: str, dbname: str = DB):
    conn = psycopg2.connect(host=host, dbname=dbname, user="postgres")
    conn.autocommit = True
    return conn


def probe(primary, standby, n: int) -> list[float]:
    """Commit ``n`` single rows one after the other; return each one's commit-to-visible time in ms."""
    lags = []
    with primary.cursor() as w, standby.cursor() as r:
        w.execute("SET synchronous_commit = on")
        for _ in range(n):
            w.execute("INSERT INTO probe DEFAULT VALUES RETURNING id")
            (pk,) = w.fetchone()
            committed = time.perf_counter()  # autocommit: the INSERT's answer is its commit
            while True:
                r.execute("SELECT 1 FROM probe WHERE id = %s", [pk])
                if r.fetchone():
                    break
            lags.append((time.perf_counter() - committed) * 1000)
            time.sleep(0.01)
    return lags


def load(rows: int, chunk: int, done: threading.Event, wal: list[int]) -> None:
    """Bulk-load ``rows`` rows of about 300 bytes in committed chunks (a batch intake's size of writes)."""
    conn = connect(PRIMARY)
    with conn.cursor() as c:
        c.execute("SELECT pg_current_wal_lsn()")
        start = c.fetchone()[0]
        for first in range(0, rows, chunk):
            c.execute("INSERT INTO bulk (n, body) SELECT g, repeat(md5(g::text), 9) "
                      "FROM generate_series(%s, %s) g", [first, min(first + chunk, rows) - 1])
        c.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)", [start])
        wal.append(int(c.fetchone()[0]))
    conn.close()
    done.set()


def summary(lags: list[float]) -> str:
    ordered = sorted(lags)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return f"p50 {statistics.median(ordered):.1f} ms, p95 {p95:.1f} ms, max {ordered[-1]:.1f} ms ({len(lags)} probes)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--load-rows", type=int, default=2_000_000)
    args = parser.parse_args()
    admin = connect(PRIMARY, "postgres")
    with admin.cursor() as c:
        c.execute(f"DROP DATABASE IF EXISTS {DB}")
        c.execute(f"CREATE DATABASE {DB}")
    setup = connect(PRIMARY)
    with setup.cursor() as c:
        c.execute("CREATE TABLE probe (id bigserial PRIMARY KEY, at timestamptz DEFAULT now())")
        c.execute("CREATE TABLE bulk (id bigserial PRIMARY KEY, n bigint, body text)")
    tmp = tempfile.mkdtemp(prefix="gridops-standby-bench-")
    try:
        started = time.perf_counter()
        sock = subprocess.run([str(ROOT / "scripts" / "pg-standby.sh"), "start", tmp], check=True,
                              capture_output=True, text=True).stdout.strip().splitlines()[-1]
        print(f"standby copied and started in {time.perf_counter() - started:.1f} s")
        primary, standby = connect(PRIMARY), connect(sock)
        probe(primary, standby, 20)  # warm up
        idle = probe(primary, standby, args.probes)
        done, wal = threading.Event(), []
        loader = threading.Thread(target=load, args=(args.load_rows, 50_000, done, wal))
        loaded_from = time.perf_counter()
        loader.start()
        busy = []
        while not done.is_set():
            busy += probe(primary, standby, 10)
        loader.join()
        seconds = time.perf_counter() - loaded_from
        print(f"Run {time.strftime('%Y-%m-%d %H:%M %Z')}, {platform.processor() or platform.machine()}, "
              f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end")
        print(f"| idle primary | {summary(idle)} |")
        print(f"| primary loading {args.load_rows:,} rows ({wal[0] / 1e6:.0f} MB of WAL in {seconds:.1f} s, "
              f"{wal[0] / 1e6 / seconds:.0f} MB/s) | {summary(busy)} |")
        primary.close()
        standby.close()
    finally:
        subprocess.run([str(ROOT / "scripts" / "pg-standby.sh"), "stop", tmp], check=False)
        shutil.rmtree(tmp, ignore_errors=True)
        setup.close()
        with admin.cursor() as c:
            c.execute(f"DROP DATABASE IF EXISTS {DB}")
        admin.close()


if __name__ == "__main__":
    main()
