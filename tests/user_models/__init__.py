"""Models defined outside Vigil, as a user's own package would be: the export chain must
work on them through the public API and the CLI alone."""
