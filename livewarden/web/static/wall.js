// The wall: every room the caller may see as a tile (health, what is on camera, open alerts as a badge).
// Alerts arrive over the live feed; the rooms' health numbers come from one /rooms request every 2 s for the
// whole wall (never a request per tile).
import { api, el, header, live, whereWatched } from "/console/static/common.js";

const rooms = new Map();      // room id -> the room as /rooms gives it
const open = new Map();       // room id -> Map(open alert id -> its rule; the filter matches the rules too)
const tiles = new Map();      // room id -> its tile element
const wall = document.getElementById("wall");
const sort = document.getElementById("sort"), filter = document.getElementById("filter");
const onlyAlerting = document.getElementById("only-alerting");

function openCount(id) { return (open.get(id) || new Map()).size; }

function tile(room) {
  const h = room.health || {};
  const state = room.watched ? (h.state || "starting") : (h.state || "not watched");  // lost, stopped: elsewhere
  const n = openCount(room.id);
  const node = el("article", { class: "tile" + (n ? " alerting" : ""), "data-room": room.id },
    n ? el("span", { class: "badge", title: `${n} open alert(s)` }, String(n)) : "",
    el("img", { class: "thumb", alt: `what ${room.id} shows`, loading: "lazy", width: 240, height: 135,
                src: room.thumbnail_at ? `/rooms/${encodeURIComponent(room.id)}/thumbnail?at=${room.thumbnail_at}` : undefined }),
    el("h3", { title: room.title || room.id }, room.title || room.id),
    el("div", { class: "meta" }, `${room.id} · ${room.seller}`),
    el("div", { class: "health" }, el("span", { class: "state-" + state.replace(/\s/g, "-") }, state),
       room.watched && h.fps_in !== undefined ? ` · ${h.fps_in.toFixed(1)} fps · lag ${h.lag_s.toFixed(1)} s · ${h.drops} drops` : "",
       room.watched ? "" : (h.last_error ? ` · ${h.last_error}` : "")),
    el("div", { class: "worker muted" }, room.worker ? whereWatched(room) : ""),
    el("div", { class: "on-camera" }, (room.on_camera || []).length ? "on camera: " + room.on_camera.join(", ") : ""));
  node.addEventListener("click", () => { location.href = "/console/room?id=" + encodeURIComponent(room.id); });
  return node;
}

function render() {
  const q = filter.value.trim().toLowerCase();
  let list = [...rooms.values()].filter((r) => !q || [r.id, r.title, r.seller, ...(r.on_camera || []),
                                                      ...(open.get(r.id) || new Map()).values()]
    .some((s) => (s || "").toLowerCase().includes(q)));
  if (onlyAlerting.checked) list = list.filter((r) => openCount(r.id) > 0);
  const by = sort.value;
  list.sort((a, b) => by === "alerts" ? openCount(b.id) - openCount(a.id) || a.id.localeCompare(b.id)
                                      : (a[by === "room" ? "id" : "seller"] || "").localeCompare(b[by === "room" ? "id" : "seller"] || ""));
  const fresh = list.map((r) => { const t = tile(r); tiles.set(r.id, t); return t; });
  wall.replaceChildren(...fresh);
  document.getElementById("count").textContent = `${list.length} of ${rooms.size} rooms · ` +
    `${[...open.values()].reduce((s, v) => s + v.size, 0)} open alerts`;
}

function redraw(id) {  // one tile, in place (a live event)
  const old = tiles.get(id), room = rooms.get(id);
  if (!room) return;
  if (sort.value === "alerts" || onlyAlerting.checked) { render(); return; }
  const t = tile(room); tiles.set(id, t);
  if (old && old.parentNode) old.replaceWith(t); else render();
}

function opened(room, alertId, rule) {
  if (!open.has(room)) open.set(room, new Map());
  open.get(room).set(alertId, rule);
}

async function loadRooms() {
  for (const r of (await api("/rooms")).items) rooms.set(r.id, r);
}

async function loadOpenAlerts() {
  let after = 0;
  for (;;) {
    const page = await api(`/alerts?status=open&include_shadow=false&limit=500&after=${after}`);
    for (const a of page.items) opened(a.room_id, a.id, a.rule);
    if (page.next === null) break;
    after = page.next;
  }
}

await header("wall");
await Promise.all([loadRooms(), loadOpenAlerts()]);
render();
for (const input of [sort, filter, onlyAlerting]) input.addEventListener("input", render);
live({
  "alert.opened": (e) => {
    const d = e.data;
    if (d.shadow) return;
    opened(d.room_id, d.alert_id, d.rule);
    redraw(d.room_id);
  },
  "alert.closed": (e) => { const s = open.get(e.data.room_id); if (s) { s.delete(e.data.alert_id); redraw(e.data.room_id); } },
  "room.health": (e) => { const r = rooms.get(e.data.room_id);
                          if (r) { r.health = { ...(r.health || {}), state: e.data.state }; redraw(r.id); } },
});
// every 2 s: the health numbers and pictures, changed in place (the tiles and their order stay)
setInterval(async () => {
  try {
    await loadRooms();
    document.getElementById("count").classList.remove("error");
  } catch (e) {  // the server restarting, the network gone: say so, and look again in 2 s
    const count = document.getElementById("count");
    count.textContent = `the server does not answer (${e.message}); trying again`;
    count.classList.add("error");
    return;
  }
  for (const [id, node] of tiles) {
    const room = rooms.get(id);
    if (!room || !node.isConnected) continue;
    const fresh = tile(room);
    node.querySelector(".health").replaceWith(fresh.querySelector(".health"));
    node.querySelector(".on-camera").replaceWith(fresh.querySelector(".on-camera"));
    node.querySelector(".worker").replaceWith(fresh.querySelector(".worker"));
    const img = node.querySelector("img.thumb"), src = fresh.querySelector("img.thumb").getAttribute("src");
    if (src && img.getAttribute("src") !== src) img.setAttribute("src", src);
  }
}, 2000);
