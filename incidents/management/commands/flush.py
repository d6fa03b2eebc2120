"""Django's flush, in a maintenance session: the incidents' tables refuse TRUNCATE otherwise
(migration 0006). pytest-django flushes between transactional tests through this command."""
from django.core.management.commands import flush
from django.db import connections

MAINTENANCE = "SET gridops.maintenance = on"


class Command(flush.Command):
    help = flush.Command.help + " The incident record's TRUNCATE guard is lifted for this session only."

    def handle(self, **options):
        connection = connections[options["database"]]
        with connection.cursor() as cursor:
            cursor.execute(MAINTENANCE)
        try:
            return super().handle(**options)
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET gridops.maintenance")
