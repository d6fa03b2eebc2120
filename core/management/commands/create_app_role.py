"""Create (or bring back into line) the least-privileged database role the running app connects as.

Migrations run as the tables' owner; the app itself should not: the owner may drop and alter tables,
drop the triggers that keep the incident record append-only, and TRUNCATE. The role made here may
read and write rows and draw ids from the sequences, nothing else:

    SELECT, INSERT, UPDATE, DELETE on the tables (events: SELECT and INSERT only: append-only)
    USAGE on the sequences
    no CREATE on the schema, no TRUNCATE, no REFERENCES or TRIGGER, owner of nothing

Run it as the owner after `migrate` (again after later migrations is harmless; tables that later
migrations create get the same grants through default privileges). The password comes from the
environment variable --password-env names (default GRIDOPS_APP_DB_PASSWORD) or a prompt;
--no-password for a role that logs in by peer or certificate authentication.
"""
from __future__ import annotations

import getpass
import os
import re

from django.core.management.base import BaseCommand, CommandError
from django.db import connections, transaction

ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
APPEND_ONLY = ["incidents_incidentevent"]  # the audit trail: the app only adds to it


class Command(BaseCommand):
    help = "Create a least-privileged login role for the app (rows only: no DDL, no TRUNCATE, not the owner)."

    def add_arguments(self, parser):
        parser.add_argument("name", help="role name (lower case letters, digits, _)")
        parser.add_argument("--password-env", default="GRIDOPS_APP_DB_PASSWORD",
                            help="environment variable holding the password (default GRIDOPS_APP_DB_PASSWORD)")
        parser.add_argument("--no-password", action="store_true", help="set no password (peer/cert authentication)")
        parser.add_argument("--database", default="default")
        parser.add_argument("--noinput", "--no-input", action="store_false", dest="interactive")

    def handle(self, *args, name: str, password_env: str, no_password: bool, database: str, interactive: bool,
               **options):
        if not ROLE_NAME.match(name):
            raise CommandError(f"{name!r} is not a plain role name (lower case letters, digits, _)")
        password = None if no_password else self._password(password_env, interactive)
        connection = connections[database]
        quote = connection.ops.quote_name
        role, db = quote(name), quote(connection.settings_dict["NAME"])
        with transaction.atomic(using=database), connection.cursor() as cursor:
            cursor.execute("SELECT current_user")
            owner = cursor.fetchone()[0]
            if owner == name:
                raise CommandError(f"{name} is the role running migrations (the owner): choose another name")
            cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name])
            verb = "ALTER" if cursor.fetchone() else "CREATE"
            cursor.execute(f"{verb} ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
                           " NOINHERIT")
            if password is not None:
                cursor.execute(f"ALTER ROLE {role} PASSWORD %s", [password])
            statements = [
                f"GRANT CONNECT ON DATABASE {db} TO {role}",
                # PostgreSQL before 15 let every role create objects in the public schema
                "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
                f"REVOKE ALL ON SCHEMA public FROM {role}",
                f"GRANT USAGE ON SCHEMA public TO {role}",
                f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}",
                f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
                *(f"REVOKE UPDATE, DELETE ON {quote(table)} FROM {role}" for table in APPEND_ONLY),
                f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {role}",
                f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role}",
                # tables and sequences of later migrations (run by this owner)
                f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}",
                f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE ON SEQUENCES TO {role}",
            ]
            for statement in statements:
                cursor.execute(statement)
        self.stdout.write(self.style.SUCCESS(
            f"role {name}: {verb.lower()}d; rows of every table in {connection.settings_dict['NAME']} "
            f"(events: read and add only), the sequences; no DDL, no TRUNCATE. Owner (migrations): {owner}"))

    def _password(self, env: str, interactive: bool) -> str:
        password = os.environ.get(env, "")
        if password:
            return password
        if not interactive:
            raise CommandError(f"no password: set {env}, or pass --no-password")
        password = getpass.getpass(f"Password for the new role (or set {env}): ")
        if not password or password != getpass.getpass("Again: "):
            raise CommandError("the passwords are empty or differ")
        return password
