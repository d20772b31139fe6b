"""Photos on a complaint's page, in the running system (the object store SeaweedFS, the
broker and every service, as `make run` starts them): the agent attaches the caller's
photo through the page, the history shows it once escalation has read intake's event
from the broker, and the billing clerk opens the very bytes through the workbench. A
file named leak.jpg holding a Windows program is refused on the page for what it is.

Named to run after the story (test_story_in_chromium.py), as test_what_each_role_sees is:
its complaint is one more SMS to the duty manager on duty."""

from __future__ import annotations

import hashlib
import re
import time

import httpx
import pytest

from tests.support.files import jpeg, windows_exe
from tests.workbench.conftest import Centre
from tests.workbench.test_access_matrix import PEOPLE, a_complaint_at_billing, sign_in

pytestmark = [pytest.mark.postgres, pytest.mark.kafka, pytest.mark.slow]

HISTORY_LINE = "附件：</strong>水管爆裂.jpg (image/jpeg, 2.1 MB) 上传人 A001"


def csrf_on(client: httpx.Client, path: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert found, path
    return found.group(1)


def test_a_photo_attached_on_the_page_reaches_the_history_and_the_clerk(centre: Centre) -> None:
    complaint_id = a_complaint_at_billing(centre)
    page = f"/complaints/{complaint_id}"
    photo = jpeg(2_200_000, seed=11)
    agent = sign_in(centre, PEOPLE["agent"])
    clerk = sign_in(centre, PEOPLE["department"])
    network = sign_in(centre, "N03")
    qa = sign_in(centre, PEOPLE["qa"])
    try:
        sent = agent.post(
            f"{page}/attachments",
            data={"csrf_token": csrf_on(agent, page), "source": "agent"},
            files={"file": ("水管爆裂.jpg", photo, "image/jpeg")},
        )
        assert sent.status_code == 303, sent.text[:500]
        assert sent.headers["location"] == f"{page}?done=attachment"

        # Listed at once (intake); in the history once escalation has read the event.
        deadline = time.monotonic() + 30
        shown = agent.get(page).text
        while HISTORY_LINE not in shown and time.monotonic() < deadline:
            time.sleep(0.5)
            shown = agent.get(page).text
        assert HISTORY_LINE in shown
        link = re.search(rf'<a href="({page}/attachments/[0-9a-f-]+)">水管爆裂.jpg</a>', shown)
        assert link, shown[shown.index('data-test="attachments"') :][:500]

        opened = clerk.get(link.group(1))
        assert opened.status_code == 200
        assert hashlib.sha256(opened.content).digest() == hashlib.sha256(photo).digest()
        assert opened.headers["content-type"] == "image/jpeg"
        assert opened.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in opened.headers["content-security-policy"]

        # Another department's clerk: no such complaint; QA: the name, never the photo.
        assert network.get(link.group(1)).status_code == 404
        qa_page = qa.get(page).text
        assert "水管爆裂.jpg" in qa_page and link.group(1) not in qa_page
        assert qa.get(link.group(1)).status_code == 403

        refused = agent.post(
            f"{page}/attachments",
            data={"csrf_token": csrf_on(agent, page)},
            files={"file": ("leak.jpg", windows_exe(), "image/jpeg")},
        )
        assert refused.status_code == 415
        assert "named .jpg but the content is a Windows executable" in refused.text
        assert "leak.jpg" not in agent.get(page).text
    finally:
        for client in (agent, clerk, network, qa):
            client.close()
