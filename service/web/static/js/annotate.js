// The annotator's screen: project → "Start labelling" → next; the pre-label as the editable mask; tools, classes,
// undo, zoom, neighbour frames; lease timer and heartbeats; submit (a train-id PNG), skip, release. Drawings are
// kept locally per lease until the server accepts them (drafts.js).
import { fetchBitmap, request } from "./api.js";
import { dropDraft, findDraftOfImage, loadDraft, saveDraft } from "./drafts.js";
import { byTestId, clear, h, hashParams, say, setHashParam } from "./dom.js";
import { Editor, IGNORE, isTyping, TOOLS } from "./editor.js";
import { encodeGreyPng } from "./png.js";
import { reasonSentences } from "./reason.js";

const TOOL_KEYS = { brush: "B", eraser: "E", polygon: "P", flood: "G", superpixel: "S" };
const TOOL_NAMES = { brush: "Brush", eraser: "Eraser", polygon: "Polygon", flood: "Flood fill", superpixel: "Superpixel" };
const CLASS_KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "0"];
const KEYMAP = [
  ["B E P G S", "brush, eraser, polygon, flood fill, superpixel"], ["1 … 9, 0", "first ten classes"],
  ["/", "search classes"], ["[  ]", "brush smaller / larger"], ["H", "hide / show the mask"],
  [", .", "mask opacity − / +"], ["Ctrl+Z", "undo"], ["Ctrl+Shift+Z", "redo (also Ctrl+Y)"], ["wheel", "zoom"],
  ["Space + drag", "pan"], ["F / A", "fit / 100 %"], ["hold Q / W", "show frame t−1 / t+1"],
  ["Enter / Esc / ⌫", "polygon: close / cancel / drop last point"], ["Ctrl+Enter", "submit"],
];

function decodeChannel(bitmap) {
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  return ctx.getImageData(0, 0, bitmap.width, bitmap.height).data;
}

function classIds(bitmap) {
  const rgba = decodeChannel(bitmap);
  const out = new Uint8Array(bitmap.width * bitmap.height);
  for (let i = 0; i < out.length; i++) out[i] = rgba[4 * i];
  return out;
}

function segmentIds(bitmap) {
  const rgba = decodeChannel(bitmap);
  const out = new Int32Array(bitmap.width * bitmap.height);
  for (let i = 0; i < out.length; i++) out[i] = rgba[4 * i] + 256 * rgba[4 * i + 1];
  return out;
}

function clock(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

export function mount(view, ctx) {
  const s = { project: null, classes: [], lease: null, expiresAt: 0, ttl: 0, skew: 0, expired: false, busy: false,
    prelabel: null, draftTimer: null, heartbeat: null, ticker: null, releaseArmed: false };
  const byId = new Map();

  // ------------------------------------------------------------------------------------------ layout
  const projectSelect = h("select", { testid: "project-select", "aria-label": "project" });
  const startButton = h("button", { class: "primary", testid: "start", onclick: () => next() }, "Start labelling");
  const toolButtons = TOOLS.map((tool) => h("button", { testid: `tool-${tool}`, title: `${TOOL_NAMES[tool]} (${TOOL_KEYS[tool]})`,
    onclick: () => setTool(tool) }, TOOL_NAMES[tool], h("kbd", {}, TOOL_KEYS[tool])));
  const sizeOut = h("output", { testid: "brush-size" });
  const search = h("input", { type: "search", testid: "class-search", placeholder: "search classes ( / )",
    "aria-label": "search classes" });
  const palette = h("div", { class: "palette", testid: "palette" });
  const opacity = h("input", { type: "range", min: "0", max: "100", value: "50", testid: "opacity", "aria-label": "mask opacity" });
  const overlayToggle = h("button", { testid: "toggle-overlay", onclick: () => toggleOverlay() }, "Hide mask", h("kbd", {}, "H"));
  const frameButtons = ["prev", "next"].map((frame) => h("button", { testid: `frame-${frame}`, disabled: true,
    title: `hold to show frame t${frame === "prev" ? "−1" : "+1"}` }, frame === "prev" ? "t−1" : "t+1",
  h("kbd", {}, frame === "prev" ? "Q" : "W")));
  const viewport = h("div", { class: "viewport", testid: "viewport", tabindex: "0" });
  const hover = h("span", { testid: "hover-info" });
  const imageInfo = h("span", { testid: "image-info" });
  const superpixelInfo = h("span", { testid: "superpixel-status" });
  const timer = h("div", { class: "lease-timer", testid: "lease-timer" }, "no image leased");
  const reason = h("div", { class: "reason", testid: "reason" });
  const submitButton = h("button", { class: "primary", testid: "submit", disabled: true, onclick: () => submit() },
    "Submit", h("kbd", {}, "Ctrl+Enter"));
  const skipReason = h("input", { type: "text", testid: "skip-reason", maxlength: "500", placeholder: "why skip? (e.g. too dark)",
    "aria-label": "reason to skip" });
  const skipButton = h("button", { testid: "skip", disabled: true, onclick: () => skip() }, "Skip");
  const releaseButton = h("button", { testid: "release", disabled: true, onclick: () => release() }, "Release");

  view.append(h("div", { class: "annotate" },
    h("aside", { class: "panel tools-panel" },
      h("section", {}, h("h2", {}, "Project"), projectSelect, startButton),
      h("section", {}, h("h2", {}, "Tools"), h("div", { class: "tools" }, toolButtons),
        h("div", { class: "row" }, "Brush size ", h("button", { testid: "brush-smaller", onclick: () => resize(-1) }, "["),
          sizeOut, h("button", { testid: "brush-larger", onclick: () => resize(1) }, "]"))),
      h("section", { class: "classes" }, h("h2", {}, "Classes"), search, palette),
      h("section", {}, h("h2", {}, "View"), h("label", { class: "row" }, "Mask opacity ", opacity), overlayToggle,
        h("div", { class: "row" },
          h("button", { testid: "undo", onclick: () => editor.undo() }, "Undo"),
          h("button", { testid: "redo", onclick: () => editor.redo() }, "Redo")),
        h("div", { class: "row" },
          h("button", { testid: "fit", onclick: () => editor.fit() }, "Fit", h("kbd", {}, "F")),
          h("button", { testid: "zoom-100", onclick: () => editor.actualSize() }, "100 %", h("kbd", {}, "A"))),
        h("div", { class: "row" }, frameButtons))),
    h("section", { class: "workspace" }, viewport,
      h("div", { class: "statusbar" }, imageInfo, hover, superpixelInfo)),
    h("aside", { class: "panel info-panel" },
      h("section", {}, h("h2", {}, "Lease"), timer, submitButton,
        h("div", { class: "row" }, skipReason, skipButton), releaseButton),
      h("section", {}, h("h2", {}, "Why this image"), reason),
      h("section", { class: "keys" }, h("h2", {}, "Keys"),
        h("dl", { testid: "keymap" }, KEYMAP.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]))))));

  const editor = new Editor(viewport, {
    onHover: (p) => showHover(p),
    onEdit: () => scheduleDraft(),
    onNotice: (text) => say(text, "info"),
  });

  // ------------------------------------------------------------------------------------------ tools and classes
  function setTool(tool) {
    editor.setTool(tool);
    for (const b of toolButtons) b.setAttribute("aria-pressed", String(b.dataset.testid === `tool-${tool}`));
  }

  function resize(direction) {
    const size = editor.brushSize;
    if (direction > 0) editor.brushSize = Math.min(512, Math.ceil(size * 1.25));
    if (direction < 0) editor.brushSize = Math.max(1, Math.floor(size / 1.25));
    sizeOut.value = `${editor.brushSize} px`;
  }

  function setClass(trainId) {
    editor.classId = trainId;
    if (editor.tool === "eraser") setTool("brush");
    for (const b of palette.children) b.setAttribute("aria-pressed", String(Number(b.dataset.trainId) === trainId));
  }

  function renderPalette() {
    clear(palette);
    s.classes.forEach((c, k) => {
      const swatch = h("span", { class: "swatch" });
      swatch.style.background = `rgb(${c.color.join(",")})`;
      palette.append(h("button", { testid: `class-${c.train_id}`, "data-train-id": String(c.train_id),
        onclick: () => setClass(c.train_id) }, swatch, h("span", { class: "name" }, c.name),
      k < CLASS_KEYS.length ? h("kbd", {}, CLASS_KEYS[k]) : null));
    });
    editor.setPalette(s.classes);
    if (s.classes.length) setClass(s.classes[0].train_id);
  }

  search.addEventListener("input", () => {
    const q = search.value.trim().toLowerCase();
    for (const b of palette.children) b.hidden = q !== "" && !b.textContent.toLowerCase().includes(q);
  });
  search.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      const first = [...palette.children].find((b) => !b.hidden);
      if (first) first.click();
      search.value = ""; // the whole palette again, the picked class highlighted
      search.dispatchEvent(new Event("input"));
      search.blur();
      viewport.focus();
    } else if (e.key === "Escape") {
      search.value = "";
      search.dispatchEvent(new Event("input"));
      search.blur();
    }
  });

  opacity.addEventListener("input", () => (editor.maskCanvas.style.opacity = String(opacity.value / 100)));
  function toggleOverlay() {
    const hidden = editor.maskCanvas.classList.toggle("hidden");
    overlayToggle.firstChild.textContent = hidden ? "Show mask" : "Hide mask";
  }

  function className(value) {
    if (value === IGNORE) return "ignore";
    return byId.get(value)?.name ?? `unknown id ${value}`;
  }

  function showHover(p) {
    if (!p) return (hover.textContent = "");
    const was = s.prelabel ? ` (pre-label: ${className(s.prelabel[p.y * editor.width + p.x])})` : "";
    hover.textContent = `x ${p.x}, y ${p.y}: ${className(p.value)}${was}`;
    hover.dataset.value = String(p.value);
  }

  // ------------------------------------------------------------------------------------------ projects
  async function loadProjects() {
    const projects = await request("GET", "/projects?limit=1000");
    clear(projectSelect);
    for (const p of projects.data) projectSelect.append(h("option", { value: String(p.id) }, p.name));
    if (!projects.data.length) {
      say("There is no project yet: a lead creates one (dashboard or API).", "info");
      return false;
    }
    const wanted = hashParams().get("project");
    if (wanted && projects.data.some((p) => String(p.id) === wanted)) projectSelect.value = wanted;
    s.projects = projects.data;
    return Boolean(wanted);
  }

  projectSelect.addEventListener("change", () => setHashParam("project", projectSelect.value));

  function useProject() {
    const project = (s.projects || []).find((p) => String(p.id) === projectSelect.value);
    if (!project) return null;
    if (s.project?.id !== project.id) {
      s.project = project;
      s.classes = project.classes;
      byId.clear();
      for (const c of s.classes) byId.set(c.train_id, c);
      renderPalette();
    }
    return project;
  }

  // ------------------------------------------------------------------------------------------ leases
  async function leaseRequest(path) {
    const response = await request("POST", path, { raw: true, own403: true });
    const date = Date.parse(response.headers.get("date"));
    if (!Number.isNaN(date)) s.skew = date - Date.now();
    return response.status === 204 ? null : response.json();
  }

  function setLease(lease) {
    s.lease = lease;
    s.expired = false;
    s.expiresAt = Date.parse(lease.expires_at);
    s.ttl = s.expiresAt - Date.parse(lease.heartbeat_at || lease.issued_at);
    viewport.dataset.leaseId = String(lease.id);
    startHeartbeats();
    tick();
  }

  async function next() {
    if (s.busy && !s.submitting) return;
    const project = useProject();
    if (!project) return say("Choose a project first.", "error");
    setHashParam("project", project.id);
    let lease;
    try {
      lease = await leaseRequest(`/projects/${project.id}/queue/next`);
    } catch (error) {
      return say(error.message, "error");
    }
    if (lease === null) {
      stopHeartbeats();
      s.lease = null;
      enableActions(false);
      timer.textContent = "nothing queued";
      viewport.dataset.state = "empty";
      say(`Nothing is queued in “${project.name}” right now. Ask again when the next round has run.`, "info",
        [h("button", { testid: "check-again", onclick: () => next() }, "Check again")]);
      return;
    }
    await show(lease);
  }

  // The image, its pre-label (class ids) and superpixel ids, fetched and decoded. Prefetched for the head of the
  // queue while the annotator works (prefetchHead); `next` may still lease another image (someone else took the
  // head), and then the cached one is dropped.
  const cache = new Map();
  function assets(image) {
    const optional = (path, decode) => fetchBitmap(path).then(decode, (e) => {
      if (e.status === 404) return null;
      throw e;
    });
    return Promise.all([
      fetchBitmap(`/images/${image.id}/file`),
      image.has_prelabel ? optional(`/images/${image.id}/prelabel`, classIds) : null,
      image.has_segments ? optional(`/images/${image.id}/segments`, segmentIds) : null,
    ]);
  }

  async function prefetchHead(projectId, current) {
    try {
      const head = await request("GET", `/projects/${projectId}/images?state=queued&order=queue&limit=1`);
      const image = head.data[0];
      if (!image || image.id === current || cache.has(image.id)) return;
      cache.clear();
      const pending = new Promise((resolve) => requestIdleCallback(resolve, { timeout: 500 }))
        .then(() => assets(image));
      pending.catch(() => cache.delete(image.id));
      cache.set(image.id, pending);
    } catch {
      // a prefetch is only a head start: `next` fetches for itself
    }
  }

  async function show(lease) {
    const img = lease.image;
    viewport.dataset.state = "loading";
    performance.mark("depthal:fetch");
    let bitmap;
    let prelabel = null;
    let segments = null;
    try {
      let got = cache.get(img.id);
      cache.delete(img.id);
      got = got ? await got.catch(() => null) : null;
      if (!got || (img.has_prelabel && !got[1]) || (img.has_segments && !got[2])) got = await assets(img);
      [bitmap, prelabel, segments] = got;
    } catch (error) {
      viewport.dataset.state = "error";
      return say(`Could not load image ${img.id}: ${error.message}`, "error");
    }
    performance.measure("depthal:fetch", "depthal:fetch");
    performance.mark("depthal:prepare");
    setLease(lease);
    const size = img.width * img.height;
    if (prelabel && prelabel.length !== size) {
      say(`The pre-label of image ${img.id} does not have the image's size; starting from an empty mask.`, "error");
      prelabel = null;
    }
    if (!img.has_segments) superpixelInfo.textContent = "superpixels: none (no round queued this image; tool off)";
    else superpixelInfo.textContent = segments ? "superpixels: ready" : "superpixels: missing on the server (tool off)";
    s.prelabel = prelabel;
    const mask = prelabel ? prelabel.slice() : new Uint8Array(size).fill(IGNORE);
    editor.load({ image: bitmap, mask, segments: segments && segments.length === size ? segments : null });
    editor.maskCanvas.style.opacity = String(opacity.value / 100);
    imageInfo.textContent = `image ${img.id} · ${img.name} · ${img.width}×${img.height}` +
      (lease.has_prelabel ? " · pre-labeled" : " · no pre-label: all ignore");
    clear(reason).append(...reasonSentences(lease.reason).map((t) => h("p", {}, t)));
    restoreDraft(lease, img);
    enableActions(true);
    viewport.dataset.imageId = String(img.id);
    viewport.dataset.state = "ready";
    performance.measure("depthal:prepare", "depthal:prepare");
    requestAnimationFrame(() => document.dispatchEvent(new CustomEvent("depthal:image-shown",
      { detail: { imageId: img.id, leaseId: lease.id } })));
    loadFrames(lease);
    requestIdleCallback(() => editor.ensureSegments(), { timeout: 1000 });
    prefetchHead(s.project.id, img.id);
  }

  async function loadFrames(lease) {
    const img = lease.image;
    const get = (frame, has) => (has ? fetchBitmap(`/images/${img.id}/neighbours/${frame}`).catch(() => null) : null);
    const [prev, nextFrame] = await Promise.all([get("prev", img.has_prev), get("next", img.has_next)]);
    if (s.lease?.id !== lease.id) return;
    editor.setFrames(prev, nextFrame);
    frameButtons[0].disabled = !prev;
    frameButtons[1].disabled = !nextFrame;
  }

  function restoreDraft(lease, img) {
    const draft = loadDraft(lease.id) || findDraftOfImage(img.id, img.width, img.height);
    if (!draft || draft.width !== img.width || draft.height !== img.height) return;
    editor.replaceMask(draft.mask);
    if (draft.lease_id !== lease.id) {
      saveDraft(lease, editor.mask, img.width, img.height);
      dropDraft(draft.lease_id);
    }
    say(`Restored your unsent drawing of image ${img.id} (kept in this browser since ${new Date(draft.saved_at).toLocaleTimeString()}).`, "info");
  }

  function scheduleDraft() {
    clearTimeout(s.draftTimer);
    s.draftTimer = setTimeout(saveNow, 250);
  }

  function saveNow() {
    clearTimeout(s.draftTimer);
    s.draftTimer = null;
    if (!s.lease || !editor.mask || editor.edits === 0) return;
    if (!saveDraft(s.lease, editor.mask, editor.width, editor.height)) {
      say("This browser refused to keep a local copy of your drawing (storage full or disabled): submit soon.", "error");
    }
  }

  function enableActions(on) {
    for (const b of [submitButton, skipButton, releaseButton]) b.disabled = !on;
  }

  // heartbeats while the page is visible; the lease timer every second
  function startHeartbeats() {
    stopHeartbeats();
    const every = Math.min(60000, Math.max(1000, s.ttl / 3));
    s.heartbeat = setInterval(() => document.visibilityState === "visible" && beat(), every);
    s.ticker = setInterval(tick, 1000);
  }

  function stopHeartbeats() {
    clearInterval(s.heartbeat);
    clearInterval(s.ticker);
  }

  async function beat() {
    if (!s.lease || s.expired) return;
    try {
      const lease = await request("POST", `/leases/${s.lease.id}/heartbeat`, { own403: true });
      s.expiresAt = Date.parse(lease.expires_at);
      timer.classList.remove("warn");
    } catch (error) {
      if (error.status === 410 || error.status === 409 || error.status === 403) expired(error.message);
      else if (error.status === 0) {
        timer.classList.add("warn");
        say("The server cannot be reached: the lease is not being extended. Your drawing is kept in this browser.", "error");
      } else say(error.message, "error");
    }
  }

  function tick() {
    if (!s.lease) return;
    const left = s.expiresAt - (Date.now() + s.skew);
    timer.dataset.leftSeconds = String(Math.max(0, Math.round(left / 1000)));
    if (s.expired) return;
    timer.textContent = `image ${s.lease.image_id}: lease ${clock(left)} left`;
    if (left <= 0) expired(`Your lease on image ${s.lease.image_id} expired at ${new Date(s.expiresAt).toLocaleTimeString()}.`);
  }

  function expired(message) {
    if (s.expired) return;
    s.expired = true;
    saveNow();
    timer.textContent = `image ${s.lease.image_id}: lease expired`;
    timer.classList.add("warn");
    viewport.dataset.leaseState = "expired";
    say(`${message} Your drawing is kept in this browser.`, "error", [
      h("button", { testid: "retake", onclick: () => retake() }, "Take it again"),
      h("button", { testid: "download-drawing", onclick: () => download() }, "Download drawing"),
      h("button", { testid: "discard", onclick: () => discard() }, "Discard and get next"),
    ]);
  }

  async function retake() {
    const old = s.lease;
    let lease;
    try {
      lease = await leaseRequest(`/images/${old.image_id}/lease`);
    } catch (error) {
      return say(`${error.message}. Your drawing is still kept here: download it or discard it.`, "error", [
        h("button", { testid: "download-drawing", onclick: () => download() }, "Download drawing"),
        h("button", { testid: "discard", onclick: () => discard() }, "Discard and get next"),
      ]);
    }
    setLease(lease);
    delete viewport.dataset.leaseState;
    timer.classList.remove("warn");
    viewport.dataset.leaseId = String(lease.id);
    if (editor.edits) saveDraft(lease, editor.mask, editor.width, editor.height);
    dropDraft(old.id);
    say(`You hold image ${lease.image_id} again (lease ${lease.id}); your drawing is as you left it.`, "info");
  }

  async function download() {
    const blob = await encodeGreyPng(editor.mask, editor.width, editor.height);
    const link = h("a", { href: URL.createObjectURL(blob), download: `image${s.lease.image_id}_train_ids.png` });
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  }

  function discard() {
    if (s.lease) dropDraft(s.lease.id);
    s.lease = null;
    next();
  }

  // ------------------------------------------------------------------------------------------ submit / skip / release
  async function submit() {
    if (!s.lease || s.busy) return;
    s.busy = s.submitting = true;
    submitButton.disabled = true;
    editor.finishStroke();
    const lease = s.lease;
    performance.mark("depthal:submit");
    try {
      const png = await encodeGreyPng(editor.mask, editor.width, editor.height);
      performance.measure("depthal:encode", "depthal:submit");
      performance.mark("depthal:upload");
      let saved;
      try {
        saved = await request("PUT", `/images/${lease.image_id}/mask?format=train_ids`,
          { body: png, contentType: "image/png", own403: true });
      } catch (error) {
        saveNow();
        if (error.status === 410) return expired(error.message);
        return say(`Not saved: ${error.message} Your drawing is kept; fix and submit again.`, "error");
      }
      performance.measure("depthal:upload", "depthal:upload");
      dropDraft(lease.id);
      s.lease = null;
      say(`Saved image ${lease.image_id} (mask version ${saved.version}).`, "info");
      await next();
      performance.measure("depthal:submit-to-next", "depthal:submit");
    } finally {
      s.busy = s.submitting = false;
      submitButton.disabled = !s.lease;
    }
  }

  async function skip() {
    if (!s.lease) return;
    const why = skipReason.value.trim();
    if (!why) {
      skipReason.focus();
      return say("Say why you skip this image (for the lead), then press Skip.", "error");
    }
    try {
      await request("POST", `/leases/${s.lease.id}/skip`, { json: { reason: why }, own403: true });
    } catch (error) {
      return say(error.message, "error");
    }
    dropDraft(s.lease.id);
    skipReason.value = "";
    say(`Skipped image ${s.lease.image_id}.`, "info");
    s.lease = null;
    await next();
  }

  async function release() {
    if (!s.lease) return;
    if (editor.edits && !s.releaseArmed) {
      s.releaseArmed = true;
      releaseButton.textContent = "Release and discard the drawing?";
      setTimeout(() => {
        s.releaseArmed = false;
        releaseButton.textContent = "Release";
      }, 5000);
      return;
    }
    try {
      await request("POST", `/leases/${s.lease.id}/release`, { own403: true });
    } catch (error) {
      return say(error.message, "error");
    }
    dropDraft(s.lease.id);
    s.releaseArmed = false;
    releaseButton.textContent = "Release";
    say(`Released image ${s.lease.image_id}: it is back in the queue.`, "info");
    s.lease = null;
    stopHeartbeats();
    enableActions(false);
    timer.textContent = "no image leased";
    viewport.dataset.state = "released";
  }

  // ------------------------------------------------------------------------------------------ keyboard
  const held = new Set();
  function keydown(e) {
    if (isTyping(e)) return;
    const key = e.key.toLowerCase();
    const ctrl = e.ctrlKey || e.metaKey;
    if (ctrl && key === "z") {
      e.preventDefault();
      if (!e.repeat) (e.shiftKey ? editor.redo() : editor.undo()); // a held key undoes one step, never more
      return;
    }
    if (ctrl && key === "y") {
      e.preventDefault();
      if (!e.repeat) editor.redo();
      return;
    }
    if (ctrl && e.key === "Enter") {
      e.preventDefault();
      submit();
      return;
    }
    if (ctrl || e.altKey) return;
    const tool = Object.keys(TOOL_KEYS).find((t) => TOOL_KEYS[t].toLowerCase() === key);
    const classIndex = CLASS_KEYS.indexOf(e.key);
    if (tool) setTool(tool);
    else if (classIndex >= 0 && classIndex < s.classes.length) setClass(s.classes[classIndex].train_id);
    else if (e.key === "[") resize(-1);
    else if (e.key === "]") resize(1);
    else if (key === "h") toggleOverlay();
    else if (key === "f") editor.fit();
    else if (key === "a") editor.actualSize();
    else if (e.key === "," || e.key === ".") {
      opacity.value = String(Number(opacity.value) + (e.key === "." ? 10 : -10));
      opacity.dispatchEvent(new Event("input"));
    } else if (e.key === "/") {
      e.preventDefault();
      search.focus();
    } else if (e.key === "Enter") editor.closePolygon();
    else if (e.key === "Escape") editor.cancelPolygon();
    else if (e.key === "Backspace") editor.dropVertex();
    else if ((key === "q" || key === "w") && !e.repeat) {
      held.add(key);
      editor.showFrame(key === "q" ? "prev" : "next");
    } else return;
    e.preventDefault();
  }
  function keyup(e) {
    const key = e.key.toLowerCase();
    if (held.delete(key)) editor.showFrame(held.has("q") ? "prev" : held.has("w") ? "next" : "t");
  }
  frameButtons.forEach((b, k) => {
    b.addEventListener("pointerdown", () => editor.showFrame(k === 0 ? "prev" : "next"));
    for (const type of ["pointerup", "pointerleave"]) b.addEventListener(type, () => editor.showFrame("t"));
  });
  const hidden = () => document.visibilityState === "hidden" && saveNow();
  const visible = () => document.visibilityState === "visible" && beat();
  document.addEventListener("keydown", keydown);
  document.addEventListener("keyup", keyup);
  document.addEventListener("visibilitychange", hidden);
  document.addEventListener("visibilitychange", visible);
  window.addEventListener("pagehide", saveNow);

  setTool("brush");
  resize(0);
  loadProjects().then((autostart) => autostart && next(), (error) => say(error.message, "error"));
  if (ctx.message) say(ctx.message, "info");

  return () => {
    saveNow();
    stopHeartbeats();
    editor.destroy();
    document.removeEventListener("keydown", keydown);
    document.removeEventListener("keyup", keyup);
    document.removeEventListener("visibilitychange", hidden);
    document.removeEventListener("visibilitychange", visible);
    window.removeEventListener("pagehide", saveNow);
  };
}
