// Small DOM helpers. Text from data always goes in as text (textContent), never as HTML.

/** h("button", {testid: "submit", class: "primary", onclick: fn}, "Submit", child, ...) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "testid") el.dataset.testid = value;
    else if (key === "class") el.className = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

export const $ = (selector, root = document) => root.querySelector(selector);
export const byTestId = (id, root = document) => root.querySelector(`[data-testid="${id}"]`);

let messageTimer = null;

/** Show a message in the page's alert bar: kind "error" (stays until replaced) or "info" (fades after a while). */
export function say(text, kind = "info", actions = []) {
  const bar = byTestId("message");
  clearTimeout(messageTimer);
  bar.className = `message ${kind}`;
  bar.dataset.kind = kind;
  clear(bar);
  append(bar, [h("span", { testid: "message-text" }, text), ...actions]);
  bar.hidden = false;
  if (kind === "info" && actions.length === 0) messageTimer = setTimeout(() => (bar.hidden = true), 6000);
}

export function unsay() {
  clearTimeout(messageTimer);
  byTestId("message").hidden = true;
}

export function fmt(value, digits = 3) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  return Number(value).toPrecision(digits);
}

export function hashParams() {
  const query = location.hash.split("?")[1] || "";
  return new URLSearchParams(query);
}

export function setHashParam(name, value) {
  const [path] = location.hash.split("?");
  const params = hashParams();
  params.set(name, value);
  history.replaceState(null, "", `${path}?${params}`);
}
