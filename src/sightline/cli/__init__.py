"""The ``sightline`` command line: one noun per module, thin adapters over services."""
