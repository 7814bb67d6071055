"""The tables of idempotency (issue 16), registered on `agio.storage.table_base.Base`."""

from __future__ import annotations
