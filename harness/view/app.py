"""The `pactjury view` web app (Starlette): pages over the store and one write, a reviewer's label.

The server listens on the loopback interface only, but any page the browser has open could still send it a request.
So every request must name a loopback host (no DNS rebinding), a label is accepted only with this process's random
token (which a cross-site page cannot read) and, when the browser says where the request comes from (Origin,
Sec-Fetch-Site), only from the app's own pages; and no other site may frame the app.

The store is opened per request and closed at once, so `pactjury run` can write between two page loads; a lock
keeps this process to one connection at a time. A label is written exactly as `review import` writes a file's rows.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from harness.errors import PactjuryError, RunNotFound

TEMPLATES = Path(__file__).with_name("templates")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
REVIEWER_COOKIE = "pactjury_reviewer"
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",  # no-referrer would make the browser send `Origin: null` with our own forms
    "cache-control": "no-store",
}


class _SecurityHeaders:
    """Adds SECURITY_HEADERS to every response (pure ASGI: nothing buffered)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for key, value in SECURITY_HEADERS.items():
                    headers[key] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _environment() -> Environment:
    from harness.report import _environment as report_environment

    env = report_environment()  # the report's filters (pct, num, when, ...), autoescape on
    env.loader = FileSystemLoader(str(TEMPLATES))
    env.undefined = StrictUndefined
    return env


def _local_path(value: str) -> str:
    """Where to go after a label: a path of this app only, never another site."""
    return value if value.startswith("/runs/") and "//" not in value and "\\" not in value else "/"


class ViewApp:
    """The routes and their shared state: the store path, the CSRF token, the reviewer's default name."""

    def __init__(self, db: Path, token: str | None = None, reviewer: str | None = None) -> None:
        self.db = Path(db)
        self.token = token or secrets.token_urlsafe(32)
        self.reviewer = reviewer
        self.env = _environment()
        self.lock = threading.Lock()  # one DuckDB connection at a time in this process

    # ------------------------------------------------------------ plumbing

    def _render(self, request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
        reviewer = request.cookies.get(REVIEWER_COOKIE) or self.reviewer or ""
        html = self.env.get_template(name).render(
            token=self.token,
            reviewer=reviewer,
            path=request.url.path,
            query=request.url.query,
            flash=request.query_params.get("done"),
            **context,
        )
        return HTMLResponse(html, status_code=status)

    def _error(self, request: Request, message: str, status: int) -> HTMLResponse:
        return self._render(request, "error.html.j2", dict(message=message, status=status), status)

    def _read(self, request: Request, name: str, build: Callable[[Any], dict[str, Any]]) -> HTMLResponse:
        from harness.store import Store

        try:
            with self.lock, Store(self.db, read_only=True) as store:
                context = build(store)
        except RunNotFound as exc:
            return self._error(request, str(exc), 404)
        except PactjuryError as exc:
            return self._error(request, str(exc), 400)
        return self._render(request, name, context)

    # ------------------------------------------------------------ pages

    def runs(self, request: Request) -> Response:
        from harness.view.pages import runs_page

        return self._read(request, "runs.html.j2", runs_page)

    def run(self, request: Request) -> Response:
        from harness.view.pages import run_page

        return self._read(request, "run.html.j2", lambda s: run_page(s, request.path_params["run_id"]))

    def queue(self, request: Request) -> Response:
        from harness.view.pages import queue_page

        return self._read(request, "items.html.j2", lambda s: queue_page(s, request.path_params["run_id"]))

    def audit(self, request: Request) -> Response:
        from harness.view.pages import DEFAULT_AUDIT, audit_page

        try:
            n = int(request.query_params.get("n", DEFAULT_AUDIT))
            seed = int(request.query_params.get("seed", 0))
        except ValueError:
            return self._error(request, "n and seed must be whole numbers", 400)
        return self._read(request, "items.html.j2", lambda s: audit_page(s, request.path_params["run_id"], n, seed))

    def item(self, request: Request) -> Response:
        from harness.view.pages import item_page

        q = request.query_params
        return self._read(
            request,
            "items.html.j2",
            lambda s: item_page(s, request.path_params["run_id"], q.get("case", ""), q.get("clause", "")),
        )

    def clause(self, request: Request) -> Response:
        from harness.view.pages import clause_page

        return self._read(
            request,
            "clause.html.j2",
            lambda s: clause_page(s, request.path_params["run_id"], request.query_params.get("id", "")),
        )

    def calibration(self, request: Request) -> Response:
        from harness.view.pages import calibration_page

        return self._read(request, "calibration.html.j2", lambda s: calibration_page(s, request.path_params["run_id"]))

    # ------------------------------------------------------------ the one write

    def _cross_site(self, request: Request, form: Any) -> str | None:
        """Why this POST may not be the app's own form, or None."""
        if not hmac.compare_digest(str(form.get("token", "")), self.token):
            return "missing or wrong form token: reload the page and label again"
        origin = request.headers.get("origin")
        if origin is not None and origin != f"{request.url.scheme}://{request.headers.get('host', '')}":
            return f"refused a label sent from another site ({origin})"
        if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            return "refused a label sent from another site"
        return None

    async def label(self, request: Request) -> Response:
        from starlette.concurrency import run_in_threadpool

        from harness.lock import LockHeld

        form = await request.form()
        refused = self._cross_site(request, form)
        if refused:
            return self._error(request, refused, 403)
        run_id = request.path_params["run_id"]
        fields = {
            k: str(form.get(k, ""))
            for k in ("case_id", "clause_id", "label", "reviewer", "note", "selection", "audit_seed")
        }
        try:
            await run_in_threadpool(self._write_label, {**fields, "run_id": run_id})
        except PactjuryError as exc:
            return self._error(request, str(exc), 409 if isinstance(exc, LockHeld) else 400)
        back = _local_path(str(form.get("back", "")))
        anchor = f"#item-{fields['case_id']}--{fields['clause_id']}"
        response = RedirectResponse(f"{back}{'&' if '?' in back else '?'}done=1{anchor}", status_code=303)
        response.set_cookie(REVIEWER_COOKIE, fields["reviewer"].strip(), httponly=True, samesite="strict")
        return response

    def _write_label(self, fields: dict[str, str]) -> dict[str, Any]:
        from harness.lock import run_lock
        from harness.review import label_one
        from harness.store import Store

        with self.lock, run_lock(self.db, "view label"), Store(self.db) as store:
            return label_one(store, "pactjury view", fields)


def create_app(
    db: Path, token: str | None = None, reviewer: str | None = None, allowed_hosts: tuple[str, ...] = LOOPBACK_HOSTS
) -> Starlette:
    """The ASGI app over the store at `db`; `token` (random when None) guards the label form."""
    view = ViewApp(db, token, reviewer)
    routes = [
        Route("/", view.runs),
        Route("/runs/{run_id}", view.run),
        Route("/runs/{run_id}/queue", view.queue),
        Route("/runs/{run_id}/audit", view.audit),
        Route("/runs/{run_id}/item", view.item),
        Route("/runs/{run_id}/clause", view.clause),
        Route("/runs/{run_id}/calibration", view.calibration),
        Route("/runs/{run_id}/labels", view.label, methods=["POST"]),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts)), Middleware(_SecurityHeaders)],
    )
    app.state.view = view
    return app
