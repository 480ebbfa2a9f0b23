"""Indexes for binary hashes; they work without a database."""
