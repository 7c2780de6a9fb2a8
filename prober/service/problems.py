"""Errors as RFC 9457 problem documents, each with a stable ``type``.

The ``type`` URIs are names, not pages: ``urn:prober:problem:<slug>``. Clients should
branch on them; ``title`` and ``detail`` are for people.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.responses import JSONResponse

MEDIA_TYPE = "application/problem+json"

TITLES: Mapping[str, tuple[int, str]] = {
    "unauthorized": (401, "An API key is needed"),
    "forbidden": (403, "This key may not do that"),
    "not-found": (404, "No such resource"),
    "method-not-allowed": (405, "Method not allowed"),
    "too-large": (413, "The request body is too large"),
    "unsupported-media-type": (415, "Unsupported content type"),
    "invalid-request": (422, "The request is not valid"),
    "rate-limited": (429, "Too many requests"),
    "quota-exceeded": (429, "Daily quota used up"),
    "internal": (500, "Internal error"),
    "unavailable": (503, "The service is not ready"),
    "deadline": (504, "The probe did not finish in time"),
}


def problem_type(slug: str) -> str:
    return f"urn:prober:problem:{slug}"


class Problem(Exception):
    """Raised anywhere in a request; becomes a problem document."""

    def __init__(
        self,
        slug: str,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.slug = slug
        self.status, self.title = TITLES[slug]
        self.detail = detail
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def response(self, instance: str | None = None) -> JSONResponse:
        body: dict[str, Any] = {
            "type": problem_type(self.slug),
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance is not None:
            body["instance"] = instance
        body.update(self.extra)
        return JSONResponse(body, self.status, headers=self.headers, media_type=MEDIA_TYPE)


def status_slug(status: int) -> str:
    for slug, (code, _title) in TITLES.items():
        if code == status:
            return slug
    return "internal" if status >= 500 else "invalid-request"
