"""Sightline: a victim identification database for child-protection investigators."""

__version__ = "0.1.0"
