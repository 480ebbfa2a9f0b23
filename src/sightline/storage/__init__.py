"""Persistence: database, repositories and the encrypted blob store."""
