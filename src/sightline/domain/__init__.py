"""Pure domain objects: no database, no web, no I/O."""
