"""Schemathesis against each service's own OpenAPI document, in process: valid and
invalid requests generated from the document, sent with a token of a role allowed to
call the operation. No answer may be a 5xx, and every answer must be one the document
describes (status code, content type, body schema). Bounded and deterministic: a fixed
number of examples per operation, derandomized.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.robustness.conftest import SERVICES, Running, build_app
from tests.robustness.matrix import fuzz_role

pytestmark = [
    pytest.mark.postgres,
    # Schemathesis draws some invalid values with `random`, which Hypothesis seeds for
    # each example: still deterministic.
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]

EXAMPLES = 25  # per operation and mode
# A request the document allows may still be refused for what a schema cannot say (a
# phone number that does not exist, a category not in the taxonomy, a forged cursor):
# that is a 422 naming the field, which is the point, not a defect.
EXCLUDED = [positive_data_acceptance]


def _operations() -> list[tuple[str, str, GenerationMode]]:
    """(service, operation, mode): invalid requests only where there is an input to spoil."""
    from shared.settings import Settings

    found = []
    for name in SERVICES:
        document = build_app(name, Settings()).openapi()
        for path, methods in document["paths"].items():
            for method, spec in methods.items():
                label = f"{method.upper()} {path}"
                found.append((name, label, GenerationMode.POSITIVE))
                # Path parameters are plain strings: nothing to spoil there.
                spoilable = [p for p in spec.get("parameters", []) if p["in"] != "path"]
                if spoilable or spec.get("requestBody"):
                    found.append((name, label, GenerationMode.NEGATIVE))
    return found


OPERATIONS = _operations()


@pytest.fixture(scope="module")
def schemas(services: Callable[[str], Running]) -> Iterator[Callable[[str], Any]]:
    """Each service's document loaded by Schemathesis from a second app on the seeded
    database, which Schemathesis starts and calls in process."""
    loaded: dict[str, Any] = {}

    def get(name: str) -> Any:
        if name not in loaded:
            running = services(name)
            app = build_app(name, running.env.settings)
            loaded[name] = (schemathesis.openapi.from_asgi("/openapi.json", app), running)
        return loaded[name]

    yield get
    asgi.shutdown_lifespans()


@pytest.mark.parametrize(
    ("service", "label", "mode"), OPERATIONS, ids=[f"{s} {o} {m.value}" for s, o, m in OPERATIONS]
)
def test_the_document_holds_under_generated_requests(
    schemas: Callable[[str], Any], service: str, label: str, mode: GenerationMode
) -> None:
    schema, running = schemas(service)
    operation = schema.find_operation_by_label(label)
    assert operation is not None
    method, path = label.split(" ", 1)
    role = fuzz_role(service, method, path)
    # The token as a fixed header of every case: a case that drops it is expected to
    # be refused with 401, and is.
    headers = running.tokens[role] if role else None
    names = [p.name for p in operation.path_parameters]
    seeded = {n: running.ids[n] for n in names if n in running.ids}
    strategies = [operation.as_strategy(generation_mode=mode, headers=headers)]
    if seeded and mode is GenerationMode.POSITIVE:
        # Half the cases on the seeded resources, so they get past the 404.
        strategies.append(
            operation.as_strategy(generation_mode=mode, headers=headers, path_parameters=seeded)
        )

    @given(case=st.one_of(strategies))
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        case.call_and_validate(excluded_checks=EXCLUDED)

    run()
