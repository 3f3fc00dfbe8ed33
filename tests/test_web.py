"""The three front ends in a real headless browser against the real service process.

Debian's /usr/bin/chromium driven by Playwright (no browser download), one browser for the
module, a fresh context per test. Screenshots of the key states go to artifacts/screenshots/.
"""
from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import OPERATOR_TOKEN, REPO

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
SHOTS = REPO / "artifacts" / "screenshots"
INJECTION = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'

# A turn goes through the search index; on a busy machine that can take seconds.
expect.set_options(timeout=20_000)


# ---------------------------------------------------------------------- fixtures and helpers
@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium (/usr/bin/chromium) is not installed")
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture
def new_page(browser, live_server):
    """Pages in fresh contexts; every page must finish without an uncaught JavaScript error."""
    contexts, errors = [], []

    def make(**options):
        options.setdefault("viewport", {"width": 1280, "height": 900})
        ctx = browser.new_context(base_url=live_server.url, locale="zh-CN", **options)
        ctx.set_default_timeout(20_000)
        contexts.append(ctx)
        page = ctx.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        return page

    yield make
    for ctx in contexts:
        ctx.close()
    assert errors == [], f"JavaScript errors: {errors}"


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def api_get(live_server, path: str, token: str | None = None, raw: bool = False):
    request = urllib.request.Request(live_server.url + path)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as r:
        body = r.read().decode()
    return body if raw else json.loads(body)


def widget_session(page) -> str:
    saved = page.evaluate("""() => {
        for (const k of Object.keys(sessionStorage)) if (k.startsWith('yiciw:')) return JSON.parse(sessionStorage.getItem(k));
        return null; }""")
    assert saved and saved["session"], "the widget keeps its session id in sessionStorage"
    return saved["session"]


def bot_count(page) -> int:
    return page.locator(".yiciw-msg-bot:not(.yiciw-msg-typing)").count()


def click_option_and_wait(page, option) -> None:
    before = bot_count(page)
    option.click()
    expect(page.locator(".yiciw-msg-bot:not(.yiciw-msg-typing)")).to_have_count(before + 1)


def answer_until_checklist(page, limit: int = 10) -> None:
    """Answer every question with its first real option (not 不确定, not a command)."""
    card = page.locator(".yiciw-card")
    for _ in range(limit):
        if card.count():
            return
        click_option_and_wait(page, page.locator('.yiciw-turn .yiciw-opt[data-value^="answer:"]:not([data-value$=":__unknown__"])').first)
    expect(card).to_be_visible()


def open_widget(page):
    page.get_by_role("button", name="办事咨询").click()
    expect(page.locator(".yiciw-launcher")).to_have_attribute("aria-expanded", "true")
    expect(page.get_by_role("dialog")).to_be_visible()
    expect(page.locator(".yiciw-msg-bot").first).to_contain_text("您好")
    return page.locator(".yiciw-input")


def console_login(page, token: str = OPERATOR_TOKEN) -> None:
    page.goto("/console")
    page.get_by_label("坐席口令").fill(token)
    page.get_by_role("button", name="登录").click()
    expect(page.locator("#app")).to_be_visible()


# ---------------------------------------------------------------------- citizen widget
def test_widget_newborn_conversation_to_the_merged_checklist(new_page, live_server):
    page = new_page()
    page.goto("/?region=dongying")
    expect(page).to_have_title(re.compile("东营市政务服务网"))
    assert page.locator('script[src="/static/widget.js"][data-region="dongying"]').count() == 1

    box = open_widget(page)
    expect(box).to_be_focused()  # opening the panel puts the keyboard in the input
    assert page.locator(".yiciw-log").get_attribute("aria-live") == "polite"

    box.fill("孩子上周出生了，要办哪些手续")
    box.press("Enter")
    expect(page.locator(".yiciw-msg-user").last).to_have_text(re.compile("孩子上周出生了"))
    expect(page.locator(".yiciw-msg-bot").last).to_contain_text("“出生”一件事")
    expect(page.locator(".yiciw-msg-bot").last).to_contain_text("户口")
    shot(page, "widget-question")

    # one answer in words, the rest by the option buttons
    before = bot_count(page)
    box.fill("父母都是本地户口")
    box.press("Enter")
    expect(page.locator(".yiciw-msg-bot:not(.yiciw-msg-typing)")).to_have_count(before + 1)
    expect(page.locator(".yiciw-msg-bot").last).to_contain_text("结婚")
    answer_until_checklist(page)

    session = widget_session(page)
    truth = api_get(live_server, f"/api/v1/sessions/{session}/checklist")
    card = page.locator(".yiciw-card")
    expect(card.locator("h3").first).to_have_text("一次告知清单：“出生”一件事")
    expect(card.locator("h3").first).to_be_focused()  # the last answer was a button: focus goes to the result
    expect(card.locator(".yiciw-submatter")).to_have_count(len(truth["sub_matters"]))
    expect(card.locator(".yiciw-material")).to_have_count(len(truth["materials"]))
    expect(card.locator(".yiciw-stats")).to_contain_text("办理 5 个事项")
    # ONE merged line for the ID card, saying which sub-matters need it
    id_card = card.locator('.yiciw-material[data-id="id_card"]')
    expect(id_card).to_have_count(1)
    for needed in ("出生医学证明办理（首次签发）", "户口登记（出生登记）", "社会保障卡申领"):
        expect(id_card.locator(".yiciw-usedby")).to_contain_text(needed)
    expect(id_card).to_contain_text("原件及复印件")
    expect(id_card).to_contain_text("4 个事项共用")
    expect(card).to_contain_text("待确认")  # uncertain facts are marked, not hidden
    registration = card.locator('.yiciw-submatter[data-id="birth_registration"]')
    expect(registration).to_contain_text("东营市公安局")
    expect(registration).to_contain_text("出生后一个月以内申报")
    expect(registration).to_contain_text("出生登记不收费")
    expect(card.locator(".yiciw-steps li")).to_have_count(len(truth["steps"]))
    print_link = card.get_by_role("link", name="打印 / 下载清单")
    assert print_link.get_attribute("href").endswith(f"/api/v1/sessions/{session}/checklist?format=html")
    printable = page.request.get(print_link.get_attribute("href"))
    assert printable.ok and "text/html" in printable.headers["content-type"]
    card.scroll_into_view_if_needed()
    shot(page, "widget-checklist")
    id_card.scroll_into_view_if_needed()
    shot(page, "widget-materials")

    # an optional sub-matter off: the server recomputes and the card re-renders
    toggle = card.locator('input[data-sub="social_security_card"]')
    expect(toggle).to_be_checked()
    expect(card.locator('input[data-sub="birth_registration"]')).to_have_count(0)  # mandatory: no switch
    toggle.uncheck()
    card = page.locator(".yiciw-card")
    expect(card.locator(".yiciw-stats")).to_contain_text("办理 4 个事项")
    expect(card.locator('.yiciw-submatter[data-id="social_security_card"]')).to_have_class(re.compile("yiciw-off"))
    expect(card.locator('.yiciw-material[data-id="id_card"] .yiciw-usedby')).not_to_contain_text("社会保障卡申领")
    expect(card.locator('.yiciw-material[data-id="id_card"]')).to_contain_text("3 个事项共用")
    expect(card.locator('input[data-sub="social_security_card"]')).to_be_focused()
    expect(page.locator(".yiciw-announce")).to_contain_text("清单已更新")
    truth = api_get(live_server, f"/api/v1/sessions/{session}/checklist")
    assert [m["selected"] for m in truth["sub_matters"] if m["id"] == "social_security_card"] == [False]
    shot(page, "widget-toggled")

    # the answer summary's change link re-asks one question; a new answer changes the materials
    expect(card.locator('.yiciw-material[data-id="marriage_certificate"]')).to_have_count(1)
    click_option_and_wait(page, card.locator('button[data-change="married"]'))
    expect(page.locator(".yiciw-msg-bot").last).to_contain_text("重新回答")
    expect(page.locator(".yiciw-card")).to_have_count(0)
    click_option_and_wait(page, page.locator('.yiciw-opt[data-value="answer:married:no"]'))
    expect(page.locator(".yiciw-msg-bot").last).to_contain_text("落户")
    click_option_and_wait(page, page.locator('.yiciw-opt[data-value="answer:register_with:mother"]'))
    card = page.locator(".yiciw-card")
    expect(card.locator('.yiciw-material[data-id="marriage_certificate"]')).to_have_count(0)
    expect(card).to_contain_text("非婚生育说明")
    expect(card.locator(".yiciw-answers")).to_contain_text("未登记结婚")

    # 好差评
    page.get_by_role("button", name="满意", exact=True).click()
    page.get_by_role("button", name="提交评价").click()
    expect(page.locator(".yiciw-rate")).to_contain_text("感谢您的评价")

    # a reload restores the conversation and the checklist from the server
    users = page.locator(".yiciw-msg-user").count()
    page.reload()
    expect(page.locator(".yiciw-card")).to_be_visible()
    expect(page.locator(".yiciw-msg-user")).to_have_count(users)
    expect(page.locator(".yiciw-card")).to_contain_text("非婚生育说明")
    expect(page.locator(".yiciw-rate")).to_have_count(0)  # already rated in this session

    # Esc closes the panel and gives the focus back to the launcher
    page.locator(".yiciw-input").focus()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_be_hidden()
    expect(page.get_by_role("button", name="办事咨询")).to_be_focused()


def test_widget_at_375px_with_large_font(new_page):
    page = new_page(viewport={"width": 375, "height": 740}, has_touch=True, is_mobile=True)
    page.goto("/")
    box = open_widget(page)
    panel = page.get_by_role("dialog")
    normal = page.locator(".yiciw-msg-bot").first.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")

    large = page.get_by_role("button", name="大字")
    large.click()
    expect(large).to_have_attribute("aria-pressed", "true")
    bigger = page.locator(".yiciw-msg-bot").first.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert bigger >= normal * 1.2

    box.fill("二手房过户，水电气也要过户")
    box.press("Enter")
    expect(page.locator(".yiciw-msg-bot").last).to_contain_text("二手房")
    expect(page.locator(".yiciw-opt").first).to_be_visible()

    # the panel takes the whole small screen and nothing sticks out of it
    pb = panel.bounding_box()
    assert pb["x"] >= 0 and pb["y"] >= 0 and pb["x"] + pb["width"] <= 375.5 and pb["y"] + pb["height"] <= 740.5
    for control in (box, page.get_by_role("button", name="发送"), page.locator(".yiciw-opt").first):
        b = control.bounding_box()
        assert b is not None and b["x"] >= 0 and b["x"] + b["width"] <= 375.5 and b["y"] + b["height"] <= 740.5, b
    assert page.locator(".yiciw-body").evaluate("e => e.scrollWidth <= e.clientWidth")
    expect(page.locator(".yiciw-launcher")).to_be_hidden()  # the open panel covers the launcher on phones
    shot(page, "widget-mobile-large-font")

    # the preference is remembered for the next page (the open panel is restored too)
    page.reload()
    expect(page.get_by_role("dialog")).to_be_visible()
    expect(page.get_by_role("button", name="大字")).to_have_attribute("aria-pressed", "true")


@pytest.fixture
def host_site():
    """A second origin on loopback (another port) serving whatever pages a test puts in `pages`."""
    import http.server
    import threading

    pages: dict[str, str] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = pages.get(self.path, "").encode()
            self.send_response(200 if self.path in pages else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", pages
    server.shutdown()
    server.server_close()


def test_widget_on_another_origin_leaks_no_globals(new_page, live_server, host_site):
    """A host page on another origin with the one script tag (and hostile element styles)."""
    page = new_page()
    host, pages = host_site
    shell = ("<!doctype html><html lang=zh-CN><meta charset=utf-8><title>某部门网站</title>"
             "<style>button{{background:lime;font-size:40px}} div{{color:red}}</style><body><h1>某部门网站</h1>{}</body></html>")
    pages["/blank.html"] = shell.format("")
    pages["/host.html"] = shell.format(
        f'<script src="{live_server.url}/static/widget.js" data-region="dongying" data-api="{live_server.url}"></script>')
    page.goto(f"{host}/blank.html")
    plain = set(page.evaluate("Object.keys(window)"))
    page.goto(f"{host}/host.html")
    launcher = page.get_by_role("button", name="办事咨询")
    expect(launcher).to_be_visible()
    assert set(page.evaluate("Object.keys(window)")) - plain == set()
    # the host page's element rules do not reach into the widget
    assert launcher.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(200, 22, 29)"
    assert page.locator(".yiciw-log").evaluate("e => getComputedStyle(e).color") == "rgb(31, 35, 41)"  # not the page's red

    preflight = urllib.request.Request(live_server.url + "/api/v1/sessions", method="OPTIONS", headers={
        "Origin": host, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"})
    try:
        with urllib.request.urlopen(preflight, timeout=10) as r:
            cors = bool(r.headers.get("access-control-allow-origin"))
    except urllib.error.HTTPError:
        cors = False
    launcher.click()
    if cors:
        expect(page.locator(".yiciw-msg-bot").first).to_contain_text("您好")
    else:  # the service does not allow other origins: the citizen gets a clear message, not a dead panel
        expect(page.locator(".yiciw-msg-error")).to_contain_text("网络连接失败")


# ---------------------------------------------------------------------- injection
def test_injected_markup_is_shown_as_text(new_page, live_server):
    page = new_page()
    page.goto("/")
    box = open_widget(page)
    before = bot_count(page)
    box.fill(INJECTION)
    box.press("Enter")
    expect(page.locator(".yiciw-msg-bot:not(.yiciw-msg-typing)")).to_have_count(before + 1)
    expect(page.locator(".yiciw-msg-user").last).to_have_text(re.compile(re.escape(INJECTION)))
    assert page.locator(".yiciw-root img, .yiciw-root script").count() == 0
    assert page.evaluate("window.__pwned") is None
    shot(page, "injection-widget")

    console_login(page)
    page.locator("#q").fill(INJECTION)
    expect(page.locator(".results-title .query")).to_have_text(INJECTION)
    assert page.locator("#results img, #results script").count() == 0
    assert page.evaluate("window.__pwned") is None
    shot(page, "injection-console")

    # a region name from the query string is escaped by the template as well
    page.goto("/?region=" + urllib.request.quote('"><script>window.__pwned=3</script>'))
    expect(page.get_by_role("alert")).to_contain_text("<script>window.__pwned=3</script>")
    assert page.evaluate("window.__pwned") is None


# ---------------------------------------------------------------------- hotline console
def test_console_login_errors(new_page):
    page = new_page()
    page.goto("/console")
    expect(page.locator("#app")).to_be_hidden()
    page.get_by_role("button", name="登录").click()
    expect(page.locator("#login-error")).to_have_text("请输入坐席口令。")
    page.get_by_label("坐席口令").fill("not-a-valid-token")
    page.get_by_role("button", name="登录").click()
    expect(page.locator("#login-error")).to_have_text("口令无效或无权访问。")
    expect(page.locator("#app")).to_be_hidden()
    expect(page.get_by_label("坐席口令")).to_be_focused()
    shot(page, "console-login-error")

    # a stale token in the tab is checked on load and cleared
    page.evaluate("sessionStorage.setItem('yici-console:token', 'expired-token')")
    page.reload()
    expect(page.locator("#login-error")).to_have_text("口令无效或无权访问。")
    assert page.evaluate("sessionStorage.getItem('yici-console:token')") is None


def test_console_search_guide_questionnaire_and_sms(new_page, live_server):
    page = new_page(viewport={"width": 1366, "height": 900})
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    console_login(page)
    assert page.evaluate("sessionStorage.getItem('yici-console:token')") == OPERATOR_TOKEN
    expect(page.locator("#region")).to_have_value("dongying")

    searches = []
    page.on("request", lambda r: searches.append(r.url) if "/api/v1/search" in r.url else None)
    query = "二手房过户 水电气"
    page.locator("#q").press_sequentially(query, delay=40)
    result = page.locator('.result-scenario[data-scenario="second_hand_house"]')
    expect(result).to_be_visible()
    expect(result).to_contain_text("本地已发布")
    expect(page.locator(".result-matter").first).to_be_visible()
    assert 1 <= len(searches) < len(query), searches  # debounced: not one request per keystroke
    shot(page, "console-results")

    result.click()
    guide = api_get(live_server, "/api/v1/scenarios/second_hand_house?region=dongying", OPERATOR_TOKEN)
    detail = page.locator("#detail")
    expect(detail.locator(".guide-title")).to_have_text(guide["name"])
    expect(detail.locator("li[data-question]")).to_have_count(len(guide["questions"]))
    expect(detail.locator(".yc-submatter")).to_have_count(len(guide["checklist"]["sub_matters"]))
    expect(detail.locator(".yc-material")).to_have_count(len(guide["checklist"]["materials"]))
    expect(detail).to_contain_text("供水过户")
    expect(detail.locator('.yc-material[data-id="marriage_certificate"]')).to_contain_text("需要时：")  # conditions spelled out
    expect(detail.locator(".yc-material.yc-exempt").first).to_contain_text("免提交")

    detail.get_by_role("button", name="复制短信").click()
    expect(detail.locator(".copy-status")).to_have_text("已复制")
    assert page.evaluate("navigator.clipboard.readText()") == guide["sms_text"]
    shot(page, "console-guide")

    page.locator('.result-matter[data-matter="second_hand_house/gas_transfer"]').click()
    expect(detail.locator("h2")).to_have_text("供气过户（天然气表过户）")
    expect(detail.locator(".yc-material").first).to_be_visible()

    # questionnaire on behalf of the caller, ending with the personal checklist and its SMS
    result.click()
    expect(detail.locator(".guide-title")).to_have_text(guide["name"])
    detail.get_by_role("button", name="按来电人情况问答").click()
    expect(detail.locator("h2")).to_contain_text("代来电人问答")
    for _ in range(12):
        if detail.locator(".yc-checklist").count():
            break
        reply = detail.locator(".reply").text_content()
        detail.locator('.opt[data-value^="answer:"]:not([data-value$=":__unknown__"])').first.click()
        expect(detail.locator(".reply")).not_to_have_text(reply)
    expect(detail.locator(".yc-checklist")).to_be_visible()
    session = page.evaluate("sessionStorage.getItem('yici-console:session')")
    assert api_get(live_server, f"/api/v1/sessions/{session}")["channel"] == "hotline"
    sms = api_get(live_server, f"/api/v1/sessions/{session}/checklist?format=text", raw=True)
    detail.get_by_role("button", name="复制短信").click()
    expect(detail.locator(".copy-status")).to_have_text("已复制")
    assert page.evaluate("navigator.clipboard.readText()") == sms
    shot(page, "console-questionnaire")


# ---------------------------------------------------------------------- kiosk
SPEECH_SPY = """
window.__spoken = [];
if (window.speechSynthesis) {
  window.speechSynthesis.speak = (u) => { window.__spoken.push(u.text); };
}
"""


def test_kiosk_by_touch_to_the_checklist_then_idle_reset(new_page, live_server):
    page = new_page(viewport={"width": 1080, "height": 1400}, has_touch=True)
    page.add_init_script(SPEECH_SPY)
    page.goto("/kiosk?region=dongying&idle=8")
    scenario = page.locator('.k-scenario[data-scenario="newborn"]')
    expect(scenario).to_be_visible()
    for target in (scenario, page.locator(".k-send"), page.locator("#k-text")):
        assert target.bounding_box()["height"] >= 64
    shot(page, "kiosk-start")

    with page.expect_response(lambda r: r.url.endswith("/api/v1/sessions") and r.request.method == "POST") as created:
        scenario.tap()
    session = created.value.json()["session_id"]
    assert created.value.json()["channel"] == "kiosk"
    reply = page.locator("#k-reply")
    expect(reply).to_contain_text("户口")
    for _ in range(10):
        if page.locator(".yc-checklist").count():
            break
        text = reply.text_content()
        option = page.locator('.k-option[data-value^="answer:"]:not([data-value$=":__unknown__"])').first
        assert option.bounding_box()["height"] >= 64
        option.tap()
        expect(reply).not_to_have_text(text)
    expect(page.locator(".yc-checklist")).to_be_visible()
    expect(page.locator(".yc-checklist .yc-cl-title")).to_have_text("一次告知清单：“出生”一件事")
    toggle = page.locator(".kiosk .yc-toggle").first
    assert toggle.bounding_box()["height"] >= 64
    # replies were read aloud; the checklist with its speech text
    speech = api_get(live_server, f"/api/v1/sessions/{session}/checklist?format=speech", raw=True)
    page.wait_for_function("t => window.__spoken.includes(t)", arg=speech)
    assert any("户口" in s for s in page.evaluate("window.__spoken"))
    shot(page, "kiosk-checklist")

    with page.expect_response(lambda r: f"/api/v1/sessions/{session}/checklist?format=html" in r.url) as printed:
        page.get_by_role("button", name="打印清单").tap()
    assert printed.value.ok

    # no touch: a visible countdown, then back to the start screen with nothing left over
    warning = page.get_by_role("alertdialog")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text(re.compile(r"\d+ 秒后将返回首页"))
    shot(page, "kiosk-idle-warning")
    expect(page.locator("#k-start")).to_be_visible()
    expect(page.locator("#k-chat")).to_be_hidden()
    expect(warning).to_be_hidden()
    expect(reply).to_be_empty()
    assert page.locator(".yc-checklist").count() == 0
    shot(page, "kiosk-reset")


def test_kiosk_touch_keeps_it_alive_and_mic_only_with_speech_recognition(new_page):
    page = new_page(viewport={"width": 1080, "height": 1400}, has_touch=True)
    page.add_init_script("delete window.SpeechRecognition; delete window.webkitSpeechRecognition;")
    page.goto("/kiosk?idle=3")
    expect(page.locator(".k-scenario").first).to_be_visible()
    expect(page.locator("#k-mic")).to_be_hidden()  # no recognition in this browser: typing only
    page.locator("#k-text").fill("孩子出生了")
    page.locator("#k-text").press("Enter")
    expect(page.locator("#k-reply")).to_contain_text("出生")
    expect(page.get_by_role("alertdialog")).to_be_visible()
    page.get_by_role("button", name="继续办理").tap()
    expect(page.get_by_role("alertdialog")).to_be_hidden()
    expect(page.locator("#k-chat")).to_be_visible()  # still the same conversation

    page2 = new_page(viewport={"width": 1080, "height": 1400}, has_touch=True)
    page2.goto("/kiosk")
    expect(page2.locator(".k-scenario").first).to_be_visible()
    if page2.evaluate("!!(window.SpeechRecognition || window.webkitSpeechRecognition)"):
        expect(page2.locator("#k-mic")).to_be_visible()
    else:
        expect(page2.locator("#k-mic")).to_be_hidden()
