"""Demo logins created by `make run` (never for production: the passwords are printed)."""
from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    superuser: bool
    what: str


DEMO_USERS = [
    DemoUser("admin", "gongdao-admin", True, "administrator: Django admin with map widgets"),
    DemoUser("operator", "gongdao-operator", False, "command-centre operator (指挥中心)"),
]


def ensure_demo_users() -> int:
    """Create the demo users or reset their passwords to the printed ones; return how many."""
    User = get_user_model()
    for demo in DEMO_USERS:
        user, _ = User.objects.get_or_create(username=demo.username)
        user.is_staff = demo.superuser
        user.is_superuser = demo.superuser
        user.set_password(demo.password)
        user.save()
    return len(DEMO_USERS)
