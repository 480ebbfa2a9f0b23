"""Exchange: hash lists imported from and reported to other databases."""
