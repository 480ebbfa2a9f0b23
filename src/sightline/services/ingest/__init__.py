"""Ingest: taking files, folders, archives and uploads in, resumably."""
