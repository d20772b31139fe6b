"""Full-text search over complaints and likely duplicates at registration."""
