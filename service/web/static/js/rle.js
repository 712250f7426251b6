// Run-length coding of class-id arrays (masks are long runs): the undo history and the drafts kept in
// localStorage. Format: repeated [value byte, run length as a LEB128 varint].

export function encodeRuns(data) {
  const out = [];
  let i = 0;
  while (i < data.length) {
    const value = data[i];
    let j = i + 1;
    while (j < data.length && data[j] === value) j++;
    out.push(value);
    let run = j - i;
    while (run >= 0x80) {
      out.push((run & 0x7f) | 0x80);
      run = Math.floor(run / 128);
    }
    out.push(run);
    i = j;
  }
  return Uint8Array.from(out);
}

export function decodeRuns(bytes, length) {
  const out = new Uint8Array(length);
  let i = 0;
  let pos = 0;
  while (i < bytes.length) {
    const value = bytes[i++];
    let run = 0;
    let scale = 1;
    for (;;) {
      const b = bytes[i++];
      run += (b & 0x7f) * scale;
      if (b < 0x80) break;
      scale *= 128;
    }
    if (pos + run > length) throw new Error("run-length data longer than the mask");
    out.fill(value, pos, pos + run);
    pos += run;
  }
  if (pos !== length) throw new Error(`run-length data covers ${pos} of ${length} pixels`);
  return out;
}

export function toBase64(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

export function fromBase64(text) {
  const raw = atob(text);
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}
