"""Import grid boundaries (Shapefile, GeoPackage, GeoJSON, ...) into a draft generation."""
from django.core.management.base import BaseCommand, CommandError

from grids.importer import BoundaryImportError, FieldMap, import_grids


class Command(BaseCommand):
    help = "Import grids from a GDAL-readable file into a new draft generation (dry run unless --commit)."

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--town", required=True, help="9-digit town code")
        parser.add_argument("--layer", default="0", help="layer name or index (default 0)")
        parser.add_argument("--srid", type=int, help="source CRS when the file declares none")
        parser.add_argument("--description", default="")
        parser.add_argument("--commit", action="store_true", help="keep the result (default: dry run)")
        for name, default in vars(FieldMap()).items():
            parser.add_argument(f"--{name}-field", default=default, dest=f"{name}_field")

    def handle(self, *args, **opts):
        layer = int(opts["layer"]) if opts["layer"].isdigit() else opts["layer"]
        fields = FieldMap(**{k: opts[f"{k}_field"] for k in vars(FieldMap())})
        try:
            report = import_grids(opts["path"], town_code=opts["town"], layer=layer, fields=fields,
                                  description=opts["description"], commit=opts["commit"],
                                  source_srid=opts["srid"])
        except BoundaryImportError as exc:
            raise CommandError(f"nothing imported: {exc}") from exc
        for note in report.repaired:
            self.stdout.write(f"repaired {note}")
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(report.by_kind.items()))
        if report.committed:
            self.stdout.write(self.style.SUCCESS(
                f"imported {report.features} grids ({kinds}) from EPSG:{report.source_srid} "
                f"into draft generation {report.generation_id}"))
        else:
            self.stdout.write(f"dry run: {report.features} grids ({kinds}) from EPSG:{report.source_srid} "
                              "would be imported into a new draft generation; pass --commit to keep them")
