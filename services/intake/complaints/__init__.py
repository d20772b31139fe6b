"""Complaints as registered: tables, API schemas, reads and writes, the registration flow."""
