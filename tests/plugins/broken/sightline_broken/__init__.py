"""A plugin whose optional dependency is not installed (for the registry's error test)."""

from __future__ import annotations

import importlib

# As ``import some_extra_package`` at the top of a real plugin: fails with ImportError.
importlib.import_module("sightline_dependency_that_is_not_installed")
