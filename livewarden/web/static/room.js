// One room: a bigger live picture, what was on camera when (spans), what was said, shown and typed (flagged
// terms highlighted) and its alerts, on one stream-time axis; the seller and the listings.
import { api, el, header, marked, svg, svgText, whereWatched } from "/console/static/common.js";

const id = new URLSearchParams(location.search).get("id");

function draw(b) {
  const box = document.getElementById("axis"), width = box.clientWidth || 900, pad = 120;
  const times = [...b.on_camera.flatMap((s) => [s.first_stream_time, s.last_stream_time]),
                 ...b.transcript.map((l) => l.time), ...b.alerts.map((a) => a.first_stream_time)];
  const end = Math.max(1, ...times);
  const x = (t) => pad + (width - pad - 10) * t / end;
  const subjects = [...new Set(b.on_camera.map((s) => `${s.kind}: ${s.subject}`))];
  box.setAttribute("height", 40 + 18 * (subjects.length + 2));
  box.replaceChildren();
  subjects.forEach((name, row) => {
    const y = 10 + row * 18;
    box.append(svgText({ x: 0, y: y + 11 }, name));
    for (const s of b.on_camera.filter((s) => `${s.kind}: ${s.subject}` === name)) {
      box.append(svg("rect", { x: x(s.first_stream_time), y, height: 12, rx: 3, fill: "#4da3ff", "data-span": s.subject,
                               width: Math.max(2, x(s.last_stream_time) - x(s.first_stream_time)) },
                     `${name} ${s.first_stream_time.toFixed(1)}–${s.last_stream_time.toFixed(1)} s`));
    }
  });
  const said = 10 + subjects.length * 18, alerted = said + 18;
  box.append(svgText({ x: 0, y: said + 11 }, "said / shown / typed"));
  for (const l of b.transcript) {
    box.append(svg("rect", { x: x(l.time) - 1, y: said, width: 3, height: 12, fill: l.flags.length ? "#f0b429" : "#36455a" },
                   `${l.time.toFixed(1)} s ${l.source}: ${l.text}`));
  }
  box.append(svgText({ x: 0, y: alerted + 11 }, "alerts"));
  for (const a of b.alerts) {
    box.append(svg("circle", { cx: x(a.first_stream_time), cy: alerted + 6, r: 5, fill: "#ff5c5c", "data-alert": a.id },
                   `${a.rule} · ${a.subject} at ${a.first_stream_time.toFixed(1)} s`));
  }
  document.getElementById("lines").replaceChildren(...b.transcript.slice(-50).map((l) =>
    el("li", { "data-flagged": l.flags.length > 0 }, el("span", { class: "muted" }, `${l.time.toFixed(1)} s ${l.source}: `), marked(l))));
}

async function refresh(room) {
  const fresh = (await api("/rooms")).items.find((r) => r.id === id);
  if (fresh && fresh.thumbnail_at) document.getElementById("live").src = `/rooms/${encodeURIComponent(id)}/thumbnail?at=${fresh.thumbnail_at}`;
  const h = (fresh || room).health || {};
  document.getElementById("health").textContent = (fresh && fresh.watched
    ? `${h.state} · ${(h.fps_in || 0).toFixed(1)} fps · lag ${(h.lag_s || 0).toFixed(1)} s · ${h.drops} drops · on camera: ${(fresh.on_camera || []).join(", ") || "nothing known"}`
    : (h.state ? `${h.state} · ${h.last_error}` : "not watched")) + (fresh && fresh.worker ? ` · ${whereWatched(fresh)}` : "");
  try {
    draw(await api(`/rooms/${encodeURIComponent(id)}/broadcast`));
    document.getElementById("broadcast-note").textContent = "";
  } catch (e) {  // not watched, or watched on another machine: the server says why
    document.getElementById("broadcast-note").textContent = e.message;
  }
}

await header("wall");
const room = (await api("/rooms")).items.find((r) => r.id === id);
if (!room) {
  document.querySelector("main").replaceChildren(el("p", { class: "error" }, `no room ${id} you may see`));
} else {
  document.getElementById("title").textContent = `${room.title || room.id} · ${room.id}`;
  document.getElementById("facts").replaceChildren(el("dt", {}, "seller"), el("dd", {}, room.seller),
    el("dt", {}, "platform"), el("dd", {}, room.platform),
    el("dt", {}, "listings"), el("dd", {}, room.listings.join(", ") || "none"));
  await refresh(room);
  setInterval(() => refresh(room).catch(() => {}), 1000);
}
