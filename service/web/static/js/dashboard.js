// The lead's dashboard: budget, mIoU per round, rounds with live stages, start/cancel a round, annotators,
// skipped images (re-queue), imported videos and frame folders, export. Polls /progress every 2 s while a round runs, every 15 s otherwise, and
// not at all while the tab is hidden.
import { request } from "./api.js";
import { budgetBar, miouChart } from "./chart.js";
import { byTestId, clear, h, hashParams, say, setHashParam } from "./dom.js";

const ACTIVE = new Set(["pending", "running"]);
export const POLL_ACTIVE_MS = 2000;
export const POLL_IDLE_MS = 15000;

function seconds(value) {
  if (value === null || value === undefined) return "–";
  return value < 90 ? `${value.toFixed(0)} s` : `${(value / 60).toFixed(1)} min`;
}

export function mount(view, ctx) {
  const st = { projectId: null, timer: null, stopped: false, lastSkippedKey: null };
  const projectSelect = h("select", { testid: "project-select", "aria-label": "project" });
  const budget = h("div", { testid: "budget" });
  const chart = h("div", { testid: "miou" });
  const rounds = h("div", { testid: "rounds" });
  const annotators = h("div", { testid: "annotators" });
  const skipped = h("div", { testid: "skipped" });
  const imports = h("div", { testid: "imports" });
  const batch = h("input", { type: "number", min: "1", testid: "round-batch", placeholder: "schedule", "aria-label": "batch size" });
  const strategy = h("select", { testid: "round-strategy", "aria-label": "strategy" },
    h("option", { value: "" }, "project default"));
  const startButton = h("button", { class: "primary", testid: "round-start" }, "Start round");
  const form = h("form", { class: "inline", testid: "round-form" }, "batch size", batch, "strategy", strategy, startButton);
  const pollInfo = h("span", { testid: "poll-info", class: "muted" });

  view.append(h("div", { class: "page" },
    h("div", { class: "card wide row" }, h("h2", {}, "Project"), projectSelect,
      h("button", { testid: "export", onclick: () => exportZip() }, "Download export (zip)"),
      h("a", { href: "#/annotate", testid: "go-label" }, "Label images"), pollInfo),
    h("div", { class: "card" }, h("h2", {}, "Label budget"), budget),
    h("div", { class: "card" }, h("h2", {}, "Validation mIoU per round"), chart),
    h("div", { class: "card wide" }, h("h2", {}, "Rounds"), form, rounds),
    h("div", { class: "card" }, h("h2", {}, "Annotators"), annotators),
    h("div", { class: "card" }, h("h2", {}, "Skipped images"), skipped),
    h("div", { class: "card wide" }, h("h2", {}, "Imported video"), imports)));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {};
    if (batch.value) body.batch_size = Number(batch.value);
    if (strategy.value) body.strategy = strategy.value;
    startButton.disabled = true;
    try {
      const round = await request("POST", `/projects/${st.projectId}/rounds`, { json: body });
      say(`Round ${round.index} started (${round.strategy}, ${round.batch_size} images).`, "info");
    } catch (error) {
      say(error.message, "error");
    } finally {
      startButton.disabled = false;
    }
    poll();
  });

  async function cancel(index) {
    try {
      const all = await request("GET", `/projects/${st.projectId}/rounds`);
      const round = all.data.find((r) => r.index === index);
      await request("POST", `/rounds/${round.id}/cancel`);
      say(`Round ${index} cancelled.`, "info");
    } catch (error) {
      say(error.message, "error");
    }
    poll();
  }

  async function exportZip() {
    try {
      const response = await request("GET", `/projects/${st.projectId}/export`, { raw: true });
      const blob = await response.blob();
      const link = h("a", { href: URL.createObjectURL(blob), download: `project${st.projectId}_gtFine.zip` });
      link.click();
      setTimeout(() => URL.revokeObjectURL(link.href), 10000);
      say(`Export of ${response.headers.get("x-labeled-images")} labeled images downloaded.`, "info");
    } catch (error) {
      say(error.message, "error");
    }
  }

  function renderRounds(list) {
    clear(rounds);
    if (!list.length) return rounds.append(h("p", {}, "No round yet: start the cold start (round 0) above."));
    const table = h("table", {}, h("tr", {}, ["round", "status", "strategy", "batch", "mIoU", "time", "stages", ""].map((t) => h("th", {}, t))));
    for (const r of [...list].reverse()) {
      const stages = h("div", { class: "stages" });
      for (const j of r.stages) {
        const bar = h("progress", { max: "1", value: String(j.progress), testid: "stage-progress" });
        stages.append(h("span", {}, j.kind), h("span", { class: `status-${j.status}` }, j.status),
          h("span", {}, bar, ` ${(100 * j.progress).toFixed(0)}% ${j.stage || ""} ${j.message || ""}`));
      }
      const miou = r.metrics?.miou;
      table.append(h("tr", { testid: `round-${r.index}`, "data-status": r.status },
        h("td", {}, String(r.index)), h("td", { class: `status-${r.status}`, testid: "round-status" }, r.status),
        h("td", {}, r.strategy || "–"), h("td", {}, String(r.batch_size)),
        h("td", {}, typeof miou === "number" ? `${(100 * miou).toFixed(1)} %` : "–"), h("td", {}, seconds(r.seconds)),
        h("td", {}, stages, r.error ? h("div", { class: "status-failed" }, r.error) : null),
        h("td", {}, ACTIVE.has(r.status) ? h("button", { class: "danger", testid: "round-cancel", onclick: () => cancel(r.index) }, "Cancel") : null)));
    }
    rounds.append(table);
  }

  function renderAnnotators(list) {
    clear(annotators);
    if (!list.length) return annotators.append(h("p", {}, "Nobody has labeled yet."));
    annotators.append(h("table", {}, h("tr", {}, ["annotator", "labeled", "submissions", "open leases", "expired leases"].map((t) => h("th", {}, t))),
      list.map((a) => h("tr", { testid: `annotator-${a.user_id}` }, h("td", {}, a.name), h("td", {}, String(a.labeled)),
        h("td", {}, String(a.submissions)), h("td", {}, String(a.open_leases)), h("td", {}, String(a.expired_leases))))));
  }

  function renderImports(progress) {
    clear(imports);
    for (const j of progress.importing) {
      imports.append(h("div", { testid: `importing-${j.job_id}` }, `import job ${j.job_id} ${j.status} `,
        h("progress", { max: "1", value: String(j.progress) }), ` ${(100 * j.progress).toFixed(0)}% ${j.message || ""}`));
    }
    if (!progress.imports.length) return imports.append(h("p", {}, "No video or frame folder imported yet (depthal import, docs/data.md)."));
    imports.append(h("p", {}, `${progress.sequences} sequences, ${progress.frames} frames for depth training`),
      h("table", {}, h("tr", {}, ["sequence", "source", "frames", "stride", "pool images", "intrinsics"].map((t) => h("th", {}, t))),
        progress.imports.map((s) => h("tr", { testid: `sequence-${s.id}` }, h("td", {}, s.name), h("td", {}, s.source),
          h("td", {}, String(s.frame_count)), h("td", {}, String(s.frame_stride)), h("td", {}, String(s.pool_images)),
          h("td", {}, s.intrinsics_source, s.warning ? h("div", { class: "status-failed", title: s.warning }, "default intrinsics: give hfov_deg or focal_px") : null)))));
  }

  async function renderSkipped(count) {
    const key = `${st.projectId}:${count}`;
    if (key === st.lastSkippedKey) return;
    st.lastSkippedKey = key;
    clear(skipped);
    if (!count) return skipped.append(h("p", {}, "No skipped images."));
    const list = await request("GET", `/projects/${st.projectId}/images?state=skipped&limit=50`);
    skipped.append(h("table", {}, h("tr", {}, h("th", {}, "image"), h("th", {}, "reason")),
      list.data.map((i) => h("tr", {}, h("td", {}, `${i.id} ${i.name}`), h("td", {}, i.skip_reason || "–")))),
    h("button", { testid: "requeue-skipped", onclick: () => requeue() }, `Re-queue all ${count} skipped`));
  }

  async function requeue() {
    try {
      const done = await request("POST", `/projects/${st.projectId}/queue/requeue-skipped`, { json: {} });
      say(`${done.count} images are back in the queue at their old places.`, "info");
    } catch (error) {
      say(error.message, "error");
    }
    poll();
  }

  async function poll() {
    clearTimeout(st.timer);
    if (st.stopped || !st.projectId) return;
    if (document.visibilityState === "hidden") return; // resumed by visibilitychange
    let active = false;
    try {
      const progress = await request("GET", `/projects/${st.projectId}/progress`);
      active = progress.rounds.some((r) => ACTIVE.has(r.status)) || progress.importing.length > 0;
      clear(budget).append(budgetBar(progress));
      clear(chart).append(miouChart(progress.rounds));
      renderRounds(progress.rounds);
      renderAnnotators(progress.annotators);
      renderImports(progress);
      await renderSkipped(progress.skipped);
    } catch (error) {
      say(error.message, "error");
    }
    if (st.stopped) return;
    const every = active ? POLL_ACTIVE_MS : POLL_IDLE_MS;
    pollInfo.textContent = `updated ${new Date().toLocaleTimeString()}, next in ${every / 1000} s`;
    pollInfo.dataset.every = String(every);
    st.timer = setTimeout(poll, every);
  }

  const visibility = () => document.visibilityState === "visible" && poll();
  document.addEventListener("visibilitychange", visibility);

  async function start() {
    try {
      const [projects, strategies] = await Promise.all([request("GET", "/projects?limit=1000"), request("GET", "/strategies")]);
      for (const p of projects.data) projectSelect.append(h("option", { value: String(p.id) }, p.name));
      for (const sgy of strategies.data) strategy.append(h("option", { value: sgy.name, title: sgy.description }, sgy.name));
      if (!projects.data.length) return say("No project yet: create one with POST /projects (docs/api.md).", "info");
      const wanted = hashParams().get("project");
      if (wanted && projects.data.some((p) => String(p.id) === wanted)) projectSelect.value = wanted;
      choose();
    } catch (error) {
      say(error.message, "error");
    }
  }

  function choose() {
    st.projectId = Number(projectSelect.value);
    st.lastSkippedKey = null;
    setHashParam("project", st.projectId);
    byTestId("go-label", view).href = `#/annotate?project=${st.projectId}`;
    poll();
  }
  projectSelect.addEventListener("change", choose);
  start();
  if (ctx.message) say(ctx.message, "info");
  return () => {
    st.stopped = true;
    clearTimeout(st.timer);
    document.removeEventListener("visibilitychange", visibility);
  };
}
