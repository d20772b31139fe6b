"""The development SMS gateway: the SMS counterpart of a mail catcher.

`uvicorn --factory services.notify.gateway:create_app --port 8090` (`make run` starts it).
It accepts sends in the Twilio-style shape (basic auth, form POST to
/2010-04-01/Accounts/{sid}/Messages.json), keeps them, reports each delivered to its
StatusCallback, and shows a page of messages per phone number where a person can type a
reply, which it delivers to notify's inbound webhook signed as a real provider would.

For tests and demonstrations it can be told to fail: POST /api/faults
{"fail_next": 2, "status": 503} answers the next two sends with 503. Its settings can
also make it behave as Twilio does rather than as a helpful development tool: send a
resend again (NOTIFY_GATEWAY_DEDUPLICATE=0), answer a share of sends after notify's
timeout or cut the connection after taking them (NOTIFY_GATEWAY_LATE_SHARE,
NOTIFY_GATEWAY_DROP_SHARE); its list of messages filters by To and DateSent> a page at
a time, as Twilio's does, for the sender's look-ups.
"""

from services.notify.gateway.app import create_app

__all__ = ["create_app"]
