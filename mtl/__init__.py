"""Shared plumbing of mtl-topics: settings, the ``mtl`` CLI root and the local dev stack."""

from mtl.errors import MtlError

__all__ = ["MtlError"]
__version__ = "0.1.0"
