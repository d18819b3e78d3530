// The review queue: claim the oldest open case (held for you alone), see each alert's evidence and signals,
// act with a statement of reasons filled in from the evidence. Keyboard first.
import { api, el, evidenceFigures, header, toast } from "/console/static/common.js";

// the legal ground an action on each rule relies on (the moderator may change it)
const GROUND = {
  unauthorized_brand: "trademark infringement: the seller is not authorized for this brand",
  listing_mismatch: "trademark infringement: the room shows a brand it does not list",
  unlisted_product: "the product shown is not one the room lists",
  unknown_product: "terms of service: products must be listed",
  impersonation: "impersonation of a protected person (personality rights)",
  concurrent_impersonation: "impersonation of a protected person (personality rights)",
  counterfeit_language: "offer of counterfeit goods",
  counterfeit_paraphrase: "offer of counterfeit goods (read by a person: no lexicon term)",
  viewer_fake_concern: "terms of service: buyers report counterfeit goods",
  price_anomaly: "offer of counterfeit goods: a price no genuine product could have",
  non_live_content: "terms of service: a recording shown as a live broadcast",
  restreamed_content: "copyright infringement: another's registered broadcast restreamed",
  concurrent_restream: "copyright infringement: another room's live broadcast restreamed",
  code_invalid: "offer of counterfeit goods: a traceability code the brand never issued",
  code_cloned: "offer of counterfeit goods: a genuine traceability code copied onto other units",
  code_product_mismatch: "offer of counterfeit goods: the unit's code belongs to another product",
};
const ACTIONS = { y: "confirm", d: "dismiss", p: "pause_room", w: "warn_seller" };
const box = document.getElementById("case"), status = document.getElementById("status");
let current = null;  // the case held

function say(text) { status.textContent = text; }

async function claim() {
  say("claiming…");
  const { case: held } = await api("/queue/claim", { method: "POST" });
  if (!held) { current = null; box.replaceChildren(el("p", { class: "muted" }, "The queue is empty.")); return; }
  current = await api(`/cases/${held.id}`);
  const alerts = await Promise.all(current.alerts.map((id) => api(`/alerts/${id}`)));
  show(current, alerts);
  say(`case ${held.id} is yours until ${new Date(held.claim_expires * 1000).toLocaleTimeString()}`);
}

// what the alert was matched against: the brand's mark, the product's pack shot, the person's reference photo
function reference(a) {
  if (a.person) return ["persons", a.person, "reference photo"];
  if (["unlisted_product", "price_anomaly"].includes(a.rule)) return ["products", a.subject, "catalog pack shot"];
  if (a.brand && a.subject === a.brand) return ["brands", a.brand, "registered mark"];
  return null;
}

// a brand seen by its name (a word-mark read on camera, not its logo matched): the words as read
function nameRead(alert) {
  const read = [...new Set(alert.signals.filter((s) => s.evidence && s.evidence.via === "text").map((s) => s.evidence.text))];
  return read.length ? el("p", { class: "read" }, "name read on camera, not a logo matched: ",
                          read.flatMap((t, i) => [i ? ", " : "", el("q", {}, t)])) : "";
}

function referenceFigure(a) {
  const ref = reference(a);
  if (!ref) return "";
  const [section, id, what] = ref;
  const img = el("img", { src: `/registry/${section}/${encodeURIComponent(id)}/images/0`, alt: `${what} of ${id}`,
                          class: "reference" });
  const figure = el("figure", { class: "reference" }, img, el("figcaption", {}, `${what}: ${id}`));
  img.addEventListener("error", () => { figure.replaceChildren(el("figcaption", {}, `no ${what} on file for ${id}`)); });
  return figure;
}

function show(c, alerts) {
  const first = alerts[0] || {};
  const facts = el("textarea", { id: "facts", rows: 4 }, alerts.map((a) => a.message).join("\n"));
  const ground = el("input", { id: "ground", value: GROUND[first.rule] || "terms of service" });
  const buttons = Object.entries(ACTIONS).map(([key, action]) =>
    el("button", { class: action === "dismiss" ? "" : action === "confirm" ? "primary" : "danger",
                   "data-action": action, onclick: () => act(action) }, `${action.replace("_", " ")} `, el("kbd", {}, key)));
  box.replaceChildren(el("div", { class: "queue" },
    el("section", { class: "panel" },
      el("h2", {}, `Case ${c.id} · room ${c.room_id} `, el("a", { href: `/console/case?id=${c.id}` }, "timeline")),
      el("dl", { class: "facts" },
        el("dt", {}, "seller"), el("dd", {}, c.seller || "—"), el("dt", {}, "brand"), el("dd", {}, c.brand || "—"),
        el("dt", {}, "person"), el("dd", {}, c.person || "—"), el("dt", {}, "status"), el("dd", {}, c.status),
        el("dt", {}, "opened"), el("dd", {}, new Date(c.opened_at * 1000).toLocaleString())),
      alerts.map((a) => el("div", { class: "alert", "data-alert": a.id },
        el("h3", {}, `${a.rule} · ${a.subject} `, el("span", { class: "muted" }, `${a.severity}, confidence ${a.confidence.toFixed(2)}, ${a.hits} hits`)),
        el("p", {}, a.message), nameRead(a),
        el("div", { class: "evidence" }, evidenceFigures(a.evidence, `alert ${a.id}`), referenceFigure(a)),
        el("details", {}, el("summary", {}, `${a.signals.length} signal(s)`),
           el("pre", {}, JSON.stringify(a.signals.map(({ frame, ...s }) => s), null, 1)))))),
    el("section", { class: "panel" },
      el("h2", {}, "Statement of reasons"),
      el("label", { for: "facts" }, "Facts and circumstances"), facts,
      el("label", { for: "ground" }, "Ground"), ground,
      el("p", { class: "muted" }, "Detection was automated; this decision is yours."),
      el("div", { class: "toolbar" }, buttons,
         el("button", { onclick: release }, "release ", el("kbd", {}, "r"))))));
}

async function act(action) {
  if (!current) return;
  const statement = { facts: document.getElementById("facts").value, ground: document.getElementById("ground").value,
                      automated_detection: true, automated_decision: false };
  try {
    await api(`/cases/${current.id}/actions`, { method: "POST", body: { action, statement } });
    toast(`case ${current.id}: ${action.replace("_", " ")}`);
    loadOpen();
    document.getElementById("last").replaceChildren("last decided: ", el("a", { href: `/console/case?id=${current.id}` },
                                                         `case ${current.id}'s timeline`));
    await claim();
  } catch (e) { say(`could not ${action}: ${e.message}`); }
}

async function release() {
  if (!current) return;
  await api(`/cases/${current.id}/release`, { method: "POST" });
  toast(`case ${current.id} released`);
  current = null; box.replaceChildren(); say("");
}

// bulk: the same decision, with the same statement, on each selected case (each recorded on its own)
async function loadOpen() {
  const items = (await api("/cases?status=open&limit=200")).items;
  document.querySelector("#open-cases tbody").replaceChildren(...items.map((c) => el("tr", { "data-case": c.id },
    el("td", {}, el("input", { type: "checkbox", class: "pick", value: c.id, style: "width:auto",
                                "aria-label": `select case ${c.id}` })),
    el("td", {}, el("a", { href: `/console/case?id=${c.id}` }, String(c.id))), el("td", {}, c.room_id),
    el("td", {}, c.seller || "—"), el("td", {}, c.brand || c.person || "—"),
    el("td", {}, new Date(c.opened_at * 1000).toLocaleString()))));
}

async function bulk(action) {
  const ids = [...document.querySelectorAll("#open-cases .pick:checked")].map((b) => b.value);
  const facts = document.getElementById("bulk-facts").value.trim();
  const out = document.getElementById("bulk-status");
  if (!ids.length || !facts) { out.textContent = "select cases and write the facts first"; return; }
  let done = 0; const failed = [];
  for (const id of ids) {
    try {
      await api(`/cases/${id}/actions`, { method: "POST", body: { action, statement: {
        facts, ground: "terms of service", ground_type: "terms_of_service", automated_detection: true } } });
      done++;
    } catch (e) { failed.push(`${id}: ${e.message}`); }
    out.textContent = `${action}: ${done} of ${ids.length}`;
  }
  await loadOpen();  // the list shows what was done before the status says it is
  out.textContent = `${action}: ${done} of ${ids.length} done` + (failed.length ? `; not done: ${failed.join("; ")}` : "");
}

await header("queue");
document.getElementById("select-all").addEventListener("change", (e) => {
  for (const b of document.querySelectorAll("#open-cases .pick")) b.checked = e.target.checked;
});
for (const b of document.querySelectorAll("[data-bulk]")) b.addEventListener("click", () => bulk(b.dataset.bulk));
await loadOpen();
document.getElementById("claim").addEventListener("click", claim);
document.addEventListener("keydown", (e) => {
  if (e.target.matches("input, textarea") || e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.key === "c") claim();
  else if (e.key === "r") release();
  else if (ACTIONS[e.key]) act(ACTIONS[e.key]);
});
