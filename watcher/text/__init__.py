"""Text as regwatch reads it: feed HTML cleaned to text (clean.py), folded for matching (fold.py)."""
