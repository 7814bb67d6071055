"""The tables of schedules (issue 16), registered on `agio.storage.tables.Base`."""

from __future__ import annotations
