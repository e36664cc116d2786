"""The screens: search (the main one), the reader, and the key help."""
