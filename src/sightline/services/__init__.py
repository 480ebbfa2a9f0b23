"""Use cases: every side effect of the product lives here."""
