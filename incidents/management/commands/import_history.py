"""Import past incidents from a CSV, GeoJSON or GeoPackage export of a 12345 or 数字城管 system."""
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from core.progress import Progress
from incidents.history import HistoryError, import_history
from incidents.models import Incident


class Command(BaseCommand):
    help = ("Import past incidents with their own times and states (received, dispatched, closed), located in the "
            "boundary generation of their date. Idempotent on the source's ids; refused rows go to the errors file "
            "(exit status 2 when there are any).")

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--source", default=Incident.Source.HOTLINE_12345, choices=Incident.Source.values,
                            help="the source of records without a source column")
        parser.add_argument("--crs", help="the coordinates' CRS when the file does not say (or says wrongly)")
        parser.add_argument("--client", help="username of the integration client the records belong to "
                                             "(part of the idempotency key; default: the platform)")
        parser.add_argument("--errors", help="where to write refused rows (default: FILE.errors.csv)")
        parser.add_argument("--encoding", default="utf-8-sig", help="a CSV's encoding (e.g. gb18030)")
        parser.add_argument("--layer", help="the GeoPackage layer (default: the first)")
        parser.add_argument("--stores", type=int, default=2, choices=range(1, 9), metavar="N",
                            help="batches stored at once, each in its own transaction (default 2; 1 to 8)")

    def handle(self, *args, **opts):
        client = None
        if opts["client"]:
            client = get_user_model().objects.filter(username=opts["client"]).first()
            if client is None:
                raise CommandError(f"--client: no user {opts['client']!r}")
        try:
            result = import_history(Path(opts["file"]), source=opts["source"], crs=opts["crs"], client=client,
                                    errors_path=opts["errors"], encoding=opts["encoding"], layer=opts["layer"],
                                    progress=Progress(self.stderr, "import"), stores=opts["stores"])
        except HistoryError as exc:
            raise CommandError(f"nothing imported: {exc}") from exc
        summary = (f"{result.rows:,} rows: {result.imported:,} imported, {result.already:,} already there, "
                   f"{result.refused:,} refused; located by their date's generation {result.by_generation_date:,}, "
                   f"in the active one {result.in_active_generation:,}")
        if result.refused:
            raise CommandError(f"{summary}; refused rows in {result.errors_path}", returncode=2)
        self.stdout.write(self.style.SUCCESS(summary))
