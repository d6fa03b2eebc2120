"""Benchmark: every analytical read - heatmap at each cell size, hotspots, trend, stats, assessment per
grid / village / person, open counts - by the direct aggregation on the incidents and from the rollups
(incidents.rollups), on a database of many incidents; with the COPY load through the triggers and a
full rebuild. Figures go to the end of bench/README.md.

  .venv/bin/python bench/rollup_bench.py [--incidents 1000000] [--repeat 12] [--reuse-db] [--no-readme]

Unless --reuse-db, it first rebuilds its own database (gridops_rollup_bench in the project-local
cluster: migrations and the Gongdao data set), then COPYs --incidents incidents straight into the
table (three years, a third of them at 150 recurring hotspots, a daily rhythm, most closed, some
cancelled, open and overdue; a rework event for one in 30), in chunks of 100,000, so the rollup
triggers run as they do for a batch intake or a history import. Each read is timed --repeat times
per path after one first call ("first": caches as the previous read left them; the database is not
restarted, so it is not a cold-cache figure).
"""
from __future__ import annotations

import argparse
import io
import os
import platform
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH_DB = "gridops_rollup_bench"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridops.settings.dev")
os.environ.setdefault("DJANGO_DEBUG", "0")

import django  # noqa: E402

django.setup()

import shapely  # noqa: E402
from django.contrib.auth.models import Group, User  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from core.actors import Actor  # noqa: E402
from grids.models import Grid, GridTeam, TeamMembership  # noqa: E402
from incidents import rollups  # noqa: E402
from incidents.analytics import assessment, assessment_direct  # noqa: E402
from incidents.hotspots import heat_cells, heat_cells_direct, trend, trend_direct  # noqa: E402
from incidents.models import Category  # noqa: E402
from incidents.selectors import incident_stats, incident_stats_direct, open_counts, open_counts_direct  # noqa: E402

README = ROOT / "bench" / "README.md"
MARK_START, MARK_END = "<!-- rollup-bench:start -->", "<!-- rollup-bench:end -->"
COLUMNS = ["id", "source", "external_id", "severity", "title", "description", "address", "reporter_name",
           "reporter_phone", "reporter_email", "media_url", "location", "original_crs", "location_source",
           "location_note", "near_edge", "triage", "state", "level", "created_at", "registered_at",
           "dispatched_at", "accepted_at", "handled_at", "closed_at", "accept_due_at", "handle_due_at",
           "escalations", "reworks", "updated_at", "assignee_id", "category_id", "generation_id", "grid_id",
           "handling_grid_id", "town_id", "village_id"]
SOURCES = (["hotline_12345", "patrol", "camera", "citizen", "mayor_mailbox", "higher_level"],
           [0.45, 0.25, 0.12, 0.1, 0.05, 0.03])
OPEN_STATES = ["registered", "dispatched", "in_progress", "handled", "verified"]


def fresh_database() -> None:
    env = dict(os.environ, GRIDOPS_DB_NAME=BENCH_DB, DJANGO_SETTINGS_MODULE="gridops.settings.dev")
    socket_dir = os.environ.get("GRIDOPS_PGHOST", str(ROOT / "var" / "pg" / "run"))
    subprocess.run(["psql", "-h", socket_dir, "-U", "postgres", "-d", "postgres", "-qc",
                    f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)"], check=True)
    subprocess.run([str(ROOT / "scripts" / "pg.sh"), "start"], env=env, check=True)
    for command in (["migrate", "--noinput", "-v", "0"], ["load_demo_data"]):
        subprocess.run([sys.executable, str(ROOT / "manage.py"), *command], env=env, check=True,
                       stdout=subprocess.DEVNULL)


def _points_in(grid: Grid, rng, n: int) -> np.ndarray:
    poly = shapely.from_wkb(bytes(grid.boundary.wkb))
    x0, y0, x1, y1 = poly.bounds
    out = np.empty((0, 2))
    while len(out) < n:
        x, y = rng.uniform(x0, x1, 4 * n), rng.uniform(y0, y1, 4 * n)
        inside = shapely.contains_xy(poly, x, y)
        out = np.vstack([out, np.column_stack([x[inside], y[inside]])])
    return out[:n]


def generate(n: int, seed: int, chunk: int = 100_000) -> dict:
    """COPY ``n`` incidents (and their rework events) in chunks; return the load's timings."""
    rng = np.random.default_rng(seed)
    grids = list(Grid.objects.active().filter(kind="comprehensive").select_related("village", "generation"))
    members = {}
    for m in TeamMembership.objects.select_related("team"):
        members.setdefault(m.team.grid_id, []).append(m.person_id)
    pool = {g.pk: _points_in(g, rng, 400) for g in grids}
    hotspots = [(g, pool[g.pk][i]) for g in grids for i in range(3)][:150]
    cats = list(Category.objects.filter(active=True))
    cat_weights = np.linspace(3, 1, len(cats)) / np.linspace(3, 1, len(cats)).sum()
    now = np.datetime64(timezone.now().replace(tzinfo=None), "s")
    span = 3 * 365 * 86400
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM incidents_incident")
        first_id = cursor.fetchone()[0] + 1
    timings, loaded = [], 0
    while loaded < n:
        size = min(chunk, n - loaded)
        started = time.perf_counter()
        buf, events = io.StringIO(), io.StringIO()
        ids = np.arange(first_id + loaded, first_id + loaded + size)
        age = (rng.random(size) ** 0.8) * span  # more recent than old: the city grows
        created = now - age.astype("timedelta64[s]")
        hour_shift = (rng.normal(0, 3, size) * 3600).astype("timedelta64[s]")
        created = np.minimum(created + hour_shift, now - np.timedelta64(60, "s"))
        hot = rng.random(size) < 0.35
        gi = rng.integers(len(grids), size=size)
        hi = rng.integers(len(hotspots), size=size)
        ci = rng.choice(len(cats), size=size, p=cat_weights)
        si = rng.choice(len(SOURCES[0]), size=size, p=SOURCES[1])
        roll = rng.random(size)
        recent = age < 7 * 86400
        state = np.where(roll < 0.03, "cancelled", np.where(roll < 0.04, "duplicate", "closed")).astype(object)
        opened = (recent | (roll > 0.97)) & (roll >= 0.04)
        state[opened] = np.array(OPEN_STATES, dtype=object)[(roll[opened] * 1000).astype(int) % 5]
        sla_accept = np.array([c.sla_accept_min for c in cats])[ci] * 60
        sla_handle = np.array([c.sla_handle_min for c in cats])[ci] * 60
        reg = created + np.timedelta64(60, "s")
        disp = reg + np.timedelta64(60, "s")
        accept_due = disp + sla_accept.astype("timedelta64[s]")
        handle_due = reg + sla_handle.astype("timedelta64[s]")
        handling = rng.lognormal(np.log(sla_handle * 0.7), 0.6).astype("timedelta64[s]")
        is_closed = state == "closed"
        closed = np.where(is_closed, np.minimum(reg + handling, now - np.timedelta64(30, "s")),
                          np.datetime64("NaT"))
        accepted = np.where(np.isin(state, ["registered", "dispatched"]), np.datetime64("NaT"),
                            disp + np.timedelta64(600, "s"))
        rework = (roll < 0.033) & is_closed
        strings = {name: [r"\N" if v.startswith("NaT") else v + "+00" for v in np.datetime_as_string(a, unit="s")]
                   for name, a in [("c", created), ("reg", reg), ("disp", disp), ("adue", accept_due),
                                   ("hdue", handle_due), ("closed", closed), ("acc", accepted),
                                   ("mid", reg + (np.where(is_closed, closed, reg) - reg) // 2)]}
        for k in range(size):
            if hot[k]:
                grid, (lon, lat) = hotspots[hi[k]]
                lon, lat = lon + rng.normal(0, 0.0003), lat + rng.normal(0, 0.0003)
            else:
                grid = grids[gi[k]]
                lon, lat = pool[grid.pk][rng.integers(400)]
            team = members.get(grid.pk) or [None]
            assignee = team[int(roll[k] * 1e6) % len(team)]
            fields = [ids[k], SOURCES[0][si[k]], f"b{ids[k]}", 2, "压测 bench", "", "", "", "", "", "",
                      f"SRID=4326;POINT({lon:.7f} {lat:.7f})", "", "coordinates", "", "f", "", state[k], 1,
                      strings["c"][k], strings["reg"][k], strings["disp"][k], strings["acc"][k],
                      strings["closed"][k], strings["closed"][k], strings["adue"][k], strings["hdue"][k], 0,
                      int(rework[k]), strings["c"][k], assignee if assignee is not None else r"\N",
                      cats[ci[k]].pk, grid.generation_id, grid.pk, grid.pk, grid.village.town_id, grid.village_id]
            buf.write("\t".join(str(v) for v in fields) + "\n")
            if rework[k]:
                events.write(f"{ids[k]}\trework\thandled\tin_progress\t1\tbench\t\t{{}}\t{strings['mid'][k]}\n")
        buf.seek(0)
        events.seek(0)
        made = time.perf_counter() - started
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.copy_expert(f"COPY incidents_incident ({', '.join(COLUMNS)}) FROM STDIN", buf)
            cursor.copy_expert("COPY incidents_incidentevent (incident_id, action, from_state, to_state, level, "
                               "actor_label, note, data, created_at) FROM STDIN", events)
        timings.append(time.perf_counter() - started)
        loaded += size
        print(f"  {loaded:,} incidents: made in {made:.1f} s, COPY with triggers {timings[-1]:.1f} s", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT setval('incidents_incident_id_seq', (SELECT max(id) FROM incidents_incident))")
        cursor.execute("ANALYZE incidents_incident; ANALYZE incidents_incidentevent; ANALYZE incidents_rollup")
    return {"copy_s": sum(timings), "chunks": len(timings)}


TRIGGERS = [("incidents_incident", "incidents_incident_rollup_insert"),
            ("incidents_incident", "incidents_incident_rollup_update"),
            ("incidents_incidentevent", "incidents_incidentevent_rollup_insert")]


def _triggers(on: bool) -> None:
    with connection.cursor() as cursor:
        for table, name in TRIGGERS:
            cursor.execute(f"ALTER TABLE {table} {'ENABLE' if on else 'DISABLE'} TRIGGER {name}")


def intake_ab(rounds: int, batch: int, seed: int) -> list[str]:
    """Time intake in process (no HTTP) with the rollup triggers off and on, alternating, so that the
    machine's load weighs on both alike: single reports (one incident a call) and a COPY batch."""
    from incidents.intake import IntakeItem, intake

    rng = np.random.default_rng(seed)
    grids = list(Grid.objects.active().filter(kind="comprehensive"))
    points = [tuple(p) for g in grids[:10] for p in _points_in(g, rng, 50)]
    cats = list(Category.objects.filter(active=True))
    system = Actor.system("bench")

    def items(n: int) -> list:
        chosen = [tuple(map(float, points[int(i)])) for i in rng.integers(len(points), size=n)]
        return [IntakeItem(category=cats[int(rng.integers(len(cats)))], source="patrol", title="压测 bench",
                           x=x, y=y) for x, y in chosen]

    single = {False: [], True: []}
    batches = {False: [], True: []}
    try:
        for r in range(rounds):
            for on in (r % 2 == 0, r % 2 == 1):
                _triggers(on)
                for item in items(40):
                    started = time.perf_counter()
                    intake([item], actor=system)
                    single[on].append((time.perf_counter() - started) * 1000)
                if batch:
                    many = items(batch)
                    started = time.perf_counter()
                    intake(many, actor=system)
                    batches[on].append(time.perf_counter() - started)
    finally:
        _triggers(True)
    lines = ["| intake in process | triggers off | triggers on |", "|---|---|---|"]
    for q in (50, 95):
        lines.append(f"| single report p{q} | {np.percentile(single[False], q):.1f} ms | "
                     f"{np.percentile(single[True], q):.1f} ms |")
    if batch:
        lines.append(f"| batch of {batch:,} (median of {len(batches[True])}) | {np.median(batches[False]):.1f} s | "
                     f"{np.median(batches[True]):.1f} s |")
    return lines


def leader_actor() -> Actor:
    team = GridTeam.objects.select_related("leader").order_by("grid__code").first()
    user, _ = User.objects.get_or_create(username="bench-leader")
    user.groups.add(Group.objects.get_or_create(name="grid_leader")[0])
    if team.leader.user_id != user.pk:
        team.leader.user = user
        team.leader.save(update_fields=["user"])
    return Actor.of(User.objects.get(pk=user.pk))


def reads(op: Actor, leader: Actor) -> list[tuple[str, object, object]]:
    now = timezone.now()
    month = rollups.local_midnight(now).replace(day=1)
    last30 = {"start": now - timedelta(days=30), "end": now}
    year = {"start": now - timedelta(days=365), "end": now}
    out = []
    for cell in (50, 250, 1000, 5000):
        out.append((f"heatmap 30 days, {cell} m", lambda c=cell: heat_cells(op, cell_m=c, **last30),
                    lambda c=cell: heat_cells_direct(op, cell_m=c, **last30)))
    out += [
        ("heatmap 365 days, 250 m", lambda: heat_cells(op, cell_m=250, **year),
         lambda: heat_cells_direct(op, cell_m=250, **year)),
        ("grid leader's heatmap 30 days, 250 m", lambda: heat_cells(leader, cell_m=250, **last30),
         lambda: heat_cells_direct(leader, cell_m=250, **last30)),
        ("trend 30 days by day", lambda: trend(op, bucket="day", **last30),
         lambda: trend_direct(op, bucket="day", **last30)),
        ("trend 365 days by week", lambda: trend(op, bucket="week", **year),
         lambda: trend_direct(op, bucket="week", **year)),
        # at one ``now``: clocks run out between the two paths' calls otherwise
        ("stats (command centre)", lambda: incident_stats(actor=op, now=now),
         lambda: incident_stats_direct(actor=op, now=now)),
        ("grid leader's stats", lambda: incident_stats(actor=leader, now=now),
         lambda: incident_stats_direct(actor=leader, now=now)),
    ]
    for group in ("grid", "village", "person"):
        out.append((f"assessment this month by {group}",
                    lambda g=group: assessment(actor=op, group=g, start=month, end=now + timedelta(days=1)),
                    lambda g=group: assessment_direct(actor=op, group=g, start=month, end=now + timedelta(days=1))))
    out += [
        ("assessment 365 days by grid", lambda: assessment(actor=op, group="grid", **year),
         lambda: assessment_direct(actor=op, group="grid", **year)),
        ("open counts by grid", lambda: open_counts(op, "grid"), lambda: open_counts_direct(op, "grid")),
        ("open counts by town", lambda: open_counts(op, "town"), lambda: open_counts_direct(op, "town")),
    ]
    return out


def timed(fn, repeat: int) -> tuple[float, float, float, object]:
    started = time.perf_counter()
    result = fn()
    first = (time.perf_counter() - started) * 1000
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return first, float(np.percentile(times, 50)), float(np.percentile(times, 95)), result


def comparable(result):
    if hasattr(result, "rows"):
        return [r.as_dict() for r in result.rows]
    return result


def write_readme(section: str) -> None:
    text = README.read_text()
    block = f"{MARK_START}\n{section}\n{MARK_END}"
    if MARK_START in text:
        head, rest = text.split(MARK_START, 1)
        text = head + block + rest.split(MARK_END, 1)[1]
    else:
        text = text.rstrip() + "\n\n## Rollups: analytical reads, direct and from the rollups\n\n" + block + "\n"
    README.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=12)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--reuse-db", action="store_true", help=f"do not rebuild {BENCH_DB}; load nothing")
    parser.add_argument("--no-readme", action="store_true")
    parser.add_argument("--load", action="store_true", help=argparse.SUPPRESS)  # after a fresh build
    parser.add_argument("--intake-rounds", type=int, default=6,
                        help="rounds of intake timed with the triggers off and on (0: skip)")
    parser.add_argument("--intake-batch", type=int, default=20_000, help="incidents of the batch in each round")
    args = parser.parse_args()
    if not args.reuse_db:
        fresh_database()
        os.execve(sys.executable, [sys.executable, *sys.argv, "--reuse-db", "--load"],
                  dict(os.environ, GRIDOPS_DB_NAME=BENCH_DB))
    lines = []
    if args.load:
        print(f"loading {args.incidents:,} incidents with COPY")
        load = generate(args.incidents, args.seed)
        lines.append(f"Loaded {args.incidents:,} incidents by COPY in {load['chunks']} chunks: "
                     f"{load['copy_s']:.0f} s with the rollup triggers (the rows made in Python not counted).")
    started = time.perf_counter()
    rows = rollups.rebuild_rollups()
    rebuild_s = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE incidents_rollup")
        cursor.execute("SELECT count(*), pg_size_pretty(pg_total_relation_size('incidents_incident')), "
                       "pg_size_pretty(pg_total_relation_size('incidents_rollup')) FROM incidents_incident")
        count, size_incidents, size_rollup = cursor.fetchone()
    lines.append(f"{count:,} incidents ({size_incidents}); {rows:,} rollup rows ({size_rollup}); "
                 f"`rebuild_rollups` {rebuild_s:.1f} s.")
    op, leader = Actor.system("bench operator"), leader_actor()
    table = ["| read | direct p50 / p95 (first) | rollups p50 / p95 (first) | same answer |", "|---|---|---|---|"]
    for label, fast, slow in reads(op, leader):
        d = timed(slow, max(3, args.repeat // 3))
        r = timed(fast, args.repeat)
        same = comparable(d[3]) == comparable(r[3])
        table.append(f"| {label} | {d[1]:.0f} / {d[2]:.0f} ms ({d[0]:.0f}) | {r[1]:.1f} / {r[2]:.1f} ms ({r[0]:.0f}) "
                     f"| {'yes' if same else 'NO'} |")
        print(table[-1], flush=True)
    if args.intake_rounds:
        print("intake with the triggers off and on")
        table += ["", *intake_ab(args.intake_rounds, args.intake_batch, args.seed)]
        print("\n".join(table[-6:]), flush=True)
    where = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    section = "\n".join([f"Run {timezone.localtime():%Y-%m-%d %H:%M %Z} on {where}, load averages "
                         f"{'/'.join(f'{x:.1f}' for x in os.getloadavg())}.",
                         f"Command: `.venv/bin/python bench/rollup_bench.py --incidents {args.incidents}`.", "",
                         *lines, "", *table])
    print("\n" + section)
    if not args.no_readme:
        write_readme(section)


if __name__ == "__main__":
    main()
