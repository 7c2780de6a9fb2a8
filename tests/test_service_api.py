"""The HTTP API end to end: `probe serve` in a subprocess, httpx, the loopback mail world,
on SQLite and on PostgreSQL (when PROBER_TEST_POSTGRES names a server)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from service_kit import POSTGRES, Mail, Server, database, problem

SCHEMA = json.loads(
    resources.files("prober").joinpath("schema").joinpath("result.schema.json").read_text()
)
BOUNCES = Path(__file__).parent.parent / "fixtures" / "bounces"


def validate(data: Any) -> None:
    jsonschema.Draft202012Validator(SCHEMA).validate(data)


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
def server(
    request: pytest.FixtureRequest, mail: Mail, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    where = tmp_path_factory.mktemp(request.param)
    with database(request.param, where) as db:
        args = ["--no-auth", "--allow-private", "--retry-base", "1", *mail.args()]
        with Server(db, args) as running:
            yield running


@pytest.fixture()
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def wait_for(client: httpx.Client, url: str, done: Any, seconds: float = 30) -> dict[str, Any]:
    end = time.monotonic() + seconds
    while True:
        body: dict[str, Any] = client.get(url).json()
        if done(body):
            return body
        assert time.monotonic() < end, body
        time.sleep(0.2)


# -- single probes ------------------------------------------------------------------------


def test_probe_answers_like_probe_json_and_then_from_the_cache(client: httpx.Client) -> None:
    first = client.post("/v1/probe", json={"address": "alice@example.test"}, params={"fresh": True})
    assert first.status_code == 200
    data = first.json()
    validate(data)
    assert (data["verdict"], data["reason"], data["cached"]) == ("deliverable", "accepted", False)
    assert data["attempts"][0]["host"] == "mx.example.test"
    stages = [s["stage"] for s in data["attempts"][0]["steps"]]
    assert stages[:3] == ["connect", "banner", "ehlo"] and "rcpt" in stages
    assert data["checked_at"].endswith("Z")

    again = client.post("/v1/probe", json={"address": "alice@example.test"}).json()
    validate(again)
    assert again["cached"] is True and again["checked_at"] == data["checked_at"]
    assert again["attempts"] == data["attempts"]

    fresh = client.post(
        "/v1/probe", json={"address": "alice@example.test"}, params={"fresh": "true"}
    ).json()
    assert fresh["cached"] is False


def test_probe_in_italian_explains_in_italian(client: httpx.Client) -> None:
    english = client.post("/v1/probe", json={"address": "nobody@example.test"}).json()
    italian = client.post(
        "/v1/probe", json={"address": "nobody@example.test"}, params={"lang": "it"}
    ).json()
    validate(italian)
    assert italian["verdict"] == english["verdict"] == "undeliverable"
    assert italian["reason"] == "mailbox_unknown"
    assert italian["explanation"]["lang"] == "it" and english["explanation"]["lang"] == "en"
    assert italian["summary"] != english["summary"]
    assert italian["explanation"]["meaning"] != english["explanation"]["meaning"]


def test_bad_address_is_a_result_and_a_bad_request_is_422(client: httpx.Client) -> None:
    bad = client.post("/v1/probe", json={"address": "not an address"})
    assert bad.status_code == 200
    assert (bad.json()["verdict"], bad.json()["reason"]) == ("undeliverable", "syntax")
    validate(bad.json())

    body = problem(client.post("/v1/probe", json={}), 422, "invalid-request")
    assert body["errors"][0]["loc"] == ["body", "address"]
    problem(client.post("/v1/probe", content=b"{not json", headers={
        "content-type": "application/json"}), 422, "invalid-request")
    # What a client may not choose is refused, not silently ignored.
    lifted = client.post("/v1/probe", json={"address": "a@example.test", "allow_private": True})
    assert "allow_private" in problem(lifted, 422, "invalid-request")["detail"]
    problem(client.post("/v1/probe", json={"address": "a@b.test"}, params={"lang": "fr"}),
            422, "invalid-request")


def test_probe_without_waiting_gives_a_url_to_poll(client: httpx.Client) -> None:
    started = client.post(
        "/v1/probe", json={"address": "bob@example.test"}, params={"wait": "false"}
    )
    assert started.status_code == 202
    url = started.json()["status_url"]
    assert started.headers["location"] == url
    done = wait_for(client, url, lambda b: b["state"] == "done")
    validate(done["result"])
    assert done["result"]["reason"] == "mailbox_unknown"
    problem(client.get("/v1/probe/0123456789abcdef"), 404, "not-found")


def test_a_greylisted_probe_without_waiting_is_asked_again(
    client: httpx.Client, mail: Mail
) -> None:
    address = f"grey-{uuid.uuid4().hex[:8]}@greylist.test"  # new to the shared world
    started = client.post("/v1/probe", json={"address": address}, params={"wait": "false"}).json()
    first = wait_for(client, started["status_url"], lambda b: b["state"] != "pending")
    if first["state"] == "waiting":  # the usual case: the re-probe is a second away
        assert first["result"]["reason"] == "greylisted" and first["retry_at"]
    done = wait_for(client, started["status_url"], lambda b: b["state"] == "done", 60)
    assert done["result"]["reason"] == "accepted" and done["tries"] == 2
    assert mail.greylist.seen[address] == 2


def test_probe_events_stream_the_transcript_then_the_result(client: httpx.Client) -> None:
    kinds: list[str] = []
    steps: list[dict[str, Any]] = []
    result: dict[str, Any] = {}
    with client.stream(
        "POST", "/v1/probe/events", json={"address": "carol@example.test"},
        params={"fresh": True},
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        kind = ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
                kinds.append(kind)
            elif line.startswith("data: "):
                data = json.loads(line[6:])
                if kind == "step":
                    steps.append(data["step"])
                elif kind == "result":
                    result = data
    assert kinds[0] == "mx" and kinds[-1] == "result"
    assert "connecting" in kinds
    validate(result)
    # The steps streamed are the transcript the result holds, in the same order.
    transcript = [s for a in result["attempts"] for s in a["steps"]]
    assert [s["stage"] for s in steps] == [s["stage"] for s in transcript]
    assert [s["command"] for s in steps] == [s["command"] for s in transcript]


def test_guard_holds_for_mail_hosts_the_mx_points_at(client: httpx.Client) -> None:
    # A null MX: no host to ask at all, and the answer says so.
    data = client.post("/v1/probe", json={"address": "info@nullmx.test"}).json()
    assert (data["verdict"], data["reason"]) == ("undeliverable", "null_mx")
    assert data["attempts"] == []


# -- explain and diagnose -----------------------------------------------------------------


def test_explain_a_code_a_reply_and_a_bounce(client: httpx.Client) -> None:
    code = client.get("/v1/explain", params={"q": "5.1.1"}).json()
    assert code["enhanced_code"] == "5.1.1" and code["category"] == "mailbox_unknown"
    reply = client.post(
        "/v1/explain", content="552 5.2.2 Mailbox full", headers={"content-type": "text/plain"},
        params={"lang": "it"},
    ).json()
    assert reply["category"] == "mailbox_full" and reply["lang"] == "it"
    bounce = (BOUNCES / "gmail-dsn-user-unknown.eml").read_bytes()
    got = client.post(
        "/v1/explain", content=bounce, headers={"content-type": "message/rfc822"}
    ).json()
    assert got["kind"] == "dsn"
    assert [r["explanation"]["category"] for r in got["recipients"]] == ["mailbox_unknown"]

    # The step the reply answered, as `probe explain --stage` takes it.
    asked = {"q": "554 No SMTP service here", "stage": "banner"}
    greeting = client.get("/v1/explain", params=asked)
    assert greeting.json()["category"] == "blocked_ip_reputation"
    posted = client.post(
        "/v1/explain", content="554 No SMTP service here", headers={"content-type": "text/plain"},
        params={"stage": "connect"},
    ).json()
    assert posted["category"] == "blocked_ip_reputation"
    wrong = client.get("/v1/explain", params={"q": "550", "stage": "sending"})
    problem(wrong, 422, "invalid-request")
    problem(client.get("/v1/explain"), 422, "invalid-request")
    problem(client.post("/v1/explain", content=b"   ", headers={"content-type": "text/plain"}),
            422, "invalid-request")
    problem(
        client.post("/v1/explain", content=b"x", headers={"content-type": "image/png"}),
        415, "unsupported-media-type",
    )


def test_diagnose_a_domain(client: httpx.Client) -> None:
    data = client.get("/v1/diagnose/example.test").json()
    assert data["domain"] == "example.test"
    assert [h["name"] for h in data["hosts"]] == ["mx.example.test"]
    assert isinstance(data["findings"], list)
    null = client.get("/v1/diagnose/nullmx.test").json()
    assert null["mx_status"] == "null_mx"


# -- lists --------------------------------------------------------------------------------


def test_csv_list_keeps_its_columns_and_counts_verdicts(client: httpx.Client) -> None:
    upload = (
        "Name,Email,Team\r\n"
        "Alice,alice@example.test,a\r\n"
        "Bob,bob@example.test,b\r\n"
        '"Eve, the odd one",not an address,c\r\n'
        "Dan,dan@busy.test,d\r\n"
    )
    started = client.post("/v1/lists", content=upload, headers={"content-type": "text/csv"})
    assert started.status_code == 202
    job = started.json()
    assert job["total"] == 4 and job["status_url"] == f"/v1/lists/{job['id']}"
    status = wait_for(client, job["status_url"], lambda b: b["status"] == "done")
    assert status["done"] == 4 and status["waiting"] == 0
    assert status["counts"] == {"deliverable": 1, "undeliverable": 3}
    assert status["started_at"] and status["finished_at"]

    text = client.get(job["results_url"], params={"format": "csv"}).text
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["Name"] for r in rows] == ["Alice", "Bob", "Eve, the odd one", "Dan"]
    assert [r["Team"] for r in rows] == ["a", "b", "c", "d"]
    assert [r["reason"] for r in rows] == ["accepted", "mailbox_unknown", "syntax",
                                           "mailbox_unknown"]
    lines = client.get(job["results_url"], params={"format": "jsonl"}).text.splitlines()
    results = [json.loads(line) for line in lines]
    assert [r["row"] for r in results] == [0, 1, 2, 3]
    for result in results:
        validate(result)

    assert client.delete(job["status_url"]).status_code == 204
    problem(client.get(job["status_url"]), 404, "not-found")


def test_jsonl_and_multipart_lists(client: httpx.Client) -> None:
    body = '{"address": "alice@example.test", "id": 7}\n"bob@example.test"\n'
    job = client.post(
        "/v1/lists", content=body, headers={"content-type": "application/x-ndjson"}
    ).json()
    wait_for(client, job["status_url"], lambda b: b["status"] == "done")
    got = [json.loads(x) for x in client.get(job["results_url"]).text.splitlines()]
    assert [r["address"] for r in got] == ["alice@example.test", "bob@example.test"]

    files = {"file": ("people.csv", b"email\nalice@example.test\n", "text/csv")}
    job = client.post("/v1/lists", files=files).json()
    status = wait_for(client, job["status_url"], lambda b: b["status"] == "done")
    assert status["counts"] == {"deliverable": 1}

    problem(client.post("/v1/lists", content=b"name\nx\n", headers={"content-type": "text/csv"}),
            422, "invalid-request")
    problem(client.post("/v1/lists", content=b"", headers={"content-type": "text/plain"}),
            422, "invalid-request")
    problem(client.post("/v1/lists", content=b"\xff\xfe", headers={"content-type": "text/plain"}),
            422, "invalid-request")
    problem(client.post("/v1/lists", content=b"x", headers={"content-type": "image/gif"}),
            415, "unsupported-media-type")
    # The problem's detail in the language the request asks for.
    empty = problem(client.post("/v1/lists?lang=it", content=b"",
                                headers={"content-type": "text/plain"}), 422, "invalid-request")
    assert empty["detail"] == "L’elenco non contiene alcun indirizzo."
    gif = problem(client.post("/v1/lists?lang=it", content=b"x",
                              headers={"content-type": "image/gif"}), 415, "unsupported-media-type")
    assert gif["detail"].startswith("Non si può leggere un elenco da 'image/gif'")


def test_greylisted_rows_are_probed_again_and_the_job_updated(
    client: httpx.Client, mail: Mail
) -> None:
    tag = uuid.uuid4().hex[:8]  # addresses new to the world this module shares
    body = f"grey1-{tag}@greylist.test\ngrey2-{tag}@greylist.test\nalice@example.test\n"
    job = client.post("/v1/lists", content=body, headers={"content-type": "text/plain"}).json()
    waiting = wait_for(client, job["status_url"], lambda b: b["waiting"] or b["status"] == "done")
    first = [json.loads(x) for x in client.get(job["results_url"]).text.splitlines()]
    if waiting["status"] != "done":  # the usual case: the re-probe is a second away
        assert waiting["status"] in ("running", "waiting")
        assert [r["reason"] for r in first[:2]] == ["greylisted", "greylisted"]
    final = wait_for(client, job["status_url"], lambda b: b["status"] == "done", 60)
    assert final["waiting"] == 0 and final["counts"] == {"deliverable": 3}
    again = [json.loads(x) for x in client.get(job["results_url"]).text.splitlines()]
    assert [r["reason"] for r in again] == ["accepted", "accepted", "accepted"]
    assert [r["row"] for r in again] == [0, 1, 2]
    assert mail.greylist.seen[f"grey1-{tag}@greylist.test"] == 2  # refused once, then asked
    assert mail.greylist.seen[f"grey2-{tag}@greylist.test"] == 2


# -- the server itself --------------------------------------------------------------------


def test_a_host_that_says_slow_down_is_counted_per_host(client: httpx.Client) -> None:
    data = client.post(
        "/v1/probe", json={"address": "a@slowdown.test"}, params={"fresh": True}
    ).json()
    assert data["verdict"] == "unknown"
    metrics = client.get("/metrics").text
    line = next(x for x in metrics.splitlines()
                if x.startswith('prober_host_backoffs_total{host="mx.slowdown.test"}'))
    assert float(line.rsplit(" ", 1)[1]) >= 1


def test_health_metrics_openapi_and_limits(client: httpx.Client) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    client.post("/v1/probe", json={"address": "alice@example.test"}, params={"fresh": True})
    metrics = client.get("/metrics").text
    assert 'prober_probes_total{verdict="deliverable"}' in metrics
    assert "prober_probe_seconds_bucket" in metrics
    assert "prober_queue_depth" in metrics and "prober_host_backoffs" in metrics
    spec = client.get("/openapi.json").json()
    for path in ("/v1/probe", "/v1/explain", "/v1/diagnose/{domain}", "/v1/lists",
                 "/v1/lists/{job_id}", "/v1/lists/{job_id}/results"):
        assert path in spec["paths"], path
    asked = {p["name"] for p in spec["paths"]["/v1/explain"]["get"]["parameters"]}
    assert {"q", "lang", "stage"} <= asked
    docs = client.get("/docs").text
    assert "/static-offline-docs/swagger-ui-bundle.js" in docs and "cdn." not in docs
    assert client.get("/static-offline-docs/swagger-ui-bundle.js").status_code == 200
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    assert client.get("/v1/schema/result.json").json() == SCHEMA
    problem(client.get("/v1/nothing-here"), 404, "not-found")

    big = {"address": "a" * 2_000_000}
    problem(client.post("/v1/probe", json=big), 413, "too-large")
    too_many = "x@example.test\n" * (21 * 1024 * 1024 // 15)
    problem(client.post("/v1/lists", content=too_many, headers={"content-type": "text/plain"}),
            413, "too-large")
