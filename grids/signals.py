"""Signals other apps listen to, so that grids never import them."""
from django.dispatch import Signal

# Sent by grids.services.generation_activate inside its transaction, after ``generation`` became the
# town's active generation (and the previous one, if any, was retired). Receivers that write do so in
# the same transaction: if one fails, nothing is published.
generation_activated = Signal()
