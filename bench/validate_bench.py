"""Benchmark: intake validation of 10,000 rows, the per-row IntakeSerializer against validate_intake.

  .venv/bin/python bench/validate_bench.py [--rows 10000] [--repeat 3]

Rows as bench/intake_bench.py makes them (the dev database's first town; a tenth in GCJ-02, one in 20 by
address). Prints ms per row and SQL statements for: one IntakeSerializer(data=row).is_valid() + to_item()
per row (the batch view before), validate_intake(rows) (a batch request now), and validate_intake([row])
per row (a single POST now), and the batch again with one row in ten invalid (their messages come from
IntakeSerializer). Best of --repeat runs. Nothing is written.
"""
from __future__ import annotations

import argparse
import os
import time

from django.db import connection  # noqa: E402
from intake_bench import rows  # sets up Django (dev settings)

from incidents.serializers import IntakeItem, IntakeSerializer, validate_intake  # noqa: E402


def per_row(data: list) -> int:
    valid = 0
    for row in data:
        serializer = IntakeSerializer(data=row)
        if serializer.is_valid():
            serializer.to_item()
            valid += 1
    return valid


def batch(data: list) -> int:
    return sum(type(item) is IntakeItem for item in validate_intake(data))


def single(data: list) -> int:
    return sum(type(validate_intake([row])[0]) is IntakeItem for row in data)


def measure(fn, data: list, repeat: int) -> tuple[float, int, int]:
    """Return (best ms per row, SQL statements per run, valid rows)."""
    statements, best = [0], float("inf")

    def count(execute, sql, params, many, context):
        statements[0] += 1
        return execute(sql, params, many, context)

    for _ in range(repeat):
        statements[0] = 0
        with connection.execute_wrapper(count):
            start = time.perf_counter()
            valid = fn(data)
            best = min(best, time.perf_counter() - start)
    return 1000 * best / len(data), statements[0], valid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    data = rows(args.rows, "validate-bench-", seed=2)
    validate_intake(data[:100])  # warm-up: imports, pyproj transformers
    old = measure(per_row, data, args.repeat)
    new = measure(batch, data, args.repeat)
    one = measure(single, data[:1000], args.repeat)
    bad = [{**row, "lat": 95.0, "lon": 119.3} if n % 10 == 0 else row for n, row in enumerate(data)]
    mixed = measure(batch, bad, args.repeat)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{args.rows:,} rows, best of {args.repeat}:")
    for label, (ms, sql, valid), n in [("per-row IntakeSerializer (before)", old, len(data)),
                                       ("validate_intake(rows)", new, len(data)),
                                       ("validate_intake([row]) per row (single POST)", one, 1000),
                                       ("validate_intake(rows), one row in 10 invalid", mixed, len(data))]:
        print(f"  {label:46} {ms:8.4f} ms per row  {sql:6,} SQL statements for {n:,} rows  {valid:,} valid")
    print(f"  speed-up of the batch path: {old[0] / new[0]:.0f}x")
    assert old[2] == new[2], "both paths must accept the same rows"


if __name__ == "__main__":
    main()
