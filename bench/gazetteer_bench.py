"""Benchmark: resolving a free-text address with the gazetteer (incidents.gazetteer): the indexed lookup
(the aliases under the text's character pairs) beside trying every alias in order (the reference path),
on the same texts, with the same answers.

  .venv/bin/python bench/gazetteer_bench.py [--db gridops_city_300000] [--texts 400]

The database: the dev one (Gongdao), or a simulated city (`manage.py build_city`), whose 100 towns give
the gazetteer tens of thousands of aliases. Texts: a random alias inside a sentence (three in four) and
addresses that name nothing.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--db", help="the database (default: the dev one)")
parser.add_argument("--texts", type=int, default=400)
args = parser.parse_args()
if args.db:
    os.environ["GRIDOPS_DB_NAME"] = args.db
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridops.settings.dev")
os.environ.setdefault("DJANGO_ENV", "development")

import django  # noqa: E402

django.setup()

from incidents.gazetteer import build_gazetteer  # noqa: E402

started = time.perf_counter()
gazetteer = build_gazetteer()
built = time.perf_counter() - started
rng = random.Random(3)
aliases = [e.alias for e in gazetteer.entries]
named = args.texts * 3 // 4
texts = [f"江苏省扬州市{rng.choice(aliases)}附近" for _ in range(named)]
texts += [f"无此地名路{i}号" for i in range(args.texts - named)]
timings = {}
for name, fn in (("every alias in order", gazetteer.resolve_scan), ("indexed", gazetteer.resolve)):
    started = time.perf_counter()
    answers = [fn(t) for t in texts]
    timings[name] = ((time.perf_counter() - started) / len(texts) * 1000, answers)
same = timings["indexed"][1] == timings["every alias in order"][1]
print(f"{len(gazetteer):,} aliases, built in {built:.1f} s; {len(texts)} texts; same answers: {same}")
for name, (ms, _) in timings.items():
    print(f"| {name} | {ms:.3f} ms per address |")
