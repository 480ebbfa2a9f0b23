"""Index families (binary Hamming radius, float vector k-nearest); they work without a database."""
