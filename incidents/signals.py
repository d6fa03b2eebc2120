"""Signals incidents send; receivers (live map push, caches) live in the apps that care."""
from django.dispatch import Signal

# Sent after the transaction commits, with ``incident_ids``: new or changed incidents.
incident_changed = Signal()

# Sent inside the transaction of a 延期 step, with ``request`` (the ExtensionRequest just asked for,
# pending, or just decided) and ``now``: the inbox (``dispatch.inbox``) tells the people concerned.
extension_changed = Signal()
