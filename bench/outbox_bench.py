"""Benchmark: what telling costs (issue 13): the outbox and SMS triggers on intake, and the delivery rates.

  DJANGO_ENV=development .venv/bin/python bench/outbox_bench.py [--batch 2000] [--rounds 3] [--messages 2000]

On the dev database (`make run` once, or `manage.py load_demo_data`); keeps what it creates (external ids
prefixed with the run id, a webhook client of its own, deactivated at the end).

1. Intake of a batch (in process, ``incidents.intake.intake``, the 12345 client's batch path) in three
   setups, alternated round by round: both triggers disabled (the baseline: intake before this issue),
   the triggers on with no webhook (every deployment without one), and an active webhook for the client
   (two outbox rows per incident). The SMS trigger writes one text per assigned notification in the
   last two.
2. Delivery: the outbox rows of those batches POSTed to a local HTTP receiver (threaded, answers 200 at
   once): messages per second of ``dispatch.outbox.deliver_due`` in one process; and the SMS through
   the log backend (``dispatch.sms.send_due``, log silenced).
"""
from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridops.settings.dev")
import django  # noqa: E402

django.setup()
import shapely  # noqa: E402
from django.contrib.auth.models import Group, User  # noqa: E402
from django.db import connection  # noqa: E402

from core.actors import Actor  # noqa: E402
from dispatch import outbox, sms  # noqa: E402
from dispatch.models import OutboxMessage, SmsMessage, Webhook  # noqa: E402
from grids.models import Grid  # noqa: E402
from incidents.grants import grant_sources  # noqa: E402
from incidents.intake import IntakeItem, intake  # noqa: E402
from incidents.models import Category  # noqa: E402

TRIGGERS = [("incidents_incidentevent", "incidents_incidentevent_outbox"), ("dispatch_notification",
                                                                             "dispatch_notification_sms")]


def set_triggers(enabled: bool) -> None:
    with connection.cursor() as cursor:
        for table, trigger in TRIGGERS:
            cursor.execute(f"ALTER TABLE {table} {'ENABLE' if enabled else 'DISABLE'} TRIGGER {trigger}")


class Quiet(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    run = uuid.uuid4().hex[:8]
    client = User.objects.create_user(f"bench-outbox-{run}", password=uuid.uuid4().hex)
    client.groups.add(Group.objects.get_or_create(name="integration")[0])
    grant_sources(client, ["hotline_12345"])
    actor = Actor.of(client)
    grids = list(Grid.objects.active().filter(kind="comprehensive"))
    points = [shapely.point_on_surface(shapely.from_wkb(bytes(g.boundary.wkb))) for g in grids]
    category = Category.objects.get(code="other")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    webhook = Webhook.objects.create(client=client, url=f"http://127.0.0.1:{server.server_port}/hook", active=False)
    counter = iter(range(10**9))

    def batch() -> float:
        items = [IntakeItem(source="hotline_12345", category=category, title="bench",
                            external_id=f"ob-{run}-{next(counter)}", x=points[n % len(points)].x,
                            y=points[n % len(points)].y) for n in range(args.batch)]
        start = time.perf_counter()
        intake(items, actor=actor)
        return time.perf_counter() - start

    setups = {"triggers off (baseline)": (False, False), "triggers on, no webhook": (True, False),
              "active webhook": (True, True)}
    times: dict[str, list[float]] = {name: [] for name in setups}
    outbox_before = OutboxMessage.objects.count()
    try:
        batch()  # warm the locator and the gazetteer
        for _ in range(args.rounds):
            for name, (triggers, hooked) in setups.items():
                set_triggers(triggers)
                Webhook.objects.filter(pk=webhook.pk).update(active=hooked)
                times[name].append(batch())
    finally:
        set_triggers(True)
    written = OutboxMessage.objects.count() - outbox_before
    print(f"# outbox_bench {time.strftime('%Y-%m-%d %H:%M')} on {platform.node()}, {os.cpu_count()} cores; "
          f"batch {args.batch}, {args.rounds} rounds")
    print("| intake of a batch | median | per incident |\n|---|---|---|")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| {name} | {median * 1000:,.0f} ms | {median / args.batch * 1e6:,.0f} µs |")
    print(f"outbox rows written by the webhook rounds: {written:,} ({args.rounds} x {args.batch} incidents x 2)")

    Webhook.objects.filter(pk=webhook.pk).update(active=True)
    pending = OutboxMessage.objects.filter(webhook=webhook, state="pending").count()
    start = time.perf_counter()
    counts = outbox.deliver_due(budget_s=600)
    elapsed = time.perf_counter() - start
    print(f"outbox delivery to a local receiver: {counts['delivered']:,} of {pending:,} in {elapsed:.1f} s = "
          f"{counts['delivered'] / elapsed:,.0f} messages/s (one process, sequential POSTs)")
    Webhook.objects.filter(pk=webhook.pk).update(active=False)

    logging.getLogger("dispatch.sms").setLevel(logging.WARNING)
    queued = SmsMessage.objects.filter(state="pending").count()
    start = time.perf_counter()
    counts = sms.send_due(budget_s=600)
    elapsed = time.perf_counter() - start
    print(f"SMS through the log backend: {counts['sent']:,} of {queued:,} pending in {elapsed:.1f} s = "
          f"{counts['sent'] / max(elapsed, 1e-9):,.0f} messages/s (quiet hours apply)")
    server.shutdown()


if __name__ == "__main__":
    main()
