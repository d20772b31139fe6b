"""The message log: every SMS sent and received, its delivery and what a reply meant.

- `models.py` the tables and API schemas, `service.py` their reads and writes,
  `views.py` GET /messages, `notices.py` who gets which SMS for an event (pure code);
- the flows, each run inside the caller's transaction so the effect, its events and (for
  events consumed) the inbox row commit together: `planning.py` (an event becomes stored
  messages), `digests.py` (held notices merged), `outcomes.py` (what a send came to),
  `receipts.py` (delivery receipts), `inbound.py` (an SMS a person sent), `recheck.py`
  (a customer SMS held for the night checked again before it goes);
- `context.py` what every flow takes besides the session.

Phones are masked in every log line.
"""
