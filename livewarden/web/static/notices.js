// Notices (brands, persons): file one with the DSA Art. 16 fields, follow each with its clock (time left to
// act; breached in red), and see the alerts it can be about.
import { api, el, header, toast } from "/console/static/common.js";

const form = document.getElementById("notice");
let notices = [];

function left(n) {
  const c = n.clock;
  if (c.time_left_s === null) return el("span", { class: "muted" }, n.state === "decided" ? "settled" : "—");
  const s = c.due_at - Date.now() / 1000;
  if (s < 0) return el("span", { class: "error", "data-breached": "true" }, `breached ${Math.round(-s / 60)} min ago`);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  return el("span", { "data-left": Math.round(s) }, `${h} h ${m} min left`);
}

function renderList() {
  document.querySelector("#list tbody").replaceChildren(...notices.map((n) => el("tr", { "data-notice": n.id },
    el("td", {}, String(n.id)), el("td", {}, n.fields.room_id || n.fields.url || "—"), el("td", {}, n.state),
    el("td", {}, new Date(n.received_at * 1000).toLocaleString()), el("td", { class: "clock" }, left(n)))));
}

async function load() {
  notices = (await api("/notices")).items;
  renderList();
}

const me = await header("notices");
const alerts = (await api("/alerts?limit=200&include_shadow=false")).items;
document.getElementById("alerts").replaceChildren(...alerts.slice(-20).reverse().map((a) =>
  el("li", {}, `#${a.id} ${a.rule} in ${a.room_id} · ${a.status} · `, el("span", { class: "muted" }, a.message))));
if (["brand", "person"].includes(me.role)) {
  document.getElementById("file").hidden = false;
  for (const a of alerts) document.getElementById("alert").append(el("option", { value: a.id }, `#${a.id} ${a.rule} in ${a.room_id}`));
  for (const room of new Set(alerts.map((a) => a.room_id))) document.getElementById("rooms").append(el("option", { value: room }));
  form.alert.addEventListener("change", () => {
    const a = alerts.find((x) => String(x.id) === form.alert.value);
    if (a) form.room.value = a.room_id;
  });
}
form.addEventListener("submit", async (e) => {
  e.preventDefault();
  const num = (v) => (v === "" ? undefined : Number(v));
  const body = { explanation: form.explanation.value, room_id: form.room.value, alert_id: num(form.alert.value),
                 start_s: num(form.start.value), end_s: num(form.end.value), url: form.url.value || undefined,
                 notifier_name: form.name.value, notifier_email: form.email.value, good_faith: form["good-faith"].checked };
  try {
    const ack = await api("/notices", { method: "POST", body });
    document.getElementById("problem").textContent = "";
    toast(`notice ${ack.id} received: case ${ack.case_id}`);
    form.reset();
    await load();
  } catch (err) { document.getElementById("problem").textContent = err.message; }
});
await load();
setInterval(renderList, 1000);  // the clocks tick in the page; the states come from the API
setInterval(() => load().catch((e) => toast(`the server does not answer: ${e.message}`)), 30000);
