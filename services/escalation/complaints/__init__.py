"""Complaints in their lifecycle: state, history, queues and the actions people take."""
