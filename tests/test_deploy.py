"""The Vercel client against the loopback fake: auth, team id, error bodies, 429, 5xx."""

from __future__ import annotations

import time
from typing import Iterator

import pytest

from fake_vercel import FakeVercel
from muse.publishing.deploy import VercelAPIError, VercelClient


@pytest.fixture(scope="module")
def vercel() -> Iterator[FakeVercel]:
    fake = FakeVercel(team_id="team_acme42")
    yield fake
    fake.close()


@pytest.fixture
def fake(vercel: FakeVercel) -> FakeVercel:
    vercel.reset()
    return vercel


def _client(fake: FakeVercel, *, token: str | None = None, team: str = "team_acme42", **kw) -> VercelClient:
    return VercelClient(api_url=fake.url, token=token or fake.token, team_id=team, timeout=2, **kw)


def test_bearer_token_and_team_id_on_every_call(fake: FakeVercel) -> None:
    dep_id = fake.seed("f" * 40)
    with_team = _client(fake)
    assert with_team.request("GET", f"/v13/deployments/{dep_id}")["readyState"] == "READY"
    req = fake.requests[-1]
    assert req.headers["authorization"] == f"Bearer {fake.token}" and "teamId=team_acme42" in req.path
    with pytest.raises(VercelAPIError) as exc:
        _client(fake, team="").request("GET", f"/v13/deployments/{dep_id}")
    assert exc.value.status == 403 and exc.value.code == "forbidden"


def test_error_body_is_one_line_without_the_token(fake: FakeVercel) -> None:
    with pytest.raises(VercelAPIError) as exc:
        _client(fake, token="wrong-secret-token").request("GET", "/v13/deployments/dpl_x")
    assert exc.value.message == "Vercel API GET /v13/deployments/dpl_x: HTTP 403 forbidden: Not authorized"
    assert "wrong-secret-token" not in exc.value.message
    with pytest.raises(VercelAPIError, match="HTTP 404 not_found: Deployment not found"):
        _client(fake).request("GET", "/v13/deployments/dpl_missing")
    with pytest.raises(VercelAPIError, match="HTTP 400 bad_request: Invalid request: missing required property"):
        _client(fake).request("POST", "/v13/deployments", json={"target": "production"})


def test_429_waits_for_retry_after_then_succeeds(fake: FakeVercel) -> None:
    waits: list[float] = []
    fake.rate_limit_next, fake.retry_after = 2, "3"
    out = _client(fake, sleep=waits.append).request("GET", "/v6/deployments", params={"projectId": "banterblogs"})
    assert out["deployments"] == [] and waits == [3.0, 3.0]


def test_429_past_the_deadline_fails_at_once(fake: FakeVercel) -> None:
    fake.rate_limit_next, fake.retry_after = 1, "120"
    t0 = time.monotonic()
    with pytest.raises(VercelAPIError) as exc:
        _client(fake, deadline=time.monotonic() + 5).request("GET", "/v6/deployments")
    assert exc.value.status == 429 and "retry after 120s is past the time left" in exc.value.message
    assert time.monotonic() - t0 < 2


def test_429_with_only_the_reset_header_waits_until_the_reset(fake: FakeVercel) -> None:
    waits: list[float] = []
    fake.rate_limit_next, fake.retry_after = 1, None  # X-RateLimit-Reset (epoch seconds), no Retry-After
    _client(fake, sleep=waits.append).request("GET", "/v6/deployments")
    assert len(waits) == 1 and 0 < waits[0] <= 1.0


def test_a_create_is_never_retried_by_the_client(fake: FakeVercel) -> None:
    """A 5xx on create may hide a deployment that exists: the caller looks before retrying."""
    fake.lose_creates = 1
    with pytest.raises(VercelAPIError) as exc:
        _client(fake, sleep=lambda s: None).request(
            "POST", "/v13/deployments", json={"name": "banterblogs"}, retry=False)
    assert exc.value.status == 502 and len(fake.created_bodies) == 1 and len(fake.deployments) == 1


def test_server_errors_are_retried_three_times(fake: FakeVercel) -> None:
    dep_id = fake.seed("f" * 40)
    waits: list[float] = []
    fake.fail_gets = 2
    assert _client(fake, sleep=waits.append).request("GET", f"/v13/deployments/{dep_id}")["id"] == dep_id
    assert waits == [0.5, 1.0]
    fake.fail_gets = 3
    with pytest.raises(VercelAPIError, match="HTTP 500 after 3 attempts: internal_server_error"):
        _client(fake, sleep=lambda s: None).request("GET", f"/v13/deployments/{dep_id}")


def test_unreachable_api_is_an_error_not_a_hang() -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    client = VercelClient(api_url=f"http://127.0.0.1:{port}", token="t", timeout=1, sleep=lambda s: None)
    with pytest.raises(VercelAPIError, match="failed after 3 attempts: ConnectError"):
        client.request("GET", "/v6/deployments")


@pytest.mark.parametrize("url", ["git@github.com:acme/banterblogs.git", "https://github.com/acme/banterblogs",
                                 "ssh://git@github.com/acme/banterblogs.git", "https://github.com/acme/banterblogs.git/"])
def test_github_repo_comes_from_the_clones_remote(url: str, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    from muse.config import load_settings
    from muse.publishing.deploy import github_repo

    subprocess.run(["git", "init", "-q", str(tmp_path / "c")], check=True)
    subprocess.run(["git", "-C", str(tmp_path / "c"), "remote", "add", "origin", url], check=True)
    monkeypatch.setenv("MUSE_REPOS_BANTERBLOGS_PATH", str(tmp_path / "c"))
    assert github_repo(load_settings()) == ("acme", "banterblogs")
    monkeypatch.setenv("MUSE_VERCEL_GIT_REPO", "other/site")
    assert github_repo(load_settings()) == ("other", "site")
