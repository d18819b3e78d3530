// What every console page shares: the API with the session cookie and the CSRF token, the header, the live feed.

export function cookie(name) {
  const hit = document.cookie.split("; ").find((c) => c.startsWith(name + "="));
  return hit ? decodeURIComponent(hit.slice(name.length + 1)) : "";
}

export class ApiError extends Error {
  constructor(status, reason) { super(reason); this.status = status; }
}

// fetch from the API; a change carries the CSRF token; no session: to the login page
export async function api(path, { method = "GET", body } = {}) {
  const headers = { "accept": "application/json" };
  if (method !== "GET") headers["x-csrf-token"] = cookie("livewarden_csrf");
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
                                       credentials: "same-origin" });
  if (response.status === 401) {
    location.href = "/console/login?next=" + encodeURIComponent(location.pathname + location.search);
    return new Promise(() => {});  // the page is going away: nothing after this should run
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, data.error ? data.error.reason : response.statusText);
  return data;
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) node.setAttribute(k, v);
  }
  for (const child of children.flat()) node.append(child instanceof Node ? child : document.createTextNode(child ?? ""));
  return node;
}

const PAGES = { wall: "Wall", queue: "Queue", case: "Cases", notices: "Notices", warning: "Early warning",
                selfcheck: "Self-check" };
const FOR = { wall: null, queue: ["admin", "moderator"], case: null, notices: null,
              warning: ["admin", "moderator", "regulator"], selfcheck: ["seller"] };  // null: every role

// the header: the pages this role has, who is signed in, sign out; resolves to /me
export async function header(here) {
  const me = await api("/me");
  const nav = el("nav", {}, Object.entries(PAGES)
    .filter(([page]) => !FOR[page] || FOR[page].includes(me.role))
    .map(([page, title]) => el("a", { href: "/console/" + page, class: page === here ? "here" : "" }, title)));
  const out = el("button", { onclick: async () => { await api("/session", { method: "DELETE" });
                                                     location.href = "/console/login"; } }, "Sign out");
  document.body.prepend(el("header", {}, el("span", { class: "brand" }, "livewarden"), nav,
                           el("span", { class: "who", "data-role": me.role }, `${me.role} · ${me.tenant}`), out));
  return me;
}

// the live feed (server-sent events, the session cookie authenticates); handlers by event type
export function live(handlers) {
  const source = new EventSource("/events");
  for (const [type, handle] of Object.entries(handlers)) {
    source.addEventListener(type, (e) => handle(JSON.parse(e.data)));
  }
  return source;
}

export function toast(text, ms = 3000) {
  const node = el("div", { class: "toast", role: "status" }, text);
  document.body.append(node);
  setTimeout(() => node.remove(), ms);
}

const SVG_NS = "http://www.w3.org/2000/svg";

// an SVG element; `tooltip` becomes its <title> (shown on hover)
export function svg(tag, attrs = {}, tooltip) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (tooltip !== undefined) {
    const title = document.createElementNS(SVG_NS, "title");
    title.textContent = tooltip;
    node.append(title);
  }
  return node;
}

// an SVG text label (the charts' and timelines' muted small print)
export function svgText(attrs, text) {
  const node = svg("text", { fill: "#8b98a8", "font-size": 11, ...attrs });
  node.textContent = text;
  return node;
}

// a transcript line's text with each flagged span (a lexicon term) highlighted
export function marked(line) {
  const out = []; let at = 0;
  for (const f of (line.flags || []).filter((f) => Number.isInteger(f.start)).sort((a, b) => a.start - b.start)) {
    if (f.start < at) continue;
    out.push(line.text.slice(at, f.start), el("mark", { title: f.term || "" }, line.text.slice(f.start, f.end)));
    at = f.end;
  }
  out.push(line.text.slice(at));
  return out;
}

// evidence files as figures: images shown, text evidence (JSON: the words as they came) shown as its text
export function evidenceFigures(urls, what) {
  return urls.map((url, i) => {
    const caption = el("figcaption", {}, `evidence ${i + 1}`);
    const img = el("img", { src: url, alt: `evidence ${i + 1} of ${what}`, loading: "lazy" });
    img.addEventListener("error", async () => {
      try { img.replaceWith(el("pre", { class: "words" }, JSON.stringify(await api(url), null, 1))); }
      catch (e) { img.replaceWith(el("p", { class: "muted" }, `evidence ${i + 1} could not be read: ${e.message}`)); }
    }, { once: true });
    return el("figure", {}, img, caption);
  });
}

// A room watched on another machine (the room board): its worker, and its last move with the time off the air.
export function whereWatched(room) {
  const m = room.last_move;
  if (!m) return `on ${room.worker}`;
  const gap = m.off_air_s !== null ? `${m.off_air_s.toFixed(1)} s off the air`
    : (room.health || {}).state === "live" ? "time off the air unknown" : "reconnecting";
  return `on ${room.worker} · moved from ${m.from} at ${new Date(m.at * 1000).toLocaleTimeString()}, ${gap}`;
}
