// Early warning (regulators, platforms): alerts per finding, brand or seller over time as stacked bars,
// repeat offenders, rooms alerted now, and the export. Drawn as plain SVG: no chart library to ship.
import { api, el, header, svg, svgText, toast } from "/console/static/common.js";

const COLORS = ["#4da3ff", "#ff5c5c", "#f0b429", "#3fb950", "#c678dd", "#56b6c2", "#e5c07b", "#98c379", "#d19a66", "#8b98a8"];
const range = document.getElementById("range"), by = document.getElementById("by");

function chart(data, key) {
  const box = document.getElementById("chart"), width = box.clientWidth || 600, height = 260, pad = 30;
  const series = Object.entries(data.counts[key]).sort((a, b) => total(b[1]) - total(a[1])).slice(0, COLORS.length);
  const buckets = [];
  for (let t = Math.floor(data.since / data.bucket_s) * data.bucket_s; t < data.until; t += data.bucket_s) buckets.push(t);
  const stacks = buckets.map((t) => series.map(([, points]) => (points.find((p) => p.start === t) || { alerts: 0 }).alerts));
  const top = Math.max(1, ...stacks.map((s) => s.reduce((a, b) => a + b, 0)));
  const w = (width - 2 * pad) / Math.max(1, buckets.length);
  box.replaceChildren(svgText({ x: 2, y: 12 }, `${top}`));
  stacks.forEach((stack, i) => {
    let y = height - pad;
    stack.forEach((n, j) => {
      if (!n) return;
      const h = (height - 2 * pad) * n / top;
      y -= h;
      box.append(svg("rect", { x: pad + i * w + 1, y, width: Math.max(1, w - 2), height: h, fill: COLORS[j],
                               "data-series": series[j][0], "data-alerts": n },
                     `${series[j][0]}: ${n} at ${new Date(buckets[i] * 1000).toLocaleString()}`));
    });
  });
  document.getElementById("legend").replaceChildren(...series.map(([name, points], j) =>
    el("li", { "data-series": name }, el("span", { style: `color:${COLORS[j]}` }, "■ "), `${name}: ${total(points)}`)));
}

function total(points) { return points.reduce((s, p) => s + p.alerts, 0); }

async function load() {
  const [span, bucket] = range.value.split("/");
  const until = Date.now() / 1000, since = until - Number(span);
  const data = await api(`/aggregates?since=${since}&until=${until}&bucket=${bucket}`);
  document.getElementById("chart-title").textContent = `Alerts per ${by.selectedOptions[0].text}, per ${bucket}`;
  chart(data, by.value);
  document.getElementById("live").replaceChildren(...(data.rooms_alerted_now.length
    ? data.rooms_alerted_now.map((r) => el("li", { "data-room": r }, r)) : [el("li", { class: "muted" }, "none")]));
  document.querySelector("#offenders tbody").replaceChildren(...data.repeat_offenders.map((o) =>
    el("tr", {}, el("td", {}, o.seller), el("td", {}, String(o.alerts)))));
  for (const format of ["csv", "json"]) document.getElementById(format).href = `/export?since=${since}&until=${until}&format=${format}`;
}

await header("warning");
range.addEventListener("change", load);
by.addEventListener("change", load);
await load();
setInterval(() => load().catch((e) => toast(`the server does not answer: ${e.message}`)), 60000);
