// The budget bar and the mIoU-per-round chart, built as DOM/SVG nodes (text as text).
import { h } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";

function s(tag, attrs = {}, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

export const BUDGET_PARTS = ["labeled", "queued", "leased", "skipped", "remaining"];

/** progress: the /progress body. Skipped images leave the budget; the bar shows them after it. */
export function budgetBar(progress) {
  const total = Math.max(1, progress.budget_total + progress.skipped);
  const bar = h("div", { class: "budget", testid: "budget-bar", role: "img",
    "aria-label": BUDGET_PARTS.map((p) => `${p} ${progress[p]}`).join(", ") });
  const legend = h("div", { class: "legend" });
  for (const part of BUDGET_PARTS) {
    const piece = h("span", { class: `c-${part}`, testid: `budget-${part}`, title: `${part}: ${progress[part]}` });
    piece.style.width = `${(100 * progress[part]) / total}%`;
    bar.append(piece);
    legend.append(h("span", {}, h("i", { class: `c-${part}` }), `${part} ${progress[part]}`));
  }
  return h("div", {}, bar, legend, h("p", {}, `label budget ${progress.budget_total}; val images labeled `,
    `${progress.val_labeled} of ${progress.val_total}`));
}

/** rounds: progress.rounds; a point per round with a finite mIoU, x = labels used, y = mIoU in %. */
export function miouChart(rounds) {
  const points = rounds
    .filter((r) => typeof r.metrics?.miou === "number" && Number.isFinite(r.metrics.miou))
    .map((r) => ({ x: r.metrics.labels_used ?? 0, y: 100 * r.metrics.miou, index: r.index }));
  const W = 520, H = 220, L = 44, R = 14, T = 12, B = 36;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "data-testid": "miou-chart",
    "data-points": points.length, "aria-label": `mIoU per round: ${points.map((p) => `${p.x} labels ${p.y.toFixed(1)}%`).join(", ") || "no trained round yet"}` });
  const maxX = Math.max(1, ...points.map((p) => p.x));
  const maxY = Math.max(20, ...points.map((p) => Math.ceil(p.y / 20) * 20)); // ticks every maxY / 4: whole numbers
  const px = (x) => L + ((W - L - R) * x) / maxX;
  const py = (y) => H - B - ((H - B - T) * y) / maxY;
  svg.append(s("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, class: "axis" }),
    s("line", { x1: L, y1: T, x2: L, y2: H - B, class: "axis" }),
    s("text", { x: (L + W - R) / 2, y: H - 4, "text-anchor": "middle" }, "labels used"),
    s("text", { x: 10, y: (T + H - B) / 2, transform: `rotate(-90 10 ${(T + H - B) / 2})`, "text-anchor": "middle" }, "val mIoU (%)"));
  for (let k = 0; k <= 4; k++) {
    const y = (maxY * k) / 4;
    svg.append(s("text", { x: L - 6, y: py(y) + 4, "text-anchor": "end" }, y.toFixed(0)));
  }
  for (const x of new Set([0, 1, 2, 3, 4].map((k) => Math.round((maxX * k) / 4)))) {
    svg.append(s("text", { x: px(x), y: H - B + 14, "text-anchor": "middle" }, String(x)));
  }
  if (!points.length) {
    svg.append(s("text", { x: (L + W) / 2, y: (T + H - B) / 2, "text-anchor": "middle" }, "no trained round yet"));
    return svg;
  }
  svg.append(s("polyline", { class: "line", points: points.map((p) => `${px(p.x)},${py(p.y)}`).join(" ") }));
  for (const p of points) {
    const dot = s("circle", { cx: px(p.x), cy: py(p.y), r: 4, class: "point", "data-testid": "miou-point" });
    dot.append(s("title", {}, `round ${p.index}: ${p.x} labels, mIoU ${p.y.toFixed(1)} %`));
    svg.append(dot, s("text", { x: px(p.x), y: py(p.y) - 8, "text-anchor": "middle" }, `r${p.index} ${p.y.toFixed(1)}`));
  }
  return svg;
}
