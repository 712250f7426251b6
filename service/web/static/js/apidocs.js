// The API reference at /docs, rendered from /openapi.json by this module alone: no third-party script or CDN, so it
// works offline and under the same Content-Security-Policy as the app (docs/api.md, "API docs").
import { $, h } from "./dom.js";

const METHODS = ["get", "post", "put", "patch", "delete"];

function schemaName(schema) {
  if (!schema) return "";
  if (schema.$ref) return schema.$ref.split("/").pop();
  if (schema.type === "array") return `${schemaName(schema.items)}[]`;
  if (schema.anyOf) return schema.anyOf.map(schemaName).join(" | ");
  return schema.format ? `${schema.type} (${schema.format})` : schema.type || "object";
}

function operation(path, method, op) {
  const params = (op.parameters || []).map((p) =>
    h("li", {}, h("code", {}, p.name), ` (${p.in}${p.required ? ", required" : ""}): ${schemaName(p.schema)}`));
  const body = op.requestBody
    ? Object.entries(op.requestBody.content || {}).map(([type, c]) => h("li", {}, `${type}: ${schemaName(c.schema)}`))
    : [];
  const responses = Object.entries(op.responses || {}).map(([code, r]) => h("li", {}, `${code}: ${r.description}`));
  return h("section", { class: "card", testid: "operation" },
    h("h3", {}, h("code", {}, `${method.toUpperCase()} ${path}`), " ", op.summary || ""),
    op.description ? h("p", {}, op.description) : null,
    params.length ? [h("h4", {}, "Parameters"), h("ul", {}, params)] : null,
    body.length ? [h("h4", {}, "Body"), h("ul", {}, body)] : null,
    h("h4", {}, "Responses"), h("ul", {}, responses));
}

function schemas(components) {
  return Object.entries(components?.schemas || {}).map(([name, s]) =>
    h("section", { class: "card", testid: "schema" }, h("h3", {}, name),
      h("ul", {}, Object.entries(s.properties || {}).map(([field, f]) =>
        h("li", {}, h("code", {}, field), `: ${schemaName(f)}${(s.required || []).includes(field) ? "" : " (optional)"}`,
          f.description ? ` — ${f.description}` : "")))));
}

async function render() {
  const view = $("#view");
  const res = await fetch("/openapi.json");
  if (!res.ok) {
    view.append(h("p", {}, `the schema is not available (${res.status})`));
    return;
  }
  const spec = await res.json();
  view.append(h("h1", {}, `${spec.info.title} ${spec.info.version}`), h("p", {}, spec.info.summary || ""));
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const method of METHODS) if (item[method]) view.append(operation(path, method, item[method]));
  }
  view.append(h("h2", {}, "Schemas"), ...schemas(spec.components));
}

render();
