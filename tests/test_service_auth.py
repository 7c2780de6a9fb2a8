"""Keys, rate limits, quotas, CORS and the private-address guard, through the real server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from service_kit import POSTGRES, Mail, Server, command, database, keys, problem

from prober.service.store import Store


@pytest.fixture(scope="module")
def mail() -> Iterator[Mail]:
    with Mail() as world:
        yield world


@pytest.fixture(
    scope="module",
    params=[
        "sqlite",
        pytest.param(
            "postgresql",
            marks=pytest.mark.skipif(POSTGRES is None, reason="PROBER_TEST_POSTGRES is not set"),
        ),
    ],
)
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with database(request.param, tmp_path_factory.mktemp(request.param)) as url:
        yield url


@pytest.fixture(scope="module")
def secrets(db: str) -> dict[str, str]:
    made = {"main": keys(db, "create", "main")}  # through the command, as an operator would
    store = Store(db)
    try:
        made["slow"] = store.create_key("slow", rate_per_minute=3)[1]
        made["small"] = store.create_key("small", daily_quota=2)[1]
        made["gone"] = store.create_key("gone")[1]
        made["other"] = store.create_key("other")[1]
    finally:
        store.close()
    keys(db, "revoke", "gone")
    return made


@pytest.fixture(scope="module")
def server(db: str, mail: Mail, secrets: dict[str, str]) -> Iterator[Server]:
    # No --allow-private: the world's mail hosts are on 127.0.0.0/8 and must stay untouched.
    args = ["--cors-origin", "https://shop.test", *mail.args()]
    with Server(db, args) as running:
        yield running


def auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_keys_are_stored_hashed_and_listed_without_secrets(
    db: str, secrets: dict[str, str]
) -> None:
    listing = keys(db, "list")
    for name in ("main", "slow", "small", "gone"):
        assert name in listing
    assert "revoked" in listing.splitlines()[-1] or "revoked" in listing
    for secret in secrets.values():
        assert secret.startswith("prb_") and secret not in listing
    if db.startswith("sqlite"):
        stored = Path(db.removeprefix("sqlite:///")).read_bytes()
        for secret in secrets.values():
            assert secret.encode() not in stored


def test_a_key_is_needed_and_must_be_valid(server: Server, secrets: dict[str, str]) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        body = {"address": "alice@example.test"}
        missing = c.post("/v1/probe", json=body)
        problem(missing, 401, "unauthorized")
        assert missing.headers["www-authenticate"].startswith("Bearer")
        problem(c.post("/v1/probe", json=body, headers={"Authorization": "Basic eDp5"}),
                401, "unauthorized")
        problem(c.post("/v1/probe", json=body, headers=auth("prb_made-up")), 401, "unauthorized")
        problem(c.post("/v1/probe", json=body, headers=auth(secrets["gone"])), 401, "unauthorized")
        problem(c.get("/v1/explain", params={"q": "550"}), 401, "unauthorized")
        # Open to all: health, the page, the description of the API.
        assert c.get("/healthz").status_code == 200
        assert c.get("/").status_code == 200
        assert c.get("/openapi.json").status_code == 200
        assert c.get("/v1/explain", params={"q": "550"}, headers=auth(secrets["main"])).json()[
            "code"
        ] == 550


def test_the_guard_refuses_private_mail_hosts_and_no_request_lifts_it(
    server: Server, secrets: dict[str, str], mail: Mail
) -> None:
    before = len(mail.example.commands)
    with httpx.Client(base_url=server.url, timeout=30, headers=auth(secrets["main"])) as c:
        data = c.post(
            "/v1/probe", json={"address": "alice@example.test"}, params={"fresh": True}
        ).json()
        assert (data["verdict"], data["reason"]) == ("unknown", "private_address")
        assert data["attempts"][0]["outcome"] == "guard"
        lifted = c.post("/v1/probe", json={"address": "alice@example.test",
                                           "allow_private": True})
        problem(lifted, 422, "invalid-request")
        job = c.post("/v1/lists", content="alice@example.test\n",
                     headers={"content-type": "text/plain"}).json()
        import time

        for _ in range(100):
            if c.get(job["status_url"]).json()["status"] == "done":
                break
            time.sleep(0.1)
        row = c.get(job["results_url"]).json()
        assert row["reason"] == "private_address"
    assert len(mail.example.commands) == before  # not one command reached the mail server


def test_rate_limit_gives_429_with_retry_after(server: Server, secrets: dict[str, str]) -> None:
    with httpx.Client(base_url=server.url, timeout=30, headers=auth(secrets["slow"])) as c:
        codes = [c.get("/v1/explain", params={"q": "550"}).status_code for _ in range(3)]
        assert codes == [200, 200, 200]
        limited = c.get("/v1/explain", params={"q": "550"})
        problem(limited, 429, "rate-limited")
        assert 1 <= int(limited.headers["retry-after"]) <= 20


def test_daily_quota_counts_addresses(server: Server, secrets: dict[str, str]) -> None:
    with httpx.Client(base_url=server.url, timeout=30, headers=auth(secrets["small"])) as c:
        body = {"address": "x@nullmx.test"}
        assert c.post("/v1/probe", json=body).status_code == 200
        # A list of two would pass the quota; the one left is not enough.
        over = c.post("/v1/lists", content="a@nullmx.test\nb@nullmx.test\n",
                      headers={"content-type": "text/plain"})
        data = problem(over, 429, "quota-exceeded")
        assert data["quota"] == 2 and data["used"] == 1
        assert int(over.headers["retry-after"]) <= 86400
        assert c.post("/v1/probe", json=body).status_code == 200
        problem(c.post("/v1/probe", json=body), 429, "quota-exceeded")
        # Explanations cost nothing.
        assert c.get("/v1/explain", params={"q": "421"}).status_code == 200


def test_lists_belong_to_their_key(server: Server, secrets: dict[str, str]) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        job = c.post("/v1/lists", content="x@nullmx.test\n", headers={
            "content-type": "text/plain", **auth(secrets["main"])}).json()
        problem(c.get(job["status_url"], headers=auth(secrets["other"])), 404, "not-found")
        problem(c.delete(job["status_url"], headers=auth(secrets["other"])), 404, "not-found")
        assert c.get(job["status_url"], headers=auth(secrets["main"])).status_code == 200


def test_cors_allows_only_the_listed_origins(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        ask = {"Access-Control-Request-Method": "POST",
               "Access-Control-Request-Headers": "authorization,content-type"}
        yes = c.options("/v1/probe", headers={"Origin": "https://shop.test", **ask})
        assert yes.status_code == 200
        assert yes.headers["access-control-allow-origin"] == "https://shop.test"
        no = c.options("/v1/probe", headers={"Origin": "https://evil.test", **ask})
        assert "access-control-allow-origin" not in no.headers
        plain = c.get("/healthz", headers={"Origin": "https://evil.test"})
        assert "access-control-allow-origin" not in plain.headers


def test_no_auth_is_refused_on_a_public_bind(tmp_path: Path) -> None:
    code, _out, err = command("serve", "--no-auth", "--host", "0.0.0.0",
                              "--db", f"sqlite:///{tmp_path / 'x.db'}")
    assert code == 2
    assert "--no-auth" in err and "loopback" in err
    assert "Traceback" not in err
    assert not (tmp_path / "x.db").exists()


def test_keys_cli_errors_are_one_line(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'k.db'}"
    keys(db, "create", "one")
    again = command("keys", "create", "one", "--db", db)
    assert again[0] == 2 and "exists already" in again[2]
    revoke = command("keys", "revoke", "none", "--db", db)
    assert revoke[0] == 2 and "No active key" in revoke[2]
    bad = command("keys", "list", "--db", "mysql://x")
    assert bad[0] == 2 and "not supported" in bad[2]
    for _code, _out, err in (again, revoke, bad):
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_an_unreachable_database_is_one_clear_line(tmp_path: Path) -> None:
    code, _out, err = command("serve", "--db", "postgresql://u:secret@127.0.0.1:1/nothing")
    assert code == 2
    assert "Cannot open the database postgresql://u:***@127.0.0.1:1/nothing" in err
    assert "secret" not in err and "Traceback" not in err
