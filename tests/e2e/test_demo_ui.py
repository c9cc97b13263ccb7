"""The browser demo page: served only when asked, and two players chatting in Chromium.

The page is built on the TypeScript SDK (``sdk/js``), whose compiled modules it
imports from ``/ui/sdk/``; the browser test proves it runs on them (the SDK's retry
with one ``client_msg_id``, its ``session_replaced``). The browser is Debian's
``chromium`` driven by Playwright (never a downloaded one); without it, the browser
test skips (fails under ``IM_REQUIRE_SERVICES=1``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import falcon.testing
import pytest

from im_core import (
    ChatService,
    InMemoryGameAuth,
    InMemoryInboxSignals,
    InMemoryMailbox,
    InMemorySessionStore,
    ManualClock,
)
from im_http.api.app import create_app
from im_http.api.demo_ui import DemoUi
from tests.conftest import unreachable
from tests.e2e.real_server import call, im_server, isolated_env, serving

CHROMIUM = os.environ.get("IM_TEST_CHROMIUM", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "im_http" / "api" / "static"
SDK_MODULES = sorted(path.name for path in (STATIC / "sdk").glob("*.js"))


def _client(demo_ui: DemoUi | None) -> falcon.testing.TestClient:
    service = ChatService(InMemorySessionStore(), InMemoryMailbox(), InMemoryGameAuth(),
                          ManualClock(), signals=InMemoryInboxSignals())
    return falcon.testing.TestClient(create_app(service, heartbeat_interval=2,
                                                demo_ui=demo_ui))


def test_without_the_flag_there_is_no_page_and_no_token_minting() -> None:
    client = _client(None)
    assert client.simulate_get("/ui/").status_code == 404
    assert client.simulate_post("/ui/dev-token", json={"uid": "a"}).status_code == 404


def test_with_a_real_game_login_the_page_is_served_but_mints_no_tokens() -> None:
    client = _client(DemoUi(dev_secret=None))
    page = client.simulate_get("/ui/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert client.simulate_post("/ui/dev-token", json={"uid": "a"}).status_code in (404, 405)


def test_the_page_is_its_three_files_and_the_sdk_modules_and_nothing_else() -> None:
    client = _client(DemoUi(dev_secret="d" * 40))
    assert client.simulate_get("/ui").headers["location"].endswith("/ui/")
    assert "client.js" in SDK_MODULES and "index.js" in SDK_MODULES
    names = ["app.js", "style.css", *(f"sdk/{name}" for name in SDK_MODULES)]
    for name in names:
        result = client.simulate_get(f"/ui/{name}")
        kind = "text/css" if name.endswith(".css") else "text/javascript"
        assert result.status_code == 200 and result.headers["content-type"].startswith(kind)
        assert "script-src 'self'" in result.headers["content-security-policy"]
    for stray in ("..%2Fapp.py", "index.html.bak", "sdk/nothing.js", "sdk/..%2Fapp.js",
                  "sdk/", "sdk/index.d.ts"):
        assert client.simulate_get(f"/ui/{stray}").status_code == 404, stray


_IMPORT = re.compile(r"""^\s*(?:import|export)\b[^;]*?\bfrom\s*"([^"]+)";""", re.M | re.S)


def test_the_page_imports_the_sdk_and_every_module_it_names_is_served() -> None:
    client = _client(DemoUi())
    app = (STATIC / "app.js").read_text()
    assert _IMPORT.findall(app) == ["./sdk/index.js"]
    for name in SDK_MODULES:
        module = client.simulate_get(f"/ui/sdk/{name}").text
        assert module.startswith("// Built from sdk/js/src")
        for target in _IMPORT.findall(module):
            assert target.startswith("./") and target.endswith(".js"), (name, target)
            assert client.simulate_get(f"/ui/sdk/{target[2:]}").status_code == 200


def test_dev_token_checks_the_uid() -> None:
    client = _client(DemoUi(dev_secret="d" * 40))
    assert client.simulate_post("/ui/dev-token", json={"uid": "no spaces"}).json[
        "code"] == "invalid_request"
    assert client.simulate_post("/ui/dev-token", json={"uid": "alice"}).json["game_token"]


def test_the_page_never_writes_server_text_as_html() -> None:
    for script in [STATIC / "app.js", *(STATIC / "sdk").glob("*.js")]:
        text = script.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write",
                     "eval(", "new Function"):
            assert sink not in text, (script.name, sink)


def test_serve_mints_page_tokens_only_on_the_development_secret(tmp_path: Path) -> None:
    env = isolated_env(XDG_DATA_HOME=str(tmp_path / "xdg"), IM_GAME_AUTH_JWT_SECRET="s" * 40,
                       IM_DEMO_UI="1")
    with serving(cwd=tmp_path, env=env) as port:
        assert call(port, "GET", "/ui/")[0] == 200
        assert call(port, "POST", "/ui/dev-token", {"uid": "alice"})[0] in (404, 405)
    assert "demo page on http://" in (tmp_path / "serve.log").read_text()


@pytest.fixture
def browser() -> Iterator[Any]:
    if not shutil.which(CHROMIUM):
        unreachable("Chromium", FileNotFoundError(CHROMIUM))
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


def test_two_players_chat_live_in_two_browser_pages(
    browser: Any, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # The page test sends 30 messages in a burst: past the default send limit.
    # One session per player: a second login replaces the first (session_replaced).
    env = isolated_env(XDG_DATA_HOME=str(tmp_path / "xdg"), IM_SESSION_TTL="30",
                       IM_MAX_WAIT="10", IM_RATE_SENDS="off", IM_MAX_SESSIONS_PER_UID="1")
    with serving("--demo-ui", cwd=tmp_path, env=env) as port:
        url = f"http://127.0.0.1:{port}/ui/"
        pages = {}
        loaded: list[str] = []
        sends: list[Any] = []
        page_errors: list[Any] = []

        def record(request: Any) -> None:
            loaded.append(request.url)
            if request.url.endswith("/v1/messages") and request.method == "POST":
                sends.append(json.loads(request.post_data))

        for uid in ("bob", "alice"):  # bob first: a contact must have logged in once
            page = browser.new_context(viewport={"width": 1100, "height": 640}).new_page()
            page.set_default_timeout(15_000)
            page.on("request", record)
            page.on("pageerror", lambda error: page_errors.append(error))  # uncaught in the page
            page.goto(url)
            page.fill("#login-uid", uid)
            page.click("#login-button")  # no token pasted: the page asks for a dev one
            page.wait_for_selector("#chat-view:not([hidden])")
            expect(page.locator("#login-view")).to_be_hidden()
            pages[uid] = page
        alice, bob = pages["alice"], pages["bob"]
        # The page runs on the SDK's modules, served from /ui/sdk/.
        for name in SDK_MODULES:
            assert f"{url}sdk/{name}" in loaded, name

        # The first send is stored but its answer is lost (a 503 instead): the SDK
        # retries with the same client_msg_id and the message shows once.
        def lose_the_answer(route: Any) -> None:
            route.fetch()
            route.fulfill(status=503, headers={"Retry-After": "0"}, content_type=(
                "application/json"), body=json.dumps({"title": "t", "description": "lost",
                                                      "code": "storage_unavailable"}))

        alice.route("**/v1/messages", lose_the_answer, times=1)

        # Alice adds bob: he is listed, online.
        alice.fill("#add-contact-uid", "bob")
        alice.press("#add-contact-uid", "Enter")
        alice.wait_for_selector('#contacts li[data-uid="bob"] .dot.online')

        # Alice sends with Enter; markup in a body stays text.
        hostile = 'gg <img src=x onerror="window.pwned=1"> <b>rematch?</b>'
        alice.fill("#send-body", hostile)
        alice.press("#send-body", "Enter")
        alice.wait_for_selector("#messages li.mine")
        assert len(sends) == 2 and sends[0] == sends[1], sends
        assert sends[0]["client_msg_id"].startswith("web-")

        # Bob receives it live (long-poll): an unread mark on alice, then the chat.
        bob.wait_for_selector('#contacts li[data-uid="alice"] .unread:text("1")')
        bob.click('#contacts li[data-uid="alice"]')
        bob.wait_for_selector("#messages li.theirs")
        assert bob.inner_text("#messages li.theirs .body") == hostile
        expect(bob.locator("#messages li")).to_have_count(1)  # stored once
        assert bob.locator("#messages img, #messages b").count() == 0
        assert bob.evaluate("window.pwned") is None

        # Bob answers; alice, whose conversation is open, sees it appear.
        bob.fill("#send-body", "sure, one more 🎮")
        bob.press("#send-body", "Enter")
        alice.wait_for_selector('#messages li.theirs:has-text("sure, one more")')

        # Older history loads on scroll: carol (a script, not a page) sent 30 before.
        game = im_server("token", "carol", cwd=tmp_path, env=env).stdout.strip()
        carol = call(port, "POST", "/v1/login", {"uid": "carol", "game_token": game,
                                                  "client_type": "pc"})[1]["token"]
        for n in range(1, 31):
            assert call(port, "POST", "/v1/messages", {"to": "alice", "body": f"carol {n}"},
                        token=carol)[0] == 201
        alice.wait_for_selector('#contacts li[data-uid="carol"] .unread:text("30")')
        alice.click('#contacts li[data-uid="carol"]')
        # (Locators, not wait_for_function: the page's CSP forbids eval.)
        expect(alice.locator("#messages li")).to_have_count(20)
        alice.locator("#messages li").first.scroll_into_view_if_needed()
        alice.mouse.move(600, 300)
        alice.mouse.wheel(0, -5000)
        expect(alice.locator("#messages li")).to_have_count(30)
        assert alice.inner_text("#messages li:first-child .body") == "carol 1"
        # Every message delivered was acked: nothing is left in alice's inbox.
        alice.click('#contacts li[data-uid="bob"]')
        alice.wait_for_selector('#messages li.theirs:has-text("sure, one more")')

        shot = tmp_path_factory.mktemp("screenshots") / "demo-ui.png"
        side_by_side(alice, bob, shot)
        assert shot.stat().st_size > 10_000
        if os.environ.get("IM_UPDATE_SCREENSHOT") == "1":
            shutil.copyfile(shot, ROOT / "docs" / "demo-ui.png")

        # Bob logs in elsewhere: his page is told so and stops (no re-login fight).
        game = im_server("token", "bob", cwd=tmp_path, env=env).stdout.strip()
        assert call(port, "POST", "/v1/login", {"uid": "bob", "game_token": game,
                                                "client_type": "pc"})[0] == 200
        bob.wait_for_selector("#login-view:not([hidden])")
        assert "logged in somewhere else" in bob.inner_text("#login-error")
        assert page_errors == []


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def side_by_side(left: Any, right: Any, path: Path) -> None:
    """One picture of both players' pages, alice's left, bob's right."""
    import base64

    shots = [base64.b64encode(page.screenshot()).decode() for page in (left, right)]
    canvas = left.context.browser.new_context(viewport={"width": 2220, "height": 660}).new_page()
    canvas.set_content(
        '<body style="margin:0;background:#1d2330;display:flex;gap:20px;padding:10px">'
        + "".join(f'<img src="data:image/png;base64,{shot}">' for shot in shots) + "</body>")
    for image in canvas.locator("img").all():
        image.wait_for()
    canvas.screenshot(path=str(path))
    canvas.context.close()
