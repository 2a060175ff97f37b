"""Loopback stand-ins for the read-only calls `muse health` makes to DeepL and Vercel.

- DeepL ``GET /v2/usage`` with ``Authorization: DeepL-Auth-Key <key>``: 200
  ``{"character_count": N, "character_limit": M}``; 403 ``{"message": "Authorization failure, check
  auth_key"}`` for a wrong key; 456 when the quota is used up.
- Vercel ``GET /v9/projects/{idOrName}[?teamId=]`` with ``Authorization: Bearer <token>``: 200 with
  the project (``id``, ``name``, ``accountId``); 403 ``{"error": {"code": "forbidden", "message":
  "Not authorized"}}``; 404 ``{"error": {"code": "not_found", "message": "Project not found"}}``.

``hang`` makes every route sleep before answering, to test timeouts.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from fakes import FakeHTTP, Request


class FakeDeepL:
    def __init__(self, key: str = "deepl-key-0001:fx", used: int = 1200, limit: int = 500_000) -> None:
        self.key, self.used, self.limit = key, used, limit
        self.hang = 0.0
        self.quota_exceeded = False
        self.http = FakeHTTP()
        self.http.on("GET", "/v2/usage", self._usage)

    @property
    def url(self) -> str:
        return self.http.url

    def close(self) -> None:
        self.http.close()

    def _usage(self, req: Request) -> tuple[int, Any]:
        time.sleep(self.hang)
        if req.headers.get("authorization") != f"DeepL-Auth-Key {self.key}":
            return 403, {"message": "Authorization failure, check auth_key"}
        if self.quota_exceeded:
            return 456, {"message": "Quota exceeded"}
        return 200, {"character_count": self.used, "character_limit": self.limit}


class FakeVercel:
    def __init__(self, token: str = "vercel-token-0001", project: str = "banterblogs", team: str = "") -> None:
        self.token, self.project, self.team = token, project, team
        self.hang = 0.0
        self.http = FakeHTTP()
        self.http.on("GET", "/v9/projects/", self._project)

    @property
    def url(self) -> str:
        return self.http.url

    def close(self) -> None:
        self.http.close()

    def _project(self, req: Request) -> tuple[int, Any]:
        time.sleep(self.hang)
        if req.headers.get("authorization") != f"Bearer {self.token}":
            return 403, {"error": {"code": "forbidden", "message": "Not authorized"}}
        parts = urlsplit(req.path)
        name = unquote(parts.path.rsplit("/", 1)[-1])
        team = parse_qs(parts.query).get("teamId", [""])[0]
        if name != self.project or team != self.team:
            return 404, {"error": {"code": "not_found", "message": "Project not found"}}
        return 200, {"id": "prj_12HKQaOmR5t5Uy6vdcQsNIiZgHGB", "name": self.project, "accountId": "team_x"}
