"""Export a generation's grids (GeoPackage or GeoJSON) in a form import_boundaries reads back."""
from django.core.management.base import BaseCommand, CommandError

from grids.exporter import FORMATS, BoundaryExportError, export_grids
from grids.models import BoundaryGeneration


class Command(BaseCommand):
    help = "Write a generation's grids to a GIS file (default: the town's active generation, GeoPackage, EPSG:4326)."

    def add_arguments(self, parser):
        parser.add_argument("path", help="the file to write (replaced if it exists)")
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--town", help="9-digit town code: its active generation")
        which.add_argument("--generation", type=int, help="a generation's id (draft, active or retired)")
        parser.add_argument("--format", choices=sorted(FORMATS), default="gpkg")
        parser.add_argument("--srid", type=int, default=4326, help="CRS of the file, e.g. 4549 (default 4326)")

    def handle(self, *args, **opts):
        if opts["generation"] is not None:
            generation = BoundaryGeneration.objects.filter(pk=opts["generation"]).first()
            missing = f"no generation {opts['generation']}"
        else:
            generation = BoundaryGeneration.objects.filter(town__code=opts["town"], status="active").first()
            missing = f"town {opts['town']} has no active generation"
        if generation is None:
            raise CommandError(f"nothing exported: {missing}")
        try:
            count = export_grids(generation, opts["path"], fmt=opts["format"], srid=opts["srid"])
        except (BoundaryExportError, OSError) as exc:
            raise CommandError(f"nothing exported: {exc}") from exc
        self.stdout.write(self.style.SUCCESS(
            f"exported {count} grids of generation {generation.pk} ({generation.status}) to {opts['path']} "
            f"({FORMATS[opts['format']].driver}, EPSG:{opts['srid']})"))
