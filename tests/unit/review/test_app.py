"""The review page's HTTP API, through Starlette's TestClient (no server, no browser)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from psych_plugin.dataset.schema import categories
from psych_plugin.problems import UsageError
from psych_plugin.review import app as app_module
from psych_plugin.review.app import bind, create_app, open_browser
from psych_plugin.review.sources import Sources, sidecar_path
from psych_plugin.review.store import ReviewStore, read_rows
from tests.unit.review.test_store import ROWS, write_rows


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    src = write_rows(tmp_path / "rows.jsonl", ROWS)
    sidecar_path(src).write_text(
        json.dumps(
            {"line": 2, "section": "Ch > Schemas", "passage": "A schema is ...", "notes": ["n"]}
        )
        + "\n",
        encoding="utf-8",
    )
    rows, _ = read_rows(src)
    store = ReviewStore(src, rows, tmp_path / "out.jsonl")
    return TestClient(create_app(store, Sources.load(src)), base_url="http://127.0.0.1")


def post(client: TestClient, line: int, **body):
    return client.post(f"/api/rows/{line}", json=body)


def test_the_page_and_its_assets_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert '<script src="/static/review.js"' in page.text
    assert page.headers["cache-control"] == "no-store"
    for asset, kind in (("review.js", "javascript"), ("review.css", "text/css")):
        got = client.get(f"/static/{asset}")
        assert got.status_code == 200 and kind in got.headers["content-type"]
    # Nothing from anywhere else: no CDN, no external font.
    for name in ("index.html", "review.js", "review.css"):
        text = client.get("/" if name == "index.html" else f"/static/{name}").text
        assert "http://" not in text and "https://" not in text


def test_state_lists_fields_categories_progress_and_index(client):
    state = client.get("/api/state").json()
    assert state["categories"] == list(categories())
    assert state["fields"][:3] == ["instruction", "input", "output"]
    assert state["progress"]["total"] == 4 and state["progress"]["reviewed"] == 0
    assert state["index"][:2] == [[1, "unreviewed", None, 0], [2, "unreviewed", "definition", 0]]


def test_a_row_comes_with_its_passage_and_notes(client):
    row = client.get("/api/rows/2").json()
    assert row["row"] == ROWS[1] and row["rev"] == 0 and row["status"] == "unreviewed"
    assert row["source"] == {
        "section": "Ch > Schemas",
        "passage": "A schema is ...",
        "notes": ["n"],
    }
    assert client.get("/api/rows/1").json()["source"]["passage"] is None
    assert client.get("/api/rows/99").status_code == 404
    assert client.get("/api/rows/x").status_code == 404


def test_decisions_update_the_row_and_the_progress(client, tmp_path):
    got = post(client, 1, action="keep", base=0)
    assert got.status_code == 200
    body = got.json()
    assert body["row"]["status"] == "kept" and body["row"]["rev"] == 1
    assert body["progress"]["kept"] == 1 and body["progress"]["reviewed"] == 1
    edited = {**ROWS[1], "category": "theory"}
    body = post(client, 2, action="edit", base=0, row=edited).json()
    assert body["row"]["edited"] == edited and body["row"]["status"] == "edited"
    assert client.get("/api/state").json()["index"][1] == [2, "edited", "theory", 1]
    out = (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(x) for x in out] == [ROWS[0], edited]


def test_a_stale_decision_gets_409_with_the_current_row(client):
    assert post(client, 3, action="keep", base=0).status_code == 200
    got = post(client, 3, action="drop", base=0)
    assert got.status_code == 409
    assert "decided elsewhere" in got.json()["error"]
    assert got.json()["row"]["status"] == "kept" and got.json()["row"]["rev"] == 1
    sha = client.get("/api/rows/3").json()["sha"]
    assert post(client, 3, action="drop", base=1, sha="f" * 16).status_code == 409
    assert post(client, 3, action="drop", base=1, sha=sha).status_code == 200


def test_an_invalid_edit_gets_422_with_the_validators_lines(client, tmp_path):
    got = post(client, 1, action="edit", base=0, row={**ROWS[0], "instruction": ""})
    assert got.status_code == 422
    assert got.json()["problems"] == [
        f"{tmp_path / 'rows.jsonl'}:1: instruction: must not be empty or whitespace-only "
        "(got empty text)"
    ]
    assert client.get("/api/rows/1").json()["status"] == "unreviewed"


@pytest.mark.parametrize(
    "body",
    [
        {"action": "approve", "base": 0},
        {"action": "keep"},
        {"action": "keep", "base": "0"},
        {"action": "keep", "base": True},
        {"action": "edit", "base": 0, "row": "text"},
        ["keep"],
    ],
)
def test_bad_requests_get_400(client, body):
    got = client.post("/api/rows/1", json=body)
    assert got.status_code == 400, got.text
    assert client.get("/api/rows/1").json()["rev"] == 0


def test_a_decision_must_be_json(client):
    # A form posted by a page on another site cannot send application/json without a preflight.
    got = client.post(
        "/api/rows/1",
        content='{"action": "keep", "base": 0}',
        headers={"Content-Type": "text/plain"},
    )
    assert got.status_code == 415
    got = client.post("/api/rows/1", content="{", headers={"Content-Type": "application/json"})
    assert got.status_code == 400


def test_only_requests_addressed_to_localhost_are_answered(client):
    assert client.get("/api/state", headers={"Host": "evil.example"}).status_code == 400
    assert client.get("/api/state", headers={"Host": "localhost:8000"}).status_code == 200


def test_bind_listens_on_loopback_only_as_tcp():
    sock = bind(0)
    try:
        host, port = sock.getsockname()
        assert host == "127.0.0.1" and port > 0
        # Declared TCP, so asyncio sets TCP_NODELAY on each connection (no delayed-ACK stalls).
        assert sock.proto == socket.IPPROTO_TCP
        with pytest.raises(UsageError, match=f"127.0.0.1:{port}: cannot listen"):
            bind(port)
    finally:
        sock.close()


def test_no_browser_is_opened_without_a_display(monkeypatch):
    import webbrowser

    opened = []
    monkeypatch.setattr(webbrowser, "open", lambda url: opened.append(url))
    monkeypatch.setattr(webbrowser, "get", lambda: object())
    monkeypatch.setattr(app_module.sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert open_browser("http://127.0.0.1:1/") is False  # a text browser would take the terminal
    monkeypatch.setenv("DISPLAY", ":0")
    assert open_browser("http://127.0.0.1:1/") is True

    def no_browser():
        raise webbrowser.Error("none")

    monkeypatch.setattr(webbrowser, "get", no_browser)
    assert open_browser("http://127.0.0.1:1/") is False
