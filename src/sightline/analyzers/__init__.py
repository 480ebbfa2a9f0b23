"""Analyzers derive signals from media files; they work without a database."""
