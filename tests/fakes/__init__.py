"""Fakes of external services for tests (an OpenAI-compatible server, ...)."""
