"""The package version, where every stage can read it without importing the public API."""

__version__ = "0.1.0"
