// Drawings of open leases, kept in localStorage until the server has accepted the mask (docs/web.md): a closed
// tab, a reload or a lost network never loses a drawing. One entry per lease; an entry whose lease expired is
// found again by its image id when the annotator gets that image back.
import { decodeRuns, encodeRuns, fromBase64, toBase64 } from "./rle.js";

const PREFIX = "depthal.draft.";

/** Returns false when the browser refused to store it (storage full or disabled). */
export function saveDraft(lease, mask, width, height) {
  const entry = { lease_id: lease.id, image_id: lease.image_id, width, height, saved_at: new Date().toISOString(),
    runs: toBase64(encodeRuns(mask)) };
  try {
    localStorage.setItem(PREFIX + lease.id, JSON.stringify(entry));
    return true;
  } catch {
    return false;
  }
}

function read(key) {
  try {
    const entry = JSON.parse(localStorage.getItem(key));
    if (!entry) return null;
    return { ...entry, mask: decodeRuns(fromBase64(entry.runs), entry.width * entry.height) };
  } catch {
    return null;
  }
}

export function loadDraft(leaseId) {
  return read(PREFIX + leaseId);
}

/** The newest draft of this image under another lease (an expired one), or null. */
export function findDraftOfImage(imageId, width, height) {
  let best = null;
  for (let i = 0; i < localStorage.length; i++) {
    const key = localStorage.key(i);
    if (!key.startsWith(PREFIX)) continue;
    const entry = read(key);
    if (entry && entry.image_id === imageId && entry.width === width && entry.height === height) {
      if (!best || entry.saved_at > best.saved_at) best = entry;
    }
  }
  return best;
}

export function dropDraft(leaseId) {
  localStorage.removeItem(PREFIX + leaseId);
}

export function hasDraft(leaseId) {
  return localStorage.getItem(PREFIX + leaseId) !== null;
}
