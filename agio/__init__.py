"""Agio: an agent framework with a production-grade HTTP control plane."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("agio")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+local"

__all__ = ["__version__"]
