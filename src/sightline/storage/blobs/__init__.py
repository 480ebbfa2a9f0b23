"""Blob stores: encrypted, opaque-named storage for originals and derived media."""
