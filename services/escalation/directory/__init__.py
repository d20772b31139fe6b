"""Departments and staff: who can be told, who holds what, and their phones."""
