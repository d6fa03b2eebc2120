"""Print where to log in and the demo logins."""
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand

from demo.users import DEMO_USERS, demo_token, known_passwords


class Command(BaseCommand):
    help = "Print the platform's address and the demo logins."

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000")

    def handle(self, *args, **opts):
        url = opts["url"]
        self.stdout.write(self.style.SUCCESS(f"\nThe platform is up: log in at {url}/   (admin: {url}/admin/)"))
        self.stdout.write(f"API: {url}/api/   OpenAPI schema: {url}/api/schema/")
        self.stdout.write("Demo logins:")
        known = known_passwords()
        for user in DEMO_USERS:
            if known:
                self.stdout.write(f"  {user.username:<11} {user.password:<20} {user.what}")
            elif not user.superuser:
                self.stdout.write(f"  {user.username:<11} {'(printed when created)':<22} {user.what}")
        if not known:
            self.stdout.write("  no demo superuser: manage.py createsuperuser makes one")
        try:
            token = demo_token()
        except User.DoesNotExist:
            token = "(run load_demo_data)"
        # keys are stored as digests and cannot be shown again: each run issues a fresh one
        self.stdout.write(f"API token of the hotline client (new at each start; older ones stay valid until "
                          f"they expire or `manage.py api_tokens revoke --user hotline`): {token}")
        self.stdout.write(f'  curl -H "Authorization: Token {token}" {url}/api/incidents/')
        self.stdout.write("")
