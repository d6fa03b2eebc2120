"""Load a town's demo data set (boundaries, people, teams, cameras) idempotently."""
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from cameras.services import CameraDataError, cameras_load
from components.services import ComponentTypeError, component_types_load
from demo.users import DEMO_USERS, ensure_demo_users, known_passwords
from grids.dataset import DatasetError, load_dataset
from incidents.services import categories_load, replies_load


class Command(BaseCommand):
    help = "Load data/boundaries/<town> (default gongdao) and the demo users; safe to run again."

    def add_arguments(self, parser):
        parser.add_argument("--dir", default=str(Path(settings.BASE_DIR) / "data" / "boundaries" / "gongdao"))

    def handle(self, *args, **opts):
        directory = Path(opts["dir"])
        if not directory.is_dir():
            raise CommandError(f"no data set at {directory}")
        try:
            with transaction.atomic():
                summary = load_dataset(directory)
                cameras = cameras_load(directory / "cameras.geojson")
                component_types_load()  # the GB/T 30428.2 classes (components/data/component_types.json)
                categories = categories_load()
                replies_load()  # the default 常用语, once (edits in the admin are kept)
                users = ensure_demo_users()
        except (DatasetError, CameraDataError, ComponentTypeError) as exc:
            raise CommandError(f"nothing loaded: {exc}") from exc
        change = "new generation" if summary.new_generation else "unchanged generation"
        self.stdout.write(self.style.SUCCESS(
            f"{summary.town}: {summary.villages} villages, {summary.grids} grids ({change} {summary.generation}), "
            f"{summary.people} people, {summary.memberships} team posts, {cameras} cameras, {categories} categories, "
            f"{len(users)} demo users created ({len(DEMO_USERS)} in the demo)"))
        if users and not known_passwords():
            self.stdout.write("Demo logins created now (shown this once; passwords are never reset on a restart):")
            for username, password in users.items():
                self.stdout.write(f"  {username:<11} {password}")
