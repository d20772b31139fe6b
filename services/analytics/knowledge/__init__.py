"""The knowledge base as analytics knows it: the articles agents read, from intake's events."""
