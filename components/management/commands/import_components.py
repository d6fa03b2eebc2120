"""Import city components (GB/T 30428.2) from a GeoPackage, Shapefile, CSV or any point file GDAL reads."""
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from components.importer import ComponentImportError, FieldMap, import_components
from components.services import TYPES_FILE, ComponentTypeError, component_types_load
from core.errorsfile import ErrorsFile


class Command(BaseCommand):
    help = ("Import components by their standard code (again: updates, never duplicates); bad rows go to an errors "
            "file. A CSV takes its points from x and y columns and needs --srid.")

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--layer", default="0", help="layer name or index (default 0)")
        parser.add_argument("--srid", type=int, help="source CRS (EPSG code) when the file declares none, e.g. a CSV")
        parser.add_argument("--errors", help="where bad rows are written (default: PATH.errors.csv)")
        parser.add_argument("--types", default=str(TYPES_FILE), help="the component classes to load first")
        for name, default in vars(FieldMap()).items():
            parser.add_argument(f"--{name}-field", default=default, dest=f"{name}_field")

    def handle(self, *args, **opts):
        layer = int(opts["layer"]) if opts["layer"].isdigit() else opts["layer"]
        fields = FieldMap(**{k: opts[f"{k}_field"] for k in vars(FieldMap())})
        try:
            component_types_load(Path(opts["types"]))
            report = import_components(opts["path"], layer=layer, fields=fields, source_srid=opts["srid"],
                                       progress=lambda n: self.stdout.write(f"read {n} rows ..."))
        except (ComponentImportError, ComponentTypeError) as exc:
            raise CommandError(f"nothing imported: {exc}") from exc
        if report.errors:
            with ErrorsFile(opts["errors"] or f"{opts['path']}.errors.csv", ["row", "code", "error"]) as errors:
                for e in report.errors:
                    errors.add([e.row, e.code, e.message])
            for e in report.errors[:10]:
                self.stderr.write(f"row {e.row} ({e.code or 'no code'}): {e.message}")
            self.stderr.write(f"{len(report.errors)} bad rows written to {errors.path}")
        if not report.imported:
            raise CommandError(f"nothing imported: none of the {report.read} rows is a valid component")
        self.stdout.write(self.style.SUCCESS(
            f"{report.read} rows from EPSG:{report.source_srid}: {report.created} created, {report.updated} updated, "
            f"{report.unchanged} unchanged, {len(report.errors)} bad; {report.outside} outside every grid"))
