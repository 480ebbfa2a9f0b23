"""Value types and codecs for signals: digests and binary hashes."""
