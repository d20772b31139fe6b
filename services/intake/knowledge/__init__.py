"""The knowledge base: articles agents answer callers from at once."""
