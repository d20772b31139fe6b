"""A department's clerks and their complaints: who owns which, how the department hands
them out, and each clerk's load."""
