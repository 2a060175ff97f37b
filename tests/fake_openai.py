"""A loopback OpenAI-compatible API for the endpoints the narrator calls.

Follows platform.openai.com/docs/api-reference: ``GET /v1/models`` answers
``{"object": "list", "data": [{"id", "object": "model", "created", "owned_by"}]}``;
``POST /v1/chat/completions`` takes ``{model, messages, temperature, response_format,
max_tokens}`` and answers ``{"id": "chatcmpl-...", "object": "chat.completion", "created",
"model", "choices": [{"index", "message": {"role": "assistant", "content", "refusal"},
"logprobs", "finish_reason"}], "usage": {"prompt_tokens", "completion_tokens",
"total_tokens"}}``. Auth by ``Authorization: Bearer <key>``. Errors as
``{"error": {"message", "type", "param", "code"}}``: 401 ``invalid_api_key``, 404
``model_not_found``, 400 for a bad body (or ``response_format`` on a server without JSON
mode, as llama.cpp builds and older vLLM answer), 429 ``rate_limit_exceeded`` with
``Retry-After``, 500 ``server_error``.

What each model answers is scripted by the test (``answer(model, fn)``: the request's JSON
in, the content out); ``fault(model, kind)`` scripts misbehaviour: ``429``, ``500``,
``refuse`` (``message.refusal`` set, content null), ``prose`` (no JSON in the content),
``garbage`` (a response body that is not JSON at all), ``slow`` (sleeps ``delay`` seconds).
Every request is recorded.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from fakes import FakeHTTP, Request

KEY = "sk-fake-7Hq2vX9pLm4R"
Answer = Callable[[dict[str, Any]], "str | dict[str, Any]"]


def _err(status: int, message: str, type_: str, code: str | None, param: str | None = None) -> tuple[int, Any]:
    return status, {"error": {"message": message, "type": type_, "param": param, "code": code}}


@dataclass
class FakeOpenAI:
    key: str | None = KEY
    models: list[str] = field(default_factory=lambda: ["analyst-a", "analyst-b", "judge-j"])
    json_mode: bool = True
    delay: float = 0.0  # every answer (the "slow" fault sleeps fault_delay instead)
    fault_delay: float = 2.0
    answers: dict[str, Answer] = field(default_factory=dict)
    _faults: list[list[Any]] = field(default_factory=list)  # [model or None, kind, remaining]
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.http = FakeHTTP()
        self.http.on("GET", "/v1/models", self._models)
        self.http.on("POST", "/v1/chat/completions", self._chat)

    # -- test helpers ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return self.http.url + "/v1"

    def close(self) -> None:
        self.http.close()

    def answer(self, model: str, fn: Answer | str | dict[str, Any]) -> None:
        self.answers[model] = fn if callable(fn) else (lambda req, fn=fn: fn)

    def fault(self, model: str | None, kind: str, *, times: int = 1_000_000) -> None:
        """``model`` None: every model. ``times``: how many requests it hits."""
        self._faults.append([model, kind, times])

    def chat_requests(self, model: str | None = None) -> list[dict[str, Any]]:
        out = []
        for r in self.http.requests:
            if r.path.startswith("/v1/chat/completions"):
                try:
                    body = r.json()
                except ValueError:
                    continue
                if model is None or body.get("model") == model:
                    out.append(body)
        return out

    # -- the API --------------------------------------------------------------------------------
    def _auth(self, req: Request) -> tuple[int, Any] | None:
        if self.key is None:
            return None
        given = req.headers.get("authorization", "")
        if given != f"Bearer {self.key}":
            shown = given.removeprefix("Bearer ")
            return _err(401, f"Incorrect API key provided: {shown[:3]}***{shown[-4:]}. You can find your API key "
                             "at https://platform.openai.com/account/api-keys.", "invalid_request_error",
                        "invalid_api_key")
        return None

    def _models(self, req: Request) -> tuple[int, Any]:
        denied = self._auth(req)
        if denied:
            return denied
        return 200, {"object": "list", "data": [{"id": m, "object": "model", "created": 1733000000,
                                                  "owned_by": "fake"} for m in self.models]}

    def _take_fault(self, model: str) -> str | None:
        with self._lock:
            for f in self._faults:
                if (f[0] is None or f[0] == model) and f[2] > 0:
                    f[2] -= 1
                    return f[1]
        return None

    def _chat(self, req: Request) -> Any:
        denied = self._auth(req)
        if denied:
            return denied
        try:
            body = req.json()
        except ValueError:
            return _err(400, "We could not parse the JSON body of your request.", "invalid_request_error", None)
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body["messages"]:
            return _err(400, "'messages' is a required property", "invalid_request_error", None, "messages")
        model = body.get("model")
        if not isinstance(model, str) or model not in self.models:
            return _err(404, f"The model `{model}` does not exist or you do not have access to it.",
                        "invalid_request_error", "model_not_found")
        if "response_format" in body and not self.json_mode:
            return _err(400, "Invalid parameter: 'response_format' is not supported by this server.",
                        "invalid_request_error", None, "response_format")
        kind = self._take_fault(model)
        if kind == "429":
            return (*_err(429, f"Rate limit reached for {model} on requests per min (RPM): Limit 3, Used 3, "
                               "Requested 1. Please try again in 1s.", "requests", "rate_limit_exceeded"),
                    {"Retry-After": "1"})
        if kind == "500":
            return _err(500, "The server had an error while processing your request. Sorry about that!",
                        "server_error", None)
        if kind == "garbage":
            return 200, b'{"id": "chatcmpl-x", "object": "chat.completion", "choices": [{"mess'
        if kind == "slow":
            time.sleep(self.fault_delay)
        elif self.delay:
            time.sleep(self.delay)
        refusal = None
        if kind == "refuse":
            content = None
            refusal = "I'm sorry, I can't help with that request."
        elif kind == "prose":
            content = "Sure! Here is a summary of the week: latency went up a bit."
        else:
            fn = self.answers.get(model)
            out = fn(body) if fn is not None else {"claims": []}
            content = out if isinstance(out, str) else json.dumps(out)
        prompt = sum(len(str(m.get("content", ""))) for m in body["messages"] if isinstance(m, dict))
        completion = len(content or refusal or "")
        return 200, {
            "id": f"chatcmpl-{len(self.http.requests)}", "object": "chat.completion", "created": int(time.time()),
            "model": model, "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": refusal},
                         "logprobs": None, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": max(1, prompt // 4), "completion_tokens": max(1, completion // 4),
                      "total_tokens": max(1, prompt // 4) + max(1, completion // 4)}}
