#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""
import sys


def main() -> None:
    from gridops.settings import use_environment

    use_environment()  # DJANGO_ENV, default production (gridops/settings/__init__.py)
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
