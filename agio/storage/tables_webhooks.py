"""The tables of webhooks (issue 16), registered on `agio.storage.table_base.Base`."""

from __future__ import annotations
