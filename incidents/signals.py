"""Signals incidents send; receivers (live map push, caches) live in the apps that care."""
from django.dispatch import Signal

# Sent after the transaction commits, with ``incident_ids``: new or changed incidents.
incident_changed = Signal()
