"""A module that fails while it is imported, for the python-tool loading tests."""

raise RuntimeError("broken on purpose")
