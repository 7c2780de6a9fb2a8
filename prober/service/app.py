"""The HTTP API and the web page: a FastAPI app around one :class:`~prober.service.core.Service`.

``create_app(settings)`` builds it; uvicorn serves it (``probe serve``). Every route is
under ``/v1``; ``/openapi.json`` describes them and ``/docs`` lets a person try them.
"""


import asyncio
import contextlib
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from prober import __version__
from prober.errors import InputError, ProberError
from prober.explanation.catalogue import Stage
from prober.explanation.explain import explain_text
from prober.numbers import is_ascii_digits
from prober.service.auth import Caller, RateLimiter, bearer, retry_after
from prober.service.core import Service, iso
from prober.service.engine import Engine, ProbeEvent
from prober.service.events import event_dict
from prober.service.lists import csv_header, csv_row, kind_of, parse_upload
from prober.service.problems import Problem, status_slug
from prober.service.settings import Settings
from prober.service.store import Store

Lang = Literal["en", "it"]


class ProbeRequest(BaseModel):
    """What a client may ask for: the address, and nothing that changes how it is probed."""

    model_config = ConfigDict(extra="forbid")
    address: str = Field(max_length=4096, description="The address to check.")


class Accepted(BaseModel):
    id: str
    status_url: str


class ListAccepted(BaseModel):
    id: str
    status_url: str
    results_url: str
    total: int


class ListStatus(BaseModel):
    id: str
    status: str = Field(description="queued, running, waiting (for re-probes) or done")
    total: int
    done: int = Field(description="Rows with a final result.")
    waiting: int = Field(description="Rows with a temporary answer, to be probed again.")
    pending: int
    counts: dict[str, int] = Field(description="Rows per verdict (waiting rows included).")
    created_at: str
    started_at: str | None
    finished_at: str | None
    results_url: str


def _iso(value: float | None) -> str | None:
    return None if value is None else iso(value)


class _BodyLimit:
    """413 for a body over the limit (lists have their own), before the app reads it."""

    def __init__(self, app: ASGIApp, small: int, lists: int) -> None:
        self.app = app
        self.small = small
        self.lists = lists

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "DELETE", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.lists if scope["path"].startswith("/v1/lists") else self.small
        too_big = Problem(
            "too-large",
            f"The body is larger than this server accepts here ({limit} bytes).",
            extra={"limit": limit},
        )
        for name, value in scope.get("headers", []):
            length = value.decode("latin-1")
            if name == b"content-length" and is_ascii_digits(length) and int(length) > limit:
                await too_big.response(scope["path"])(scope, receive, send)
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await too_big.response(scope["path"])(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def create_app(settings: Settings) -> FastAPI:
    store = Store(settings.db)
    limiter = RateLimiter()
    holder: dict[str, Service] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(store.migrate)
        async with contextlib.AsyncExitStack() as stack:
            options = settings.probe
            if settings.demo:
                from prober.testing.demo import demo_options, demo_world

                world = await stack.enter_async_context(demo_world())
                options = demo_options(world, options)
            engine = await stack.enter_async_context(Engine(options, settings.limits))
            service = Service(settings, store, engine)
            holder["service"] = service
            await service.start()
            try:
                yield
            finally:
                await service.stop()
                holder.clear()
        store.close()

    # FastAPIOffline: /docs with Swagger UI's files shipped in a package, not from a CDN.
    app = FastAPIOffline(
        title="prober",
        version=__version__,
        description=(
            "Check whether an address can receive mail (MX, SMTP dialogue up to RCPT TO, "
            "never DATA), explain SMTP replies and bounces, examine a domain, and check "
            "lists. Errors are RFC 9457 problem documents with a stable `type`."
        ),
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    keyed = HTTPBearer(auto_error=False, description="An API key from 'probe keys create'.")

    def service() -> Service:
        found = holder.get("service")
        if found is None:
            raise Problem("unavailable", "The service is starting or stopping; try again.")
        return found

    # -- errors --------------------------------------------------------------------------

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> Response:
        return exc.response(request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")}
            for e in exc.errors()
        ]
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
        return Problem("invalid-request", detail, extra={"errors": errors}).response(
            request.url.path
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        slug = status_slug(exc.status_code)
        problem = Problem(slug, str(exc.detail))
        problem.status = exc.status_code
        return problem.response(request.url.path)

    @app.exception_handler(InputError)
    async def _input(request: Request, exc: InputError) -> Response:
        # In the language the request asked for (?lang=it), English otherwise.
        lang = request.query_params.get("lang", "en")
        text = exc.text(lang if lang in ("en", "it") else "en")
        return Problem("invalid-request", text).response(request.url.path)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        return Problem(
            "internal", f"Unexpected {type(exc).__name__}; the server log has the details."
        ).response(request.url.path)

    @app.middleware("http")
    async def _count(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        found = holder.get("service")
        if found is not None:
            found.metrics.requests.labels(str(response.status_code)).inc()
        return response

    # -- who is asking -------------------------------------------------------------------

    async def caller(
        request: Request,
        _shown: Annotated[HTTPAuthorizationCredentials | None, Security(keyed)],
    ) -> Caller:
        # ``_shown`` only declares the scheme in OpenAPI; the header is read here, so that
        # each way of getting it wrong has its own message.
        if not settings.auth:
            return Caller(None)
        secret = bearer(request.headers.get("authorization"))
        key = await asyncio.to_thread(store.key_for, secret)
        if key is None:
            raise Problem(
                "unauthorized",
                "This API key is not known or was revoked.",
                headers={"WWW-Authenticate": 'Bearer realm="prober", error="invalid_token"'},
            )
        wait = limiter.take(key.id, key.rate_per_minute or settings.rate_per_minute)
        if wait is not None:
            raise Problem(
                "rate-limited",
                f"This key may send {key.rate_per_minute or settings.rate_per_minute} "
                "requests a minute; wait before sending more.",
                headers=retry_after(wait),
            )
        return Caller(key)

    Who = Annotated[Caller, Depends(caller)]

    async def charge(who: Caller, amount: int) -> None:
        """Count ``amount`` addresses against the key's daily quota, or refuse."""
        if who.key is None:
            return
        quota = who.key.daily_quota or settings.daily_quota
        today = dt.datetime.now(dt.UTC)
        day = today.strftime("%Y-%m-%d")
        if await asyncio.to_thread(store.use, who.key.id, day, amount, quota) is None:
            midnight = (today + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0)
            used = await asyncio.to_thread(store.used, who.key.id, day)
            raise Problem(
                "quota-exceeded",
                f"This key may probe {quota} addresses a day (UTC); {used} are used and "
                f"this request needs {amount}.",
                headers=retry_after((midnight - today).total_seconds()),
                extra={"quota": quota, "used": used},
            )

    # -- single probes -------------------------------------------------------------------

    @app.post(
        "/v1/probe",
        summary="Probe one address",
        responses={
            200: {"description": "The result object, as `probe --json` prints it; its JSON "
                  "schema is at /v1/schema/result.json."},
            202: {"model": Accepted},
        },
        tags=["probe"],
    )
    async def probe_one(
        body: ProbeRequest,
        who: Who,
        request: Request,
        wait: bool = True,
        fresh: bool = False,
        lang: Lang = "en",
    ) -> Response:
        """The same object `probe --json` prints (schema: `result.schema.json`), plus
        `cached` and `checked_at`. A bad address is a result (verdict `undeliverable`,
        reason `syntax`). With `wait=false`: 202 and a URL to poll."""
        svc = service()
        await charge(who, 1)
        if not wait:
            probe_id = await svc.submit_later(body.address, lang, fresh, who.key_id)
            url = f"/v1/probe/{probe_id}"
            return JSONResponse(
                {"id": probe_id, "status_url": url}, 202, headers={"Location": url}
            )
        try:
            async with asyncio.timeout(settings.probe.deadline + 10):
                data = await svc.check(body.address, lang, fresh)
        except TimeoutError:
            raise Problem(
                "deadline", f"No answer within {settings.probe.deadline + 10:g} seconds."
            ) from None
        return JSONResponse(data)

    @app.get("/v1/probe/{probe_id}", summary="A probe asked for with wait=false", tags=["probe"])
    async def probe_status(probe_id: str, who: Who) -> Response:
        record = await asyncio.to_thread(store.probe_record, probe_id)
        if record is None or (who.key is not None and record.key_id != who.key_id):
            raise Problem("not-found", f"No probe {probe_id} (or not one of this key's).")
        result = json.loads(record.result) if record.result else None
        return JSONResponse({
            "id": record.id,
            "address": record.address,
            "state": record.state,
            "tries": record.tries,
            "retry_at": _iso(record.retry_at),
            "result": result,
        })

    @app.post(
        "/v1/probe/events",
        summary="Probe one address, watching it happen (server-sent events)",
        tags=["probe"],
        response_class=StreamingResponse,
    )
    async def probe_events(
        body: ProbeRequest, who: Who, fresh: bool = False, lang: Lang = "en"
    ) -> StreamingResponse:
        """`text/event-stream`: events `mx`, `connecting` and `step` as the probe
        goes, then one `result` event holding the result object."""
        svc = service()
        await charge(who, 1)
        queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()

        def on_event(event: ProbeEvent) -> None:
            queue.put_nowait((event.kind, event_dict(event, lang)))

        async def run() -> None:
            try:
                data = await svc.check(body.address, lang, fresh, on_event)
                queue.put_nowait(("result", data))
            except Exception as exc:
                problem = Problem("internal", f"Unexpected {type(exc).__name__}.")
                queue.put_nowait(("error", json.loads(bytes(problem.response().body))))

        async def frames() -> AsyncIterator[bytes]:
            # Held by the service, not by this response: a client that goes away does not
            # stop the probe, whose answer is cached for the next asker.
            svc.keep(asyncio.ensure_future(run()))
            while True:
                try:
                    async with asyncio.timeout(15):
                        kind, data = await queue.get()
                except TimeoutError:
                    yield b": still probing\n\n"
                    continue
                text = json.dumps(data, ensure_ascii=False)
                yield f"event: {kind}\ndata: {text}\n\n".encode()
                if kind in ("result", "error"):
                    break

        return StreamingResponse(
            frames(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    # -- explain and diagnose ------------------------------------------------------------

    @app.get("/v1/explain", summary="Explain a reply code or reply text", tags=["explain"])
    async def explain_get(
        who: Who,
        q: Annotated[str, Query(min_length=1, max_length=4096)],
        lang: Lang = "en",
        stage: Stage | None = None,
    ) -> Response:
        """The `probe explain --json` object for `550`, `5.1.1` or a pasted reply;
        `stage` is the step it answered (`rcpt`, `banner` …), as `probe explain --stage`."""
        return JSONResponse(explain_text(q, lang, stage=stage).to_dict())

    @app.post(
        "/v1/explain",
        summary="Explain a pasted reply or a whole bounce",
        tags=["explain"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "text/plain": {"schema": {"type": "string"}},
                    "message/rfc822": {"schema": {"type": "string"}},
                },
            }
        },
    )
    async def explain_post(
        request: Request, who: Who, lang: Lang = "en", stage: Stage | None = None
    ) -> Response:
        """`text/plain` holding one line: the explanation of that reply (read as the answer
        to `stage` when given). A whole bounce (`message/rfc822`, or text of several
        lines): the bounce report, every failed recipient explained — as `probe explain
        FILE --json` prints them."""
        media = request.headers.get("content-type", "text/plain").split(";")[0].strip().lower()
        if media not in ("text/plain", "message/rfc822"):
            raise Problem(
                "unsupported-media-type",
                "Send the reply or bounce as text/plain or message/rfc822.",
            )
        data = await request.body()
        if not data.strip():
            raise Problem("invalid-request", "The body is empty: paste a reply or a bounce.")
        text = data.decode("utf-8", "replace").strip()
        if media == "text/plain" and "\n" not in text:
            return JSONResponse(explain_text(text, lang, stage=stage).to_dict())
        from prober.explanation.bounce import parse_bounce

        bounce = await asyncio.to_thread(parse_bounce, data, lang)
        return JSONResponse(bounce.to_dict())

    @app.get(
        "/v1/diagnose/{domain}", summary="Examine a domain's receiving side", tags=["diagnose"]
    )
    async def diagnose_domain(domain: str, who: Who, lang: Lang = "en") -> Response:
        """The `probe diagnose --json` object."""
        from prober.diagnose.domain import DiagnoseOptions, diagnose

        svc = service()
        await charge(who, 1)
        popts = svc.engine.options
        options = DiagnoseOptions(
            dns=popts.dns,
            port=popts.port,
            helo=popts.helo,
            timeout=min(popts.timeout, 15.0),
            deadline=popts.deadline,
            allow_private=popts.allow_private,
            tls_ca_file=popts.tls_ca_file,
            lang=lang,
            source_address=popts.source_address,
            proxy=popts.proxy,
        )
        try:
            result = await diagnose(domain, options)
        except ProberError as exc:
            raise Problem("invalid-request", exc.text(lang)) from None
        return JSONResponse(result.to_dict())

    # -- lists ---------------------------------------------------------------------------

    @app.post(
        "/v1/lists",
        summary="Check a list of addresses",
        status_code=202,
        response_model=ListAccepted,
        tags=["lists"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "text/csv": {"schema": {"type": "string"}},
                    "application/x-ndjson": {"schema": {"type": "string"}},
                    "text/plain": {"schema": {"type": "string"}},
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "properties": {"file": {"type": "string", "format": "binary"}},
                        }
                    },
                },
            }
        },
    )
    async def lists_create(
        request: Request,
        who: Who,
        column: Annotated[str | None, Query(max_length=200)] = None,
        lang: Lang = "en",
    ) -> Response:
        """A CSV (the address column found by name, or `?column=`), JSON lines (objects
        with `address` or `email`, or strings) or plain lines. 202 with the job's URLs."""
        svc = service()
        media = request.headers.get("content-type", "")
        if media.lower().startswith("multipart/form-data"):
            form = await request.form(max_files=1, max_fields=5)
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise Problem("invalid-request", "The multipart upload needs a 'file' part.")
            data = await upload.read()
            kind = kind_of(upload.content_type or "", upload.filename)
            given = form.get("column")
            column = column or (given if isinstance(given, str) and given else None)
        else:
            data = await request.body()
            try:
                kind = kind_of(media)
            except InputError as exc:
                raise Problem("unsupported-media-type", exc.text(lang)) from None
        parsed = parse_upload(data, kind, column, settings.max_list_rows)
        await charge(who, len(parsed.rows))
        job_id = uuid.uuid4().hex
        total = await asyncio.to_thread(
            store.add_job, job_id, who.key_id, lang, parsed.kind, parsed.columns, parsed.rows
        )
        svc.run_job(job_id)
        status_url = f"/v1/lists/{job_id}"
        return JSONResponse(
            {
                "id": job_id,
                "status_url": status_url,
                "results_url": f"{status_url}/results",
                "total": total,
            },
            202,
            headers={"Location": status_url},
        )

    async def own_job(job_id: str, who: Who) -> Any:
        job = await asyncio.to_thread(store.job, job_id)
        if job is None or (who.key is not None and job.key_id != who.key_id):
            raise Problem("not-found", f"No list {job_id} (or not one of this key's).")
        return job

    @app.get(
        "/v1/lists/{job_id}", summary="Progress of a list", response_model=ListStatus,
        tags=["lists"],
    )
    async def lists_status(job_id: str, who: Who) -> Response:
        job = await own_job(job_id, who)
        counts = await asyncio.to_thread(store.counts, job_id)
        states = counts["states"]
        return JSONResponse({
            "id": job.id,
            "status": job.status,
            "total": job.total,
            "done": states.get("done", 0),
            "waiting": states.get("waiting", 0),
            "pending": states.get("pending", 0),
            "counts": counts["verdicts"],
            "created_at": iso(job.created_at),
            "started_at": _iso(job.started_at),
            "finished_at": _iso(job.finished_at),
            "results_url": f"/v1/lists/{job.id}/results",
        })

    @app.get("/v1/lists/{job_id}/results", summary="Results of a list, streamed", tags=["lists"])
    async def lists_results(
        job_id: str, who: Who, format: Literal["csv", "jsonl"] = "jsonl"
    ) -> StreamingResponse:
        """Every row that has a result so far, in upload order. CSV repeats the uploaded
        columns and adds the result's; JSON lines are result objects with `row`."""
        job = await own_job(job_id, who)

        async def lines() -> AsyncIterator[bytes]:
            if format == "csv":
                yield csv_header(job.columns).encode()
            after = -1
            while True:
                rows = await asyncio.to_thread(store.result_rows, job_id, after, 1000)
                if not rows:
                    return
                for row_no, cells_text, result_text in rows:
                    cells, result = json.loads(cells_text), json.loads(result_text)
                    if format == "csv":
                        yield csv_row(job.kind, job.columns, cells, result).encode()
                    else:
                        line = {"row": row_no, **result}
                        yield (json.dumps(line, ensure_ascii=False) + "\n").encode()
                after = rows[-1][0]

        media = "text/csv; charset=utf-8" if format == "csv" else "application/x-ndjson"
        name = f"prober-{job_id}.{format}"
        return StreamingResponse(
            lines(), media_type=media,
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    @app.delete(
        "/v1/lists/{job_id}", summary="Cancel a list and remove it", status_code=204,
        tags=["lists"],
    )
    async def lists_delete(job_id: str, who: Who) -> Response:
        await own_job(job_id, who)
        await service().cancel_job(job_id)
        return Response(status_code=204)

    # -- the server itself ---------------------------------------------------------------

    @app.get("/healthz", summary="Liveness and readiness", tags=["server"])
    async def healthz() -> Response:
        """200 when the engine runs and the database answers; 503 otherwise."""
        if "service" not in holder:
            return JSONResponse({"status": "starting", "version": __version__}, 503)
        try:
            await asyncio.to_thread(store.ping)
        except Exception as exc:
            body = {"status": "database unavailable", "detail": type(exc).__name__}
            return JSONResponse({**body, "version": __version__}, 503)
        return JSONResponse({"status": "ok", "version": __version__})

    schema_text = resources.files("prober").joinpath("schema", "result.schema.json").read_text(
        encoding="utf-8"
    )

    @app.get("/v1/schema/result.json", summary="The JSON schema of a result", tags=["server"])
    async def result_schema() -> Response:
        return Response(schema_text, media_type="application/schema+json")

    @app.get("/v1/config", summary="What the web page needs to know", tags=["server"])
    async def config() -> Response:
        return JSONResponse({
            "auth": settings.auth,
            "version": __version__,
            "max_list_bytes": settings.max_list_bytes,
        })

    @app.get("/metrics", summary="Prometheus metrics", tags=["server"])
    async def metrics() -> Response:
        svc = service()
        return Response(generate_latest(svc.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    static = resources.files("prober.service").joinpath("static")
    index = static.joinpath("index.html").read_text(encoding="utf-8")

    @app.get("/", include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(index, headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    app.add_middleware(_BodyLimit, small=settings.max_body, lists=settings.max_list_bytes)
    if settings.cors_origins:  # outermost, so that refusals carry CORS headers too
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
            max_age=600,
        )
    return app
