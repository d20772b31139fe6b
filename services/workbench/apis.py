"""The four services' APIs as the workbench calls them: always as a person (the bearer
token of their session), never to another service's tables.

A refusal comes back as `Refused` carrying the API's status and its message in words,
which the pages show as they are: the services already say what is wrong and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from services.workbench.config import WorkbenchConfig
from shared.logs import current_correlation_id

SERVICES = ("intake", "escalation", "notify", "analytics")


class Refused(Exception):
    """An API said no (4xx/5xx), or could not be reached (status 503)."""

    def __init__(self, status: int, message: str, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.body = body

    @property
    def fields(self) -> list[dict[str, str]]:
        if isinstance(self.body, dict) and isinstance(self.body.get("fields"), list):
            return [f for f in self.body["fields"] if isinstance(f, dict)]
        return []


@dataclass
class Apis:
    """One pooled HTTP client per service, shared by every request of the process."""

    config: WorkbenchConfig
    transport: httpx.BaseTransport | None = None

    def __post_init__(self) -> None:
        timeout = httpx.Timeout(self.config.api_timeout_seconds, connect=3.0)
        limits = httpx.Limits(max_connections=50, max_keepalive_connections=20)
        self.clients = {
            name: httpx.Client(
                base_url=getattr(self.config, f"{name}_url"),
                timeout=timeout,
                limits=limits,
                transport=self.transport,
            )
            for name in SERVICES
        }

    def close(self) -> None:
        for client in self.clients.values():
            client.close()

    def call(
        self,
        service: str,
        method: str,
        path: str,
        token: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        text: bool = False,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """The answer's JSON (or text), or `Refused` with the API's own message."""
        headers = {**(headers or {}), "Authorization": f"Bearer {token}"}
        correlation = current_correlation_id()
        if correlation:
            headers["X-Correlation-ID"] = correlation
        clean = {k: v for k, v in (params or {}).items() if v is not None and v != ""}
        try:
            answer = self.clients[service].request(
                method, path, params=clean, json=json, headers=headers
            )
        except httpx.HTTPError as exc:
            raise Refused(
                503, f"the {service} service did not answer ({type(exc).__name__})"
            ) from None
        if answer.status_code >= 400:
            raise refused(answer, service)
        if answer.status_code == 204 or not answer.content:
            return None
        return answer.text if text else answer.json()

    def get(self, service: str, path: str, token: str, **params: Any) -> Any:
        return self.call(service, "GET", path, token, params=params)

    def post(self, service: str, path: str, token: str, body: Any = None) -> Any:
        return self.call(service, "POST", path, token, json=body if body is not None else {})

    def put(self, service: str, path: str, token: str, body: Any) -> Any:
        return self.call(service, "PUT", path, token, json=body)

    def delete(self, service: str, path: str, token: str) -> Any:
        return self.call(service, "DELETE", path, token)

    def _send(self, service: str, method: str, path: str, token: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {token}"}
        correlation = current_correlation_id()
        if correlation:
            headers["X-Correlation-ID"] = correlation
        try:
            answer = self.clients[service].request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise Refused(
                503, f"the {service} service did not answer ({type(exc).__name__})"
            ) from None
        if answer.status_code >= 400:
            raise refused(answer, service)
        return answer

    def upload(
        self,
        service: str,
        path: str,
        token: str,
        *,
        file: tuple[str, bytes, str],
        fields: dict[str, str] | None = None,
    ) -> Any:
        """A file sent on as multipart/form-data, as the person's browser sent it."""
        answer = self._send(service, "POST", path, token, files={"file": file}, data=fields or {})
        return answer.json()

    def download(self, service: str, path: str, token: str) -> httpx.Response:
        """The answer itself (bytes and headers), for a file passed on to the browser."""
        answer: httpx.Response = self._send(service, "GET", path, token)
        return answer


def refused(answer: httpx.Response, service: str) -> Refused:
    try:
        body = answer.json()
    except ValueError:
        body = None
    message = body.get("message") if isinstance(body, dict) else None
    if not message and isinstance(body, dict) and isinstance(body.get("detail"), str):
        message = body["detail"]
    return Refused(answer.status_code, message or f"{service} answered {answer.status_code}", body)
