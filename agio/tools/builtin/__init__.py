"""Agio's own tools: `calculator`, `current_time`, `http_request`, `web_fetch` and the
workspace tools (`read_file`, `write_file`, `edit_file`, `list_files`, `glob`, `grep`)."""
