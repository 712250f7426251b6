// Pure raster operations on a class-id mask: a Uint8Array of width × height, row-major, 255 = ignore.
// Each paints in place and returns the changed box [x0, y0, x1, y1] (inclusive) or null when nothing changed.
// Coordinates: pixel (x, y) is the unit square [x, x+1) × [y, y+1); docs/web.md states each tool's rule, so a
// test can compute the expected pixels on its own.

function grow(box, x, y) {
  if (box === null) return [x, y, x, y];
  if (x < box[0]) box[0] = x;
  if (y < box[1]) box[1] = y;
  if (x > box[2]) box[2] = x;
  if (y > box[3]) box[3] = y;
  return box;
}

export function unionBox(a, b) {
  if (a === null) return b;
  if (b === null) return a;
  return [Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.max(a[2], b[2]), Math.max(a[3], b[3])];
}

/**
 * Brush / eraser: every pixel (x, y) whose distance to the segment (x0, y0)–(x1, y1) is at most `radius` gets
 * `value` (pixel and segment end points are pixel indices, i.e. pixel centres). radius = size / 2.
 */
export function paintCapsule(mask, width, height, x0, y0, x1, y1, radius, value) {
  const r2 = radius * radius;
  const minX = Math.max(0, Math.floor(Math.min(x0, x1) - radius));
  const maxX = Math.min(width - 1, Math.ceil(Math.max(x0, x1) + radius));
  const minY = Math.max(0, Math.floor(Math.min(y0, y1) - radius));
  const maxY = Math.min(height - 1, Math.ceil(Math.max(y0, y1) + radius));
  const dx = x1 - x0;
  const dy = y1 - y0;
  const len2 = dx * dx + dy * dy;
  let box = null;
  for (let y = minY; y <= maxY; y++) {
    const row = y * width;
    for (let x = minX; x <= maxX; x++) {
      let t = len2 === 0 ? 0 : ((x - x0) * dx + (y - y0) * dy) / len2;
      t = t < 0 ? 0 : t > 1 ? 1 : t;
      const ex = x0 + t * dx - x;
      const ey = y0 + t * dy - y;
      if (ex * ex + ey * ey <= r2 && mask[row + x] !== value) {
        mask[row + x] = value;
        box = grow(box, x, y);
      }
    }
  }
  return box;
}

/**
 * Polygon fill: vertices at pixel corners (integer coordinates); a pixel gets `value` when its centre
 * (x + 0.5, y + 0.5) is inside by the even-odd rule. Row crossings use half-open edges, so no centre is counted twice.
 */
export function fillPolygon(mask, width, height, points, value) {
  if (points.length < 3) return null;
  let box = null;
  const ys = points.map((p) => p[1]);
  const minY = Math.max(0, Math.min(...ys));
  const maxY = Math.min(height - 1, Math.max(...ys));
  const xs = [];
  for (let y = minY; y <= maxY; y++) {
    const cy = y + 0.5;
    xs.length = 0;
    for (let i = 0; i < points.length; i++) {
      const [ax, ay] = points[i];
      const [bx, by] = points[(i + 1) % points.length];
      if ((ay <= cy && cy < by) || (by <= cy && cy < ay)) xs.push(ax + ((cy - ay) * (bx - ax)) / (by - ay));
    }
    xs.sort((a, b) => a - b);
    for (let k = 0; k + 1 < xs.length; k += 2) {
      // centres x + 0.5 in [xs[k], xs[k+1])
      const from = Math.max(0, Math.ceil(xs[k] - 0.5));
      const to = Math.min(width - 1, Math.ceil(xs[k + 1] - 0.5) - 1);
      const row = y * width;
      for (let x = from; x <= to; x++) {
        if (mask[row + x] !== value) {
          mask[row + x] = value;
          box = grow(box, x, y);
        }
      }
    }
  }
  return box;
}

/** Flood fill: the 4-connected region of pixels equal to mask[y, x] becomes `value` (scanline, no recursion). */
export function floodFill(mask, width, height, x, y, value) {
  const target = mask[y * width + x];
  if (target === value) return null;
  let x0 = x;
  let y0 = y;
  let x1 = x;
  let y1 = y;
  const stack = [x, y];
  while (stack.length) {
    const sy = stack.pop();
    const sx = stack.pop();
    const row = sy * width;
    if (mask[row + sx] !== target) continue;
    let left = sx;
    while (left > 0 && mask[row + left - 1] === target) left--;
    let right = sx;
    while (right < width - 1 && mask[row + right + 1] === target) right++;
    mask.fill(value, row + left, row + right + 1);
    if (left < x0) x0 = left;
    if (right > x1) x1 = right;
    if (sy < y0) y0 = sy;
    if (sy > y1) y1 = sy;
    for (const ny of [sy - 1, sy + 1]) {
      if (ny < 0 || ny >= height) continue;
      const nrow = ny * width;
      let inRun = false;
      for (let nx = left; nx <= right; nx++) {
        const hit = mask[nrow + nx] === target;
        if (hit && !inRun) stack.push(nx, ny);
        inRun = hit;
      }
    }
  }
  return [x0, y0, x1, y1];
}

/**
 * Superpixels: segment ids per pixel (Int32Array) → an index for O(region) fills: for segment s its pixels are
 * pixels[start[s] .. start[s+1]) and its box boxes[4s .. 4s+4). Built once per image (two passes, counting sort).
 */
export function indexSegments(ids, width) {
  let n = 0;
  for (let i = 0; i < ids.length; i++) if (ids[i] >= n) n = ids[i] + 1;
  const start = new Int32Array(n + 1);
  for (let i = 0; i < ids.length; i++) start[ids[i] + 1]++;
  for (let s = 0; s < n; s++) start[s + 1] += start[s];
  const fillAt = start.slice(0, n);
  const pixels = new Int32Array(ids.length);
  const boxes = new Int32Array(4 * n);
  for (let s = 0; s < n; s++) boxes.set([width, 1 << 30, -1, -1], 4 * s);
  for (let i = 0; i < ids.length; i++) {
    const s = ids[i];
    pixels[fillAt[s]++] = i;
    const x = i % width;
    const y = (i - x) / width;
    const b = 4 * s;
    if (x < boxes[b]) boxes[b] = x;
    if (y < boxes[b + 1]) boxes[b + 1] = y;
    if (x > boxes[b + 2]) boxes[b + 2] = x;
    if (y > boxes[b + 3]) boxes[b + 3] = y;
  }
  return { ids, start, pixels, boxes };
}

/** Superpixel click-fill: every pixel of the segment under (x, y) becomes `value`. */
export function fillSegment(mask, index, width, x, y, value) {
  const s = index.ids[y * width + x];
  const { start, pixels, boxes } = index;
  let changed = false;
  for (let k = start[s]; k < start[s + 1]; k++) {
    const i = pixels[k];
    if (mask[i] !== value) {
      mask[i] = value;
      changed = true;
    }
  }
  return changed ? [boxes[4 * s], boxes[4 * s + 1], boxes[4 * s + 2], boxes[4 * s + 3]] : null;
}
