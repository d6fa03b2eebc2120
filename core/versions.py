"""Versions of rows, for "no lost edits": a row's version is the id of the transaction that last wrote it
(PostgreSQL's ``xmin``: every UPDATE writes a new row version), so nothing has to remember to bump a
counter. A change carries the version it was made on; another version now means someone changed the
row since, and the change is refused with who did (incidents keep their own ``changed_xid`` and event
log: ``incidents.selectors.incident_version``)."""
from __future__ import annotations

from django import forms
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.utils import timezone

VERSION_FIELD = "_loaded_version"


def row_version(model, pk, *, lock: bool = False) -> str | None:
    """Return the version of one row of ``model`` (None: no such row); ``lock``: FOR UPDATE, so the check
    and the change it guards see the same version."""
    table, column = model._meta.db_table, model._meta.pk.column
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT xmin::text FROM "{table}" WHERE "{column}" = %s' + (" FOR UPDATE" if lock else ""),
                       [pk])
        row = cursor.fetchone()
    return row[0] if row else None


def last_admin_change(obj) -> str:
    """Return who last changed ``obj`` in the admin, and when ("" when the log has nothing)."""
    entry = (LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(obj), object_id=str(obj.pk))
             .select_related("user").order_by("-action_time").first())
    return f"{entry.user.get_username()} at {timezone.localtime(entry.action_time):%Y-%m-%d %H:%M:%S}" if entry else ""


class VersionedForm(forms.ModelForm):
    """A model form that carries the row's version as it was opened and refuses to save over a later one."""

    _loaded_version = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.fields[VERSION_FIELD].initial = row_version(self._meta.model, self.instance.pk)

    def clean(self):
        cleaned = super().clean()
        sent = (cleaned.get(VERSION_FIELD) or "").strip()
        if self.instance.pk is not None and sent:
            now = row_version(self._meta.model, self.instance.pk, lock=True)  # held until the save commits
            if now != sent:
                who = last_admin_change(self.instance) or "someone"
                raise forms.ValidationError(f"此记录已被他人更改 changed by {who} since you opened it: open it again, "
                                            "then make your change", code="stale")
        return cleaned


class VersionedAdmin:
    """A ModelAdmin mix-in: the change form carries the row's version as it was opened; saving it after
    someone else saved the row is refused with who did and when (the admin's log), nothing is saved, and
    the form asks to open the row again."""

    form = VersionedForm
