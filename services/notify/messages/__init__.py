"""The message log: every SMS sent and received, its delivery and what a reply meant."""
