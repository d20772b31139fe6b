"""The duty roster: who is on duty when, and the hand-over at each shift change."""
