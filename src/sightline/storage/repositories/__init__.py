"""Repositories: typed queries returning domain dataclasses, never ORM rows."""
