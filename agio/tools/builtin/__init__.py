"""Agio's own tools: `calculator`, `current_time` and `http_request`."""
