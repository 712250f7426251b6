// The mask editor: an image layer and a mask layer (both canvases at the image's own size) inside a stage that is
// zoomed and panned with a CSS transform, so a brush event repaints only its dirty rectangle of the mask layer
// (putImageData of that box) and the compositor does the scaling. The mask itself is a Uint8Array of class ids.
import { h } from "./dom.js";
import { fillPolygon, fillSegment, floodFill, indexSegments, paintCapsule, unionBox } from "./raster.js";
import { decodeRuns, encodeRuns } from "./rle.js";

export const TOOLS = ["brush", "eraser", "polygon", "flood", "superpixel"];
export const IGNORE = 255;
const HISTORY = 100; // undo steps kept (each a run-length coded box: a few KB for a stroke)
const SVG = "http://www.w3.org/2000/svg";

function crop(data, width, [x0, y0, x1, y1]) {
  const w = x1 - x0 + 1;
  const out = new Uint8Array(w * (y1 - y0 + 1));
  for (let y = y0; y <= y1; y++) out.set(data.subarray(y * width + x0, y * width + x1 + 1), (y - y0) * w);
  return out;
}

function paste(data, width, [x0, y0, x1, y1], part) {
  const w = x1 - x0 + 1;
  for (let y = y0; y <= y1; y++) data.set(part.subarray((y - y0) * w, (y - y0 + 1) * w), y * width + x0);
}

function rgba([r, g, b], alpha = 255) {
  return ((alpha << 24) | (b << 16) | (g << 8) | r) >>> 0; // ImageData's byte order on little-endian machines
}

export class Editor {
  /** root: the viewport element; hooks: onHover({x, y, value}), onEdit(), onNotice(text). */
  constructor(root, hooks) {
    this.root = root;
    this.hooks = hooks;
    this.tool = "brush";
    this.classId = 0;
    this.brushSize = 16;
    this.view = { scale: 1, tx: 0, ty: 0 };
    this.lut = new Uint32Array(256);
    this.history = [];
    this.future = [];
    this.polygon = [];
    this.stroke = null;
    this.pan = null;
    this.spaceDown = false;
    this.frame = "t";
    this.imageCanvas = h("canvas", { class: "layer image-layer", testid: "image-canvas" });
    this.maskCanvas = h("canvas", { class: "layer mask-layer", testid: "canvas" });
    this.svg = document.createElementNS(SVG, "svg");
    this.svg.classList.add("layer", "polygon-layer");
    this.polyline = document.createElementNS(SVG, "polyline");
    this.polyline.setAttribute("vector-effect", "non-scaling-stroke");
    this.svg.append(this.polyline);
    this.stage = h("div", { class: "stage", testid: "stage" }, this.imageCanvas, this.maskCanvas, this.svg);
    this.cursor = h("div", { class: "brush-cursor", testid: "brush-cursor", hidden: true });
    root.append(this.stage, this.cursor);
    this.listeners = [];
    this.listen(root, "pointerdown", (e) => this.pointerDown(e));
    this.listen(root, "pointermove", (e) => this.pointerMove(e));
    this.listen(root, "pointerup", (e) => this.pointerUp(e));
    this.listen(root, "pointercancel", (e) => this.pointerUp(e));
    this.listen(root, "pointerleave", () => (this.cursor.hidden = true));
    this.listen(root, "wheel", (e) => this.wheel(e), { passive: false });
    this.listen(root, "contextmenu", (e) => e.preventDefault());
    this.listen(root, "dblclick", () => this.tool === "polygon" && this.closePolygon());
    this.listen(window, "keydown", (e) => {
      if (e.code === "Space" && !isTyping(e)) {
        this.spaceDown = true;
        this.root.classList.add("panning");
        e.preventDefault();
      }
    });
    this.listen(window, "keyup", (e) => {
      if (e.code === "Space") {
        this.spaceDown = false;
        this.root.classList.remove("panning");
      }
    });
    this.listen(window, "resize", () => this.fit());
  }

  listen(target, type, fn, opts) {
    target.addEventListener(type, fn, opts);
    this.listeners.push([target, type, fn, opts]);
  }

  destroy() {
    for (const [target, type, fn, opts] of this.listeners) target.removeEventListener(type, fn, opts);
    this.root.replaceChildren();
  }

  /** classes: [{train_id, color}]; ids outside the project's classes show grey, ignore (255) is transparent. */
  setPalette(classes) {
    this.lut.fill(rgba([128, 128, 128]));
    for (const c of classes) this.lut[c.train_id] = rgba(c.color);
    this.lut[IGNORE] = 0;
  }

  /** image: ImageBitmap; mask: Uint8Array (taken, not copied); segments: Int32Array of ids or null. */
  load({ image, mask, segments }) {
    this.width = image.width;
    this.height = image.height;
    this.images = { t: image, prev: null, next: null };
    this.frame = "t";
    this.mask = mask;
    this.committed = mask.slice(); // the mask as of the last finished operation: the "before" of the next one
    this.segmentIds = segments; // indexed on first use or when the page is idle (ensureSegments)
    this.segments = null;
    this.history = [];
    this.future = [];
    this.polygon = [];
    this.stroke = null;
    this.edits = 0;
    for (const c of [this.imageCanvas, this.maskCanvas]) {
      c.width = this.width;
      c.height = this.height;
    }
    this.svg.setAttribute("viewBox", `0 0 ${this.width} ${this.height}`);
    this.svg.setAttribute("width", this.width);
    this.svg.setAttribute("height", this.height);
    this.polyline.setAttribute("points", "");
    this.ctx = this.maskCanvas.getContext("2d");
    this.imageCanvas.getContext("2d").drawImage(image, 0, 0);
    this.paint([0, 0, this.width - 1, this.height - 1]);
    this.fit();
  }

  /** The superpixel index (raster.indexSegments), built once; null when the image has no superpixels. */
  ensureSegments() {
    if (!this.segments && this.segmentIds) this.segments = indexSegments(this.segmentIds, this.width);
    return this.segments;
  }

  setFrames(prev, next) {
    this.images.prev = prev;
    this.images.next = next;
  }

  /** Show frame "prev", "next" or "t" in the image layer (the mask stays). Returns false if that frame is absent. */
  showFrame(frame) {
    const image = this.images?.[frame];
    if (!image || frame === this.frame) return Boolean(image);
    this.frame = frame;
    this.imageCanvas.getContext("2d").drawImage(image, 0, 0, this.width, this.height);
    this.root.dataset.frame = frame;
    return true;
  }

  // ---------------------------------------------------------------------------------------------- drawing
  paint([x0, y0, x1, y1]) {
    const w = x1 - x0 + 1;
    const rows = y1 - y0 + 1;
    const img = this.ctx.createImageData(w, rows);
    const out = new Uint32Array(img.data.buffer);
    const { mask, lut, width } = this;
    for (let y = 0; y < rows; y++) {
      const src = (y0 + y) * width + x0;
      const dst = y * w;
      for (let x = 0; x < w; x++) out[dst + x] = lut[mask[src + x]];
    }
    this.ctx.putImageData(img, x0, y0);
  }

  /** The edit of one operation so far grew by `box`: repaint it and remember it. */
  touched(box) {
    if (box === null) return;
    this.opBox = unionBox(this.opBox, box);
    this.paint(box);
  }

  /** Close the current operation as one undo step. */
  commit() {
    const box = this.opBox;
    this.opBox = null;
    if (!box) return;
    const after = crop(this.mask, this.width, box);
    const before = crop(this.committed, this.width, box);
    paste(this.committed, this.width, box, after);
    this.history.push({ box, before: encodeRuns(before), after: encodeRuns(after) });
    if (this.history.length > HISTORY) this.history.shift();
    this.future = [];
    this.edits++;
    this.hooks.onEdit?.();
  }

  step(from, to, side) {
    this.finishStroke();
    const op = from.pop();
    if (!op) return false;
    const [x0, y0, x1, y1] = op.box;
    const part = decodeRuns(op[side], (x1 - x0 + 1) * (y1 - y0 + 1));
    paste(this.mask, this.width, op.box, part);
    paste(this.committed, this.width, op.box, part);
    this.paint(op.box);
    to.push(op);
    this.edits++;
    this.hooks.onEdit?.();
    return true;
  }

  undo() {
    return this.step(this.history, this.future, "before");
  }

  redo() {
    return this.step(this.future, this.history, "after");
  }

  /** Replace the whole mask (a restored draft) as one undo step. */
  replaceMask(mask) {
    this.opBox = [0, 0, this.width - 1, this.height - 1];
    this.mask.set(mask);
    this.paint(this.opBox);
    this.commit();
  }

  paintValue() {
    return this.tool === "eraser" ? IGNORE : this.classId;
  }

  // ---------------------------------------------------------------------------------------------- pointer
  toImage(e) {
    const r = this.maskCanvas.getBoundingClientRect();
    return [((e.clientX - r.left) * this.width) / r.width, ((e.clientY - r.top) * this.height) / r.height];
  }

  inside(px, py) {
    return px >= 0 && py >= 0 && px < this.width && py < this.height;
  }

  pointerDown(e) {
    if (!this.mask) return;
    this.root.focus({ preventScroll: true });
    if (this.spaceDown || e.button === 1) {
      this.pan = { x: e.clientX, y: e.clientY, tx: this.view.tx, ty: this.view.ty };
      this.root.setPointerCapture(e.pointerId);
      e.preventDefault();
      return;
    }
    if (e.button !== 0) return;
    e.preventDefault();
    const [fx, fy] = this.toImage(e);
    const px = Math.floor(fx);
    const py = Math.floor(fy);
    if (this.tool === "brush" || this.tool === "eraser") {
      this.root.setPointerCapture(e.pointerId);
      this.stroke = { x: px, y: py, value: this.paintValue() };
      this.opBox = null;
      this.touched(paintCapsule(this.mask, this.width, this.height, px, py, px, py, this.brushSize / 2, this.stroke.value));
    } else if (this.tool === "polygon") {
      this.addVertex(Math.round(fx), Math.round(fy), e);
    } else if (!this.inside(px, py)) {
      return;
    } else if (this.tool === "flood") {
      this.opBox = null;
      this.touched(floodFill(this.mask, this.width, this.height, px, py, this.paintValue()));
      this.commit();
    } else if (this.tool === "superpixel") {
      if (!this.ensureSegments()) {
        this.hooks.onNotice?.("This image has no superpixels (no pre-label yet: cold start or uploaded image).");
        return;
      }
      this.opBox = null;
      this.touched(fillSegment(this.mask, this.segments, this.width, px, py, this.paintValue()));
      this.commit();
    }
  }

  pointerMove(e) {
    if (!this.mask) return;
    if (this.pan) {
      this.view.tx = this.pan.tx + e.clientX - this.pan.x;
      this.view.ty = this.pan.ty + e.clientY - this.pan.y;
      this.applyView();
      return;
    }
    if (this.stroke) {
      const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [];
      let box = null;
      for (const ev of events.length ? events : [e]) {
        const [fx, fy] = this.toImage(ev);
        const px = Math.floor(fx);
        const py = Math.floor(fy);
        if (px === this.stroke.x && py === this.stroke.y) continue;
        const r = this.brushSize / 2;
        const b = paintCapsule(this.mask, this.width, this.height, this.stroke.x, this.stroke.y, px, py, r, this.stroke.value);
        box = unionBox(box, b);
        this.stroke.x = px;
        this.stroke.y = py;
      }
      this.touched(box);
    }
    this.moveCursor(e);
  }

  pointerUp(e) {
    if (this.pan) {
      this.pan = null;
      return;
    }
    if (this.stroke) {
      this.pointerMove(e);
      this.finishStroke();
    }
  }

  finishStroke() {
    if (!this.stroke) return;
    this.stroke = null;
    this.commit();
  }

  moveCursor(e) {
    const [fx, fy] = this.toImage(e);
    const px = Math.floor(fx);
    const py = Math.floor(fy);
    const brush = this.tool === "brush" || this.tool === "eraser";
    const r = this.root.getBoundingClientRect();
    const d = this.brushSize * this.view.scale;
    this.cursor.hidden = !brush;
    this.cursor.style.width = this.cursor.style.height = `${d}px`;
    this.cursor.style.transform = `translate(${e.clientX - r.left - d / 2}px, ${e.clientY - r.top - d / 2}px)`;
    if (this.inside(px, py)) this.hooks.onHover?.({ x: px, y: py, value: this.mask[py * this.width + px] });
    else this.hooks.onHover?.(null);
  }

  // ---------------------------------------------------------------------------------------------- polygon
  addVertex(x, y, e) {
    const first = this.polygon[0];
    if (first && this.polygon.length >= 3) {
      const r = this.maskCanvas.getBoundingClientRect();
      const sx = r.left + (first[0] * r.width) / this.width;
      const sy = r.top + (first[1] * r.height) / this.height;
      if (Math.hypot(e.clientX - sx, e.clientY - sy) <= 8) return this.closePolygon();
    }
    this.polygon.push([x, y]);
    this.drawPolygon();
  }

  drawPolygon() {
    this.polyline.setAttribute("points", this.polygon.map((p) => p.join(",")).join(" "));
  }

  closePolygon() {
    const points = this.polygon;
    this.polygon = [];
    this.drawPolygon();
    if (points.length < 3) return;
    this.opBox = null;
    this.touched(fillPolygon(this.mask, this.width, this.height, points, this.paintValue()));
    this.commit();
  }

  dropVertex() {
    this.polygon.pop();
    this.drawPolygon();
  }

  cancelPolygon() {
    this.polygon = [];
    this.drawPolygon();
  }

  setTool(tool) {
    this.finishStroke();
    if (tool !== "polygon") this.cancelPolygon();
    this.tool = tool;
    this.root.dataset.tool = tool;
  }

  // ---------------------------------------------------------------------------------------------- view
  applyView() {
    const { scale, tx, ty } = this.view;
    this.stage.style.transform = `translate(${tx}px, ${ty}px) scale(${scale})`;
    this.root.dataset.zoom = scale.toFixed(3);
  }

  fit() {
    if (!this.width) return;
    const r = this.root.getBoundingClientRect();
    const scale = Math.min(r.width / this.width, r.height / this.height);
    this.view = { scale, tx: (r.width - this.width * scale) / 2, ty: (r.height - this.height * scale) / 2 };
    this.applyView();
  }

  /** One image pixel per CSS pixel, centred. */
  actualSize() {
    const r = this.root.getBoundingClientRect();
    this.view = { scale: 1, tx: Math.round((r.width - this.width) / 2), ty: Math.round((r.height - this.height) / 2) };
    this.applyView();
  }

  zoomAt(clientX, clientY, factor) {
    const r = this.root.getBoundingClientRect();
    const px = clientX - r.left;
    const py = clientY - r.top;
    const old = this.view.scale;
    const scale = Math.min(64, Math.max(0.05, old * factor));
    const k = scale / old;
    this.view = { scale, tx: px - (px - this.view.tx) * k, ty: py - (py - this.view.ty) * k };
    this.applyView();
  }

  wheel(e) {
    e.preventDefault();
    this.zoomAt(e.clientX, e.clientY, Math.exp(-e.deltaY * 0.0015));
  }
}

export function isTyping(e) {
  const t = e.target;
  return t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement || t instanceof HTMLSelectElement;
}
