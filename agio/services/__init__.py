"""Use cases behind the routers: validation, references, history, file sync."""
