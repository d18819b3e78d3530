// Self-check (sellers): upload a clip with a progress bar, follow the scan, read the report (findings, what was
// on camera when, the transcript with flagged spans), download it; and the decisions about you, with their
// statements of reasons and the appeal.
import { api, cookie, el, evidenceFigures, header, marked, toast } from "/console/static/common.js";

const form = document.getElementById("upload"), bar = document.getElementById("progress");
const state = document.getElementById("state"), problem = document.getElementById("problem");

// XMLHttpRequest, not fetch: it reports upload progress
function upload(room, file) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/scans?room_id=${encodeURIComponent(room)}`);
    xhr.setRequestHeader("x-csrf-token", cookie("livewarden_csrf"));
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) { bar.value = e.loaded / e.total; state.textContent = `uploading ${Math.round(100 * e.loaded / e.total)}%`; } };
    xhr.onload = () => {
      const data = JSON.parse(xhr.responseText || "{}");
      xhr.status < 300 ? resolve(data) : reject(new Error(data.error ? data.error.reason : xhr.statusText));
    };
    xhr.onerror = () => reject(new Error("the upload failed (network)"));
    xhr.send(file);
  });
}

function showReport(report) {
  const json = new Blob([JSON.stringify(report, null, 2)], { type: "application/json" });
  document.getElementById("report").replaceChildren(
    el("h3", {}, `Report: ${report.findings.length} finding(s) in ${report.duration_s.toFixed(1)} s of ${report.room}`),
    el("ul", { class: "plain", id: "findings" }, report.findings.map((f) =>
      el("li", { "data-rule": f.rule }, el("strong", {}, `${f.rule} · ${f.subject}`), ` at ${f.first_stream_time.toFixed(1)}–${f.last_stream_time.toFixed(1)} s: `, f.message,
         el("div", { class: "evidence" }, evidenceFigures(f.evidence, f.rule))))),
    el("h3", {}, "On camera"),
    el("ul", { class: "plain" }, report.on_camera.map((s) =>
      el("li", {}, `${s.kind} ${s.subject}: ${s.first_stream_time.toFixed(1)}–${s.last_stream_time.toFixed(1)} s (${s.sightings} sightings)`))),
    el("h3", {}, "Said, shown and typed"),
    el("ul", { class: "plain" }, report.transcript.map((l) =>
      el("li", {}, el("span", { class: "muted" }, `${l.time.toFixed(1)} s ${l.source}: `), marked(l)))),
    el("a", { href: URL.createObjectURL(json), download: `livewarden-report-${report.room}.json` }, "download the report (JSON)"));
}

async function follow(id) {
  for (;;) {
    const job = await api(`/scans/${id}`);
    bar.value = job.progress.fraction;
    state.textContent = `${job.state}: ${job.progress.done_s} of ${job.progress.total_s} s`;
    if (job.state === "done") { showReport(job.report); return; }
    if (job.state === "failed") { problem.textContent = job.error; return; }
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function decisions() {
  const cases = (await api("/cases?limit=100")).items.filter((c) => c.status !== "open");
  if (!cases.length) return;
  const full = await Promise.all(cases.map((c) => api(`/cases/${c.id}`)));
  document.getElementById("decisions").replaceChildren(...full.map((c) => {
    const last = c.actions[c.actions.length - 1];
    const why = el("textarea", { rows: 2, placeholder: "why the decision should be reversed" });
    return el("article", { class: "decision", "data-case": c.id },
      el("h3", {}, `Case ${c.id} · ${c.room_id} · ${c.status}`),
      last ? el("dl", { class: "facts" }, el("dt", {}, "decision"), el("dd", {}, last.action),
                el("dt", {}, "facts"), el("dd", {}, last.statement.facts), el("dt", {}, "ground"), el("dd", {}, last.statement.ground),
                el("dt", {}, "automated"), el("dd", {}, last.statement.automated_decision ? "yes" : "no"),
                el("dt", {}, "redress"), el("dd", {}, last.statement.redress)) : "",
      c.status === "appealed" ? el("p", { class: "muted" }, "appealed: back in review") : [why,
        el("button", { onclick: async () => {
          try { await api(`/cases/${c.id}/appeal`, { method: "POST", body: { explanation: why.value } });
                toast(`case ${c.id} appealed`); await decisions(); } catch (e) { toast(e.message); } } }, "Appeal")]);
  }));
}

await header("selfcheck");
const rooms = (await api("/rooms")).items;
document.getElementById("room").replaceChildren(...rooms.map((r) => el("option", { value: r.id }, r.title || r.id)));
form.addEventListener("submit", async (e) => {
  e.preventDefault();
  problem.textContent = ""; bar.hidden = false; bar.value = 0;
  try {
    const job = await upload(form.room.value, form.clip.files[0]);
    await follow(job.id);
  } catch (err) { problem.textContent = err.message; state.textContent = ""; }
});
await decisions();
