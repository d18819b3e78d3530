// A case's timeline: "when did you know, and what did you do?" — each moment from the API on one time axis,
// with the time since the first signal and since the step before, and whether the audit chain verifies.
import { api, el, header, svg, svgText } from "/console/static/common.js";

const LABEL = { first_signal: "first signal", alert_opened: "alert opened", notice_received: "notice received",
                counter_notice_received: "counter-notice received", first_seen_by_moderator: "first seen by a moderator",
                action: "action", message_to_seller: "message to the seller" };

function seconds(s) {
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  if (s < 3600) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

function drawAxis(steps) {
  const axis = document.getElementById("axis");
  axis.replaceChildren();
  if (!steps.length) return;
  const width = axis.clientWidth || 900, pad = 40;
  const t0 = steps[0].at, span = Math.max(1e-3, steps[steps.length - 1].at - t0);
  // a log-like scale: seconds of detection and hours of review both stay readable
  const x = (t) => pad + (width - 2 * pad) * Math.log1p(t - t0) / Math.log1p(span);
  axis.append(svg("line", { x1: pad, x2: width - pad, y1: 45, y2: 45, stroke: "#36455a" }));
  steps.forEach((s, i) => {
    const cx = x(s.at), up = i % 2 === 0;
    axis.append(svg("circle", { cx, cy: 45, r: 5, fill: s.what === "action" ? "#ff5c5c" : "#4da3ff",
                                "data-what": s.what }));
    axis.append(svgText({ x: cx, y: up ? 28 : 72, "text-anchor": "middle" },
                    `${LABEL[s.what] || s.what}`));
  });
}

async function show(id) {
  const t = await api(`/cases/${id}/timeline`);
  history.replaceState(null, "", `?id=${id}`);
  const audit = document.getElementById("audit");
  audit.textContent = t.audit.verified ? `audit chain verified (${t.audit.entries_checked} entries of this case)`
                                       : `AUDIT CHAIN BROKEN at entry ${t.audit.first_bad_entry}`;
  audit.className = t.audit.verified ? "muted" : "error";
  drawAxis(t.steps);
  document.getElementById("steps").replaceChildren(...t.steps.map((s) => el("li", { "data-what": s.what },
    el("strong", {}, LABEL[s.what] || s.what), " ",
    el("span", { class: "muted" }, `${s.when} · +${seconds(s.since_first_s)} since the first signal · ` +
                                   `+${seconds(s.since_previous_s)} since the step before`),
    s.detail ? el("div", {}, s.detail) : "",
    s.action ? el("div", {}, `${s.action} by ${s.actor}${s.automated ? " (automated)" : ""}: ` +
                             `${s.statement.facts} — ground: ${s.statement.ground}`) : "")));
}

await header("case");
const input = document.getElementById("case-id");
const id = new URLSearchParams(location.search).get("id");
document.getElementById("open").addEventListener("click", () => show(input.value));
input.addEventListener("keydown", (e) => { if (e.key === "Enter") show(input.value); });
if (id) { input.value = id; await show(id); }
