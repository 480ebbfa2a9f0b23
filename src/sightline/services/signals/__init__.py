"""Signals: the enabled analyzers, and one index per binary signal kind."""
