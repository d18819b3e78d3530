"""The console in a real browser against a real server: sign in with a key, the wall of the caller's rooms with
alert badges pushed over the live feed, the queue (claim, evidence, act with a reason), and the session's
protections (HttpOnly key cookie, CSRF token on every change, each role only its tenant's data)."""

from __future__ import annotations

import time

import pytest

from livewarden.testing import browser
from tests.api.conftest import serve


@pytest.fixture
def world(tmp_path):
    served, server, thread = serve(tmp_path)
    yield served
    server.should_exit = True
    thread.join(10)


HOME = {"moderator": "queue", "brand": "notices", "person": "notices", "regulator": "warning", "seller": "selfcheck"}


def sign_in(context, served, role, tenant):
    page = browser.sign_in(context.new_page(), served.url, served.keys[(role, tenant)])
    page.wait_for_url(f"**/console/{HOME.get(role, 'wall')}")
    page.wait_for_selector(f"header .who[data-role={role}]")
    return page


def test_a_moderator_signs_in_sees_their_rooms_and_a_badge_arrives_live(world, browser_context):
    page = sign_in(browser_context, world, "moderator", "shopA")
    page.goto(world.url + "/console/wall")
    page.wait_for_selector(".tile[data-room=deals]")
    assert page.locator(".tile").count() == 1  # shopB's room is not on shopA's wall
    assert page.locator(".tile[data-room=deals] .badge").count() == 0
    cookies = {c["name"]: c for c in browser_context.cookies()}
    assert cookies["livewarden_key"]["httpOnly"] and cookies["livewarden_key"]["sameSite"] == "Strict"
    assert page.evaluate("document.cookie").count("livewarden_key") == 0  # the page cannot read the key

    committed = time.monotonic()
    world.see("deals", "mark", "nova")
    page.wait_for_selector(".tile[data-room=deals] .badge", timeout=3000)
    assert time.monotonic() - committed < 3.0
    assert page.inner_text(".tile[data-room=deals] .badge") == "1"
    page.fill("#filter", "unauthorized_brand")  # the wall filtered by finding
    page.wait_for_function("document.querySelectorAll('.tile').length === 1")
    page.fill("#filter", "impersonation")
    page.wait_for_function("document.querySelectorAll('.tile').length === 0")


def test_a_moderator_claims_sees_the_evidence_and_confirms_with_a_reason(world, browser_context):
    alert_id = world.see("deals", "mark", "nova")
    page = sign_in(browser_context, world, "moderator", "shopA")  # a moderator starts at the queue
    page.keyboard.press("c")
    page.wait_for_selector(f"[data-alert='{alert_id}']")
    assert page.eval_on_selector(f"[data-alert='{alert_id}'] .evidence img", "img => img.decode().then(() => img.naturalWidth)") > 0
    reference = page.eval_on_selector(f"[data-alert='{alert_id}'] figure.reference img",
                                      "img => img.decode().then(() => [img.naturalWidth, img.getAttribute('src')])")
    assert reference == [reference[0], "/registry/brands/nova/images/0"] and reference[0] > 0  # the mark beside it
    assert "trademark" in page.input_value("#ground")
    page.fill("#facts", "NOVA card shown by a seller NOVA never authorized")
    page.keyboard.press("Escape")
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("y")
    page.wait_for_selector("[role=status].toast")
    [case] = world.platform.cases(_principal(world, "moderator", "shopA"))
    assert case["status"] == "confirmed"
    [action] = world.platform.case(_principal(world, "moderator", "shopA"), case["id"])["actions"]
    assert action["statement"]["facts"] == "NOVA card shown by a seller NOVA never authorized"

    page.click(f"a[href='/console/case?id={case['id']}']")  # when did you know, what did you do
    page.wait_for_selector("ol.steps li[data-what=action]")
    steps = page.eval_on_selector_all("ol.steps li", "ls => ls.map(l => l.dataset.what)")
    assert steps == ["first_signal", "alert_opened", "first_seen_by_moderator", "action"]
    assert page.locator("#axis circle").count() == 4
    assert page.inner_text("#audit").startswith("audit chain verified")


def test_a_brand_seen_by_its_name_says_what_was_read_beside_the_evidence(world, browser_context):
    alert_id = world.see("deals", "mark", "nova", via="text", text="NOVA original 1:1", word="Nova")
    page = sign_in(browser_context, world, "moderator", "shopA")
    page.keyboard.press("c")
    page.wait_for_selector(f"[data-alert='{alert_id}'] p.read")
    assert page.inner_text(f"[data-alert='{alert_id}'] p.read q") == "NOVA original 1:1"
    assert page.locator(f"[data-alert='{alert_id}'] figure.reference img").count() == 1  # the mark beside it


def test_a_change_without_the_csrf_token_is_refused_and_a_brand_sees_only_its_own(world, browser_context):
    world.see("deals", "mark", "nova")
    page = sign_in(browser_context, world, "moderator", "shopA")
    forged = page.evaluate("fetch('/queue/claim', {method: 'POST'}).then(r => r.status)")
    assert forged == 403
    ok = page.evaluate("""fetch('/queue/claim', {method: 'POST', headers: {'x-csrf-token':
        document.cookie.split('; ').find(c => c.startsWith('livewarden_csrf=')).split('=')[1]}}).then(r => r.status)""")
    assert ok == 200

    other = browser_context.browser.new_context()
    try:
        brand = sign_in(other, world, "brand", "koru")
        seen = brand.evaluate("fetch('/alerts').then(r => r.json()).then(d => d.items.length)")
        assert seen == 0  # nova's alert is not koru's
        assert brand.evaluate("fetch('/alerts/1').then(r => r.status)") == 404  # nor by its URL
    finally:
        other.close()


def test_a_bad_key_is_refused_on_the_login_page(world, browser_context):
    page = browser_context.new_page()
    page.goto(world.url + "/console/wall")
    page.wait_for_url("**/console/login**")
    page.fill("#key", "lw_not_a_key")
    page.click("button[type=submit]")
    page.wait_for_selector("#problem:has-text('not valid')")


def _principal(world, role, tenant):
    from livewarden.cases.keys import authenticate

    return authenticate(world.store.engine, world.keys[(role, tenant)])


def test_a_brand_files_a_notice_and_follows_its_clock(world, browser_context):
    alert_id = world.see("deals", "mark", "nova")
    page = sign_in(browser_context, world, "brand", "nova")
    page.select_option("#alert", str(alert_id))
    assert page.input_value("#room") == "deals"  # taken from the alert
    page.fill("#explanation", "counterfeit NOVA bags sold under our mark")
    page.fill("#name", "NOVA legal")
    page.fill("#email", "legal@nova.example")
    page.check("#good-faith")
    page.click("#notice button[type=submit]")
    page.wait_for_selector("#list tr[data-notice] [data-left]")
    left = int(page.get_attribute("#list tr[data-notice] [data-left]", "data-left"))
    assert 23 * 3600 < left <= 24 * 3600  # the default SLA, 24 h
    [notice] = world.app.state.notices.list(_principal(world, "brand", "nova"))
    assert notice["fields"]["alert_id"] == alert_id and notice["fields"]["notifier_email"] == "legal@nova.example"
    assert page.inner_text("#list tr[data-notice] td:nth-child(2)") == "deals"

    with world.store.engine.begin() as conn:  # a day goes by without a decision
        from sqlalchemy import text
        conn.execute(text("UPDATE notices SET due_at = :t"), {"t": time.time() - 120})
    page.reload()
    page.wait_for_selector("#list tr[data-notice] [data-breached=true]")
    assert "breached" in page.inner_text("#list tr[data-notice] .clock")


def test_a_regulator_sees_the_charts_and_cannot_act(world, browser_context):
    world.see("deals", "mark", "nova")
    world.see("deals", "face", "ada")
    page = sign_in(browser_context, world, "regulator", "shopA")
    page.wait_for_selector("#chart rect[data-series]")
    series = sorted(set(page.eval_on_selector_all("#chart rect", "rs => rs.map(r => r.dataset.series)")))
    assert series == ["impersonation", "unauthorized_brand"]
    assert page.eval_on_selector_all("#live li", "ls => ls.map(l => l.dataset.room)") == ["deals"]
    page.select_option("#by", "brand")
    page.wait_for_selector("#legend li[data-series=nova]")
    assert page.locator("header nav a[href='/console/queue']").count() == 0  # no queue for a regulator
    csv = page.evaluate("fetch(document.getElementById('csv').href).then(r => r.text())")
    assert csv.splitlines()[0].startswith("id,opened_at") and len(csv.splitlines()) == 3
    token = "document.cookie.split('; ').find(c => c.startsWith('livewarden_csrf=')).split('=')[1]"
    claimed = page.evaluate(f"fetch('/queue/claim', {{method: 'POST', headers: {{'x-csrf-token': {token}}}}})"
                            ".then(r => r.status)")
    assert claimed == 403  # read-only, even with a valid session and token


def test_a_seller_checks_a_clip_reads_the_report_and_appeals_a_decision(world, browser_context, tmp_path):
    from livewarden.assets.marks import generate_mark
    from livewarden.cases.platform import Statement
    from livewarden.testing.clips import write_clip
    from livewarden.testing.scenes import room_frames

    clip = tmp_path / "my-broadcast.mp4"  # a seller's clip that holds up the NOVA card it may not sell
    write_clip(clip, room_frames(generate_mark("NOVA", 11), seconds=5.0, fps=10, size=(640, 360), mark_on=(1.0, 4.0)),
               10)
    world.see("deals", "mark", "nova")
    moderator = _principal(world, "moderator", "shopA")
    [case] = world.platform.cases(moderator)
    world.platform.act(moderator, case["id"], "pause_room",
                       Statement(facts="NOVA card shown by a seller NOVA never authorized", ground="trademark infringement"))

    page = sign_in(browser_context, world, "seller", "bargain")
    page.set_input_files("#clip", str(clip))
    page.click("#upload button[type=submit]")
    page.wait_for_selector("#findings", timeout=60_000)
    assert page.eval_on_selector_all("#findings li", "ls => ls.map(l => l.dataset.rule)") == ["unauthorized_brand"]
    assert page.get_attribute("#progress", "value") == "1"
    page.wait_for_function("() => [...document.querySelectorAll('#findings img')].some(i => i.naturalWidth > 0)")
    first = page.get_attribute("#findings img", "src")  # the finding's crop, served to the seller who scanned
    assert browser_context.request.get(world.url + first).headers["content-type"] == "image/jpeg"
    other = browser_context.browser.new_context()
    try:  # another seller cannot read it by its URL
        assert sign_in(other, world, "seller", "other").evaluate(f"fetch('{first}').then(r => r.status)") == 404
    finally:
        other.close()

    decision = page.locator(f"article.decision[data-case='{case['id']}']")
    assert "NOVA card shown by a seller NOVA never authorized" in decision.inner_text()
    decision.locator("textarea").fill("the card is a licensed display, see the contract")
    decision.locator("button").click()
    page.wait_for_selector(f"article.decision[data-case='{case['id']}'] >> text=appealed")
    assert world.platform.case(moderator, case["id"])["status"] == "appealed"


def test_a_second_moderator_cannot_claim_the_case_the_first_holds(world, browser_context):
    world.see("deals", "mark", "nova")
    first = sign_in(browser_context, world, "moderator", "shopA")
    first.keyboard.press("c")
    first.wait_for_selector("[data-alert]")
    from livewarden.cases.keys import create_key

    other = browser_context.browser.new_context()
    try:
        second = other.new_page()  # another moderator of the platform, with a key of their own
        second.goto(world.url + "/console/login")
        second.fill("#key", create_key(world.store.engine, "moderator", "shopA", "second")[1])
        second.click("button[type=submit]")
        second.wait_for_url("**/console/queue")
        second.wait_for_selector("header .who")
        second.keyboard.press("c")
        second.wait_for_selector("#case >> text=The queue is empty.")
        assert second.locator("[data-alert]").count() == 0
    finally:
        other.close()


def test_a_moderator_dismisses_several_cases_at_once(world, browser_context):
    world.see("deals", "mark", "nova")
    world.see("deals", "face", "ada")
    world.see("deals", "face", "bob")
    page = sign_in(browser_context, world, "moderator", "shopA")
    page.wait_for_selector("#open-cases tr[data-case]")
    assert page.locator("#open-cases tr[data-case]").count() == 3
    page.check("#select-all")
    page.uncheck("#open-cases tr[data-case]:last-child .pick")  # keep one for review
    page.fill("#bulk-facts", "the seller's own licensed display, checked with the brand")
    page.click("#bulk-dismiss")
    page.wait_for_selector("#bulk-status >> text=dismiss: 2 of 2 done")
    statuses = sorted(c["status"] for c in world.platform.cases(_principal(world, "moderator", "shopA")))
    assert statuses == ["dismissed", "dismissed", "open"]
    assert page.locator("#open-cases tr[data-case]").count() == 1


UNNAMED = """() => {
  const named = (e) => (e.getAttribute("aria-label") || e.getAttribute("aria-labelledby") || e.getAttribute("title")
                        || (e.id && document.querySelector(`label[for="${e.id}"]`)) || e.closest("label")
                        || e.getAttribute("placeholder") || (e.textContent || "").trim());
  return [...document.querySelectorAll("input:not([type=hidden]), select, textarea, button, a[href]")]
           .filter((e) => !named(e)).map((e) => e.outerHTML.slice(0, 80))
    .concat([...document.querySelectorAll("img:not([alt])")].map((e) => e.outerHTML.slice(0, 80)))
    .concat([...document.querySelectorAll("main svg:not([role=img])")].map((e) => e.outerHTML.slice(0, 80)));
}"""


@pytest.mark.parametrize("role,tenant,pages", [
    ("moderator", "shopA", ["wall", "room?id=deals", "queue", "case?id=1", "warning"]),
    ("brand", "nova", ["notices", "wall"]), ("regulator", "shopA", ["warning"]), ("seller", "bargain", ["selfcheck"])])
def test_every_control_image_and_chart_has_a_name_a_screen_reader_can_read(world, browser_context, role, tenant, pages):
    world.see("deals", "mark", "nova")
    page = sign_in(browser_context, world, role, tenant)
    if role == "moderator":
        page.keyboard.press("c")  # a moderator starts at the queue  # a claimed case shows evidence, reference images and the reasons form
        page.wait_for_selector(".evidence img")
        assert page.eval_on_selector_all(".evidence img", "is => is.length") >= 2
        assert page.evaluate(UNNAMED) == []
    for name in pages:
        page.goto(f"{world.url}/console/{name}")
        page.wait_for_load_state("networkidle")
        assert page.evaluate(UNNAMED) == [], name
