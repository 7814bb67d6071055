"""Live fan-out of run events (the event log in storage stays the source of truth)."""
