"""The pieces of the whole-pipeline benchmark (bench/pipeline.py) that decide whether its
figures may be printed: the count of each complaint's notice at the duty manager's phone,
and the CPU of a process tree read from /proc."""

from __future__ import annotations

import subprocess
import sys
import time

from bench.pipeline import Meter, tally
from services.notify.config import NotifyConfig
from services.notify.rendering import Templates

FIELDS = {"urgent": "", "severity": "一般", "category": "账务", "customer_phone": "+86138****8000"}


def _sms(template: str, reference: str, **more: str) -> str:
    config = NotifyConfig()
    templates = Templates.load(config.templates_dir, config.default_language)
    fields = {**FIELDS, "reference": reference, "description": "话费多扣", **more}
    return templates.render(template, "zh-CN", fields, max_segments=3).text


def test_each_complaint_must_have_its_notice_once_and_a_reminder_is_not_one() -> None:
    a, b, c = "TS20261205-000001", "TS20261205-000002", "TS20261205-000003"
    bodies = [
        _sms("staff_assigned", a),
        _sms("staff_assigned", b),
        _sms("staff_assigned", b),  # told twice
        # c waited long enough to be urged, but its notice never came
        _sms("staff_urged_overdue", c, stage="受理", due="12:00"),
        "【热点】今天 12 位来电反映同一问题",  # about no one complaint
    ]
    assert tally({a, b, c}, bodies) == (1, 1)
    assert tally({a}, bodies[:1]) == (0, 0)


def _children(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return f.read().split()
    except OSError:
        return []


def test_the_cpu_of_a_child_that_exited_between_samples_still_counts() -> None:
    # A parent that starts a child burning 0.4 s of CPU, then waits: the child is gone
    # by the last sample (as PostgreSQL's backends come and go).
    burn = "import time\nt=time.process_time()\nwhile time.process_time()-t<0.4: pass"
    script = (
        "import subprocess, sys, time; time.sleep(0.3); "
        f"subprocess.run([sys.executable, '-c', {burn!r}]); time.sleep(30)"
    )
    parent = subprocess.Popen([sys.executable, "-c", script])
    try:
        meter = Meter({"tree": parent.pid})
        first = meter.sample()["tree"]
        deadline = time.monotonic() + 20
        seen_child = False
        while time.monotonic() < deadline:
            time.sleep(0.02)
            meter.sample()
            if _children(parent.pid):
                seen_child = True
            elif seen_child:
                break  # the child came and went
        assert seen_child
        counted = meter.sample()["tree"] - first
        # What the child spent up to the last sample that saw it: all but a sample's worth.
        assert counted >= 0.3, f"only {counted:.2f}s of the exited child's CPU counted"
    finally:
        parent.kill()
        parent.wait()
