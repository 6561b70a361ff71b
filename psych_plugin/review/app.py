"""The review page's server: a Starlette app over one `ReviewStore`.

Routes: `/` the page and `/static/*` its script and style (package data, no build step, nothing
from a CDN); `GET /api/state` the file, the schema's fields and categories, progress and the
row index; `GET /api/rows/{line}` one row with its passage and notes; `POST /api/rows/{line}`
a decision `{"action", "base", "sha", "row"}`, answered 200 (recorded), 409 (the row changed in
another tab, or the input changed: the current row comes back), 422 (the row breaks the schema:
the validator's lines come back), 400 or 404.

Only 127.0.0.1 is served, and only requests addressed to it by that name or `localhost` (a
rebinding page elsewhere cannot reach it); a decision must be sent as JSON, which a page on
another origin cannot do without a preflight this app never grants.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..dataset.schema import categories, load_schema
from ..problems import UsageError
from .sources import Sources
from .store import ACTIONS, STATUSES, Conflict, Rejected, ReviewStore

STATIC = Path(__file__).resolve().parent / "static"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]


def _no_store(response: Response) -> Response:
    # The page and its state are live: a reload must never show a cached decision.
    response.headers["Cache-Control"] = "no-store"
    return response


def create_app(store: ReviewStore, sources: Sources, hosts: list[str] | None = None) -> Starlette:
    lock = threading.Lock()  # one decision at a time: journal order is decision order
    schema = load_schema()

    def progress() -> dict[str, int]:
        return store.counts()

    def row_view(line: int) -> dict[str, Any]:
        view = store.view(line)
        view["source"] = sources.get(line, store.by_line[line].data).to_dict()
        return view

    async def index(_: Request) -> Response:
        return _no_store(FileResponse(STATIC / "index.html", media_type="text/html"))

    async def state(_: Request) -> Response:
        with lock:
            body = {
                "input": str(store.rows_path),
                "output": str(store.output),
                "fields": list(schema.get("properties", {})),
                "required": list(schema.get("required", [])),
                "categories": list(categories()),
                "statuses": list(STATUSES),
                "progress": progress(),
                "index": store.index(),
                "replay": {
                    "stale": store.replay.stale,
                    "moved": store.replay.moved,
                    "torn": store.replay.torn,
                },
            }
        return _no_store(JSONResponse(body))

    def _line(request: Request) -> int | None:
        try:
            line = int(request.path_params["line"])
        except ValueError:
            return None
        return line if line in store.by_line else None

    async def get_row(request: Request) -> Response:
        line = _line(request)
        if line is None:
            return JSONResponse({"error": "no such row"}, status_code=404)
        with lock:
            return _no_store(JSONResponse(row_view(line)))

    async def post_row(request: Request) -> Response:
        line = _line(request)
        if line is None:
            return JSONResponse({"error": "no such row"}, status_code=404)
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return JSONResponse({"error": "send the decision as application/json"}, 415)
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "the body is not JSON"}, status_code=400)
        if not isinstance(body, dict):
            return JSONResponse({"error": "the body must be a JSON object"}, status_code=400)
        action, base = body.get("action"), body.get("base")
        if action not in ACTIONS or not isinstance(base, int) or isinstance(base, bool):
            return JSONResponse(
                {"error": f"expected action (one of {', '.join(ACTIONS)}) and base (an integer)"},
                status_code=400,
            )
        sha = body.get("sha")
        with lock:
            try:
                store.decide(
                    line, action, base, sha if isinstance(sha, str) else None, body.get("row")
                )
            except Conflict as e:
                return JSONResponse(
                    {"error": str(e), "row": row_view(line), "progress": progress()}, 409
                )
            except Rejected as e:
                return JSONResponse(
                    {"error": "the row breaks the schema", "problems": e.problems}, 422
                )
            except ValueError as e:
                return JSONResponse({"error": str(e)}, status_code=400)
            except OSError as e:
                return JSONResponse({"error": f"could not save: {e}"}, status_code=500)
            return JSONResponse({"row": row_view(line), "progress": progress()})

    routes = [
        Route("/", index),
        Route("/api/state", state),
        Route("/api/rows/{line}", get_row, methods=["GET"]),
        Route("/api/rows/{line}", post_row, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=hosts or ALLOWED_HOSTS)]
    return Starlette(routes=routes, middleware=middleware)


def bind(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1 (port 0: a free one the system picks)."""
    # proto given: asyncio turns Nagle off (TCP_NODELAY) only on sockets that say they are TCP;
    # with Nagle on, each small response waits for a delayed ACK (~40 ms a request).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(128)
    except OSError as e:
        sock.close()
        raise UsageError(f"127.0.0.1:{port}: cannot listen ({e.strerror or e})") from e
    return sock


def serve(app: Starlette, sock: socket.socket) -> None:
    """Run until Ctrl-C (or SIGTERM); every decision is already on disk when it returns."""
    import uvicorn

    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    # uvicorn shuts down gracefully, then re-raises Ctrl-C: here it is the way to stop.
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(config).run(sockets=[sock])


def open_browser(url: str) -> bool:
    """Open `url` in a graphical browser where there is one; False where there is none (a
    server, SSH). Without a display, Python's webbrowser would start a text browser (lynx, w3m)
    in this terminal, on top of the server's output: never that."""
    import webbrowser

    if _headless():
        return False
    try:
        webbrowser.get()
    except webbrowser.Error:
        return False
    threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()
    return True


def _headless() -> bool:
    if sys.platform in ("darwin", "win32"):
        return False
    return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
