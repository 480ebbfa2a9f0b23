"""Matching: search, match, real-time matching at ingest, triage and alerts."""
