"""Seed a few weeks of demo incidents through the real intake, lifecycle and SLA sweep (idempotent)."""
from django.core.management.base import BaseCommand, CommandError

from demo.incidents import seed_demo_incidents
from grids.models import Town


class Command(BaseCommand):
    help = "Create demo incidents demo-0001... with historical times; a second run creates nothing new."

    def add_arguments(self, parser):
        parser.add_argument("--weeks", type=int, default=4, help="how far back the history goes")
        parser.add_argument("--per-day", type=int, default=12, help="reports per day")
        parser.add_argument("--seed", type=int, default=7, help="random seed (the same seed, the same history)")
        parser.add_argument("--town", default="", help="town code (default: the first town with active grids)")

    def handle(self, *args, **opts):
        if opts["weeks"] < 1 or opts["per_day"] < 1:
            raise CommandError("--weeks and --per-day must be at least 1")
        town = None
        if opts["town"]:
            town = Town.objects.filter(code=opts["town"]).first()
            if town is None:
                raise CommandError(f"no town {opts['town']}")
        try:
            s = seed_demo_incidents(weeks=opts["weeks"], per_day=opts["per_day"], seed=opts["seed"], town=town)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        states = ", ".join(f"{state} {n}" for state, n in s["by_state"].items())
        self.stdout.write(self.style.SUCCESS(
            f"demo incidents: {s['created']} new of {s['planned']} planned; {s['escalations']} escalations "
            f"by the historical SLA sweeps"))
        self.stdout.write(f"  all demo incidents by state: {states}")
        self.stdout.write(f"  triage queue {s['triage']}, overdue now {s['overdue']}, reworked {s['reworked']}, "
                          f"escalated {s['escalated']}")
