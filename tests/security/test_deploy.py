"""Production is the default and refuses to start half-configured (issue 11): the settings are chosen by
DJANGO_ENV, production checks clean with `check --deploy`, a missing secret stops start-up naming the
variable, several server processes need Redis, and every page carries the Content Security Policy."""
from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import CommandError, call_command
from django.test import override_settings

from core.actors import Role
from gridops.settings import settings_module
from gridops.settings.base import content_security_policy, socket_sources, tile_source

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "DJANGO_ALLOWED_HOSTS": "gridops.example.invalid",
    "DATABASE_URL": "postgis://gridops:placeholder@db.example.invalid:5432/gridops",
    "REDIS_URL": "redis://redis.example.invalid:6379/0",
}
CLEARED = ("DJANGO_SETTINGS_MODULE", "DJANGO_ENV", "DJANGO_DEBUG", *PRODUCTION_ENV)


def run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    """Run a Python child in the repository with none of the settings variables but ``env``."""
    base = {k: v for k, v in os.environ.items() if k not in CLEARED}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env={**base, **env}, capture_output=True, text=True,
                          timeout=120)


# --- which settings ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("environ", "module"), [
    ({}, "gridops.settings.prod"),
    ({"DJANGO_ENV": "production"}, "gridops.settings.prod"),
    ({"DJANGO_ENV": "development"}, "gridops.settings.dev"),
    ({"DJANGO_ENV": " Test "}, "gridops.settings.test"),
    ({"DJANGO_ENV": "development", "DJANGO_SETTINGS_MODULE": "gridops.settings.test"}, "gridops.settings.test"),
])
def test_settings_module_by_django_env(environ, module):
    assert settings_module(environ) == module


def test_unknown_django_env_refused():
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="DJANGO_ENV='staging'"):
        settings_module({"DJANGO_ENV": "staging"})


@pytest.mark.parametrize("entry", ["manage.py", "gridops.wsgi", "gridops.asgi", "gridops.celery"])
def test_every_entry_point_defaults_to_production(entry):
    """With no variable at all, manage.py, ASGI, WSGI and Celery take the production settings, which
    refuse to start without a secret key (they used to run dev settings: DEBUG on, a known key)."""
    args = ["manage.py", "check"] if entry == "manage.py" else [
        "-c", f"import {entry}; from django.conf import settings; settings.SECRET_KEY"]
    result = run(args)
    assert result.returncode != 0
    assert "ImproperlyConfigured: DJANGO_SECRET_KEY is not set" in result.stderr


def test_development_is_asked_for_explicitly():
    result = run(["-c", "import gridops.wsgi; from django.conf import settings; print(settings.DEBUG, "
                        "settings.SETTINGS_MODULE)"], DJANGO_ENV="development")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "gridops.settings.dev"]


# --- production ------------------------------------------------------------------------------------------

def test_check_deploy_prints_no_warning():
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_catches_a_weak_setting():
    """The same check fails when a setting is weak (here HSTS off), so a clean run means something."""
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **PRODUCTION_ENV,
                 DJANGO_HSTS_SECONDS="0")
    assert result.returncode != 0
    assert "security.W004" in result.stdout + result.stderr


def test_make_check_deploy_runs_clean():
    result = subprocess.run(["make", "-s", "check-deploy"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env={k: v for k, v in os.environ.items() if k not in CLEARED})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize("missing", sorted(PRODUCTION_ENV))
def test_missing_variable_stops_start_up_naming_it(missing):
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != missing}
    result = run(["manage.py", "check", "--deploy"], **env)
    assert result.returncode != 0
    assert f"django.core.exceptions.ImproperlyConfigured: {missing} is not set" in result.stderr


def test_production_debug_stays_off_and_cookies_are_secure():
    result = run(["-c", "import gridops.wsgi; from django.conf import settings as s; print(s.DEBUG, "
                        "s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, "
                        "s.SECURE_HSTS_SECONDS > 0, "
                        "s.CHANNEL_LAYERS['default']['BACKEND'], s.CSRF_TRUSTED_ORIGINS, "
                        "s.SECURE_PROXY_SSL_HEADER)"],
                 **PRODUCTION_ENV, DJANGO_DEBUG="1", DJANGO_CSRF_TRUSTED_ORIGINS="https://a.example.invalid",
                 DJANGO_SECURE_PROXY_SSL_HEADER="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ("False True True True True channels_redis.core.RedisChannelLayer "
                                     "['https://a.example.invalid'] ('HTTP_X_FORWARDED_PROTO', 'https')")


@override_settings(CHANNEL_LAYERS={"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}})
def test_serve_refuses_several_processes_on_the_in_memory_layer():
    with pytest.raises(CommandError, match="need a shared channel layer: set REDIS_URL"):
        call_command("serve", workers=2)


# --- Content Security Policy ----------------------------------------------------------------------------

def test_tile_and_socket_sources():
    assert tile_source("") == []
    assert tile_source("https://{s}.tiles.example.invalid/{z}/{x}/{y}.png") == ["https://*.tiles.example.invalid"]
    assert tile_source("http://10.0.0.5:8080/tiles/{z}/{x}/{y}.png") == ["http://10.0.0.5:8080"]
    assert socket_sources(["gridops.example.invalid", ".example.invalid", "*"], secure=True) == [
        "wss://gridops.example.invalid", "wss://*.example.invalid"]


def directives(header: str) -> dict[str, list[str]]:
    return {d.split()[0]: d.split()[1:] for d in (part.strip() for part in header.split(";")) if d}


@pytest.mark.django_db
def test_pages_carry_the_policy_and_the_import_map_its_nonce(client):
    user = User.objects.create_user("csp-operator", password="pw-csp-operator")
    user.groups.add(Group.objects.get_or_create(name=Role.OPERATOR)[0])
    login = client.get("/accounts/login/")
    policy = directives(login["Content-Security-Policy"])
    assert policy["script-src"][0] == "'self'" and "'unsafe-inline'" not in policy["script-src"]
    assert policy["style-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"] and policy["font-src"] == ["'self'"]
    assert policy["img-src"][:2] == ["'self'", "data:"] and policy["connect-src"][0] == "'self'"

    client.force_login(user)
    page = client.get("/command/")
    assert page.status_code == 200
    nonce = re.search(r"'nonce-([^']+)'", page["Content-Security-Policy"]).group(1)
    html = page.content.decode()
    assert f'<script type="importmap" nonce="{nonce}">' in html
    # nothing else inline: every other script has a src (or is a JSON data block), no style attribute,
    # no inline event handler
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag or "importmap" in tag or "application/json" in tag, tag
    assert not re.search(r"\sstyle=", html)
    assert not re.search(r"\son[a-z]+=", html)


def test_tile_host_allowed_when_configured():
    policy = content_security_policy(["gridops.example.invalid"], "https://{s}.tiles.example.invalid/{z}/{x}/{y}.png",
                                     secure=True)
    assert policy["DIRECTIVES"]["img-src"][-1] == "https://*.tiles.example.invalid"
    assert policy["DIRECTIVES"]["connect-src"][-1] == "wss://gridops.example.invalid"


# --- the demo ----------------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_demo_passwords_are_set_on_creation_only():
    """Loading the demo again (every start of the image used to) never resets a password."""
    from demo.users import ensure_demo_users

    operator = User.objects.get(username="operator")  # loaded once for the session (tests/conftest.py)
    operator.set_password("changed-by-its-owner")
    operator.save()
    assert ensure_demo_users(known=True) == {}
    operator.refresh_from_db()
    assert operator.check_password("changed-by-its-owner")


@pytest.mark.django_db
def test_demo_under_production_settings_has_no_superuser_and_no_known_password():
    from demo.users import DEMO_USERS, ensure_demo_users, known_passwords

    User.objects.filter(username__in=[d.username for d in DEMO_USERS]).delete()
    with override_settings(ENVIRONMENT="production"):
        assert known_passwords() is False
        created = ensure_demo_users()
    assert "admin" not in created and not User.objects.filter(is_superuser=True).exists()
    assert set(created) == {d.username for d in DEMO_USERS if not d.superuser}
    for demo in DEMO_USERS:
        if not demo.superuser:
            user = User.objects.get(username=demo.username)
            assert not user.check_password(demo.password) and user.check_password(created[demo.username])
    assert ensure_demo_users(known=False) == {}  # printed once: a second start creates and shows nothing


def test_image_runs_production_settings_as_a_non_root_user():
    dockerfile = (ROOT / "Dockerfile").read_text()
    compose = (ROOT / "docker-compose.yml").read_text()
    assert "settings.dev" not in dockerfile + compose and "DJANGO_ENV=production" in dockerfile
    assert re.search(r"^USER (?!root)\w+", dockerfile, re.M)
    assert "collectstatic" in dockerfile
    assert "gongdao-admin" not in dockerfile + compose and "demo_logins" not in dockerfile
    assert "GRIDOPS_DEMO" in compose
