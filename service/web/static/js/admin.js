// Admins: users (create one: its token is shown once) and each user's API tokens (issue, revoke).
import { request } from "./api.js";
import { clear, h, say } from "./dom.js";

export function mount(view, ctx) {
  const users = h("div", { testid: "users" });
  const tokens = h("div", { testid: "tokens" });
  const name = h("input", { type: "text", testid: "user-name", placeholder: "name", maxlength: "120", required: true });
  const role = h("select", { testid: "user-role" }, ["annotator", "lead", "admin"].map((r) => h("option", { value: r }, r)));
  const form = h("form", { class: "inline", testid: "user-form" }, name, role,
    h("button", { class: "primary", type: "submit", testid: "user-create" }, "Create user"));
  const secret = h("div", { testid: "new-token-box" });
  view.append(h("div", { class: "page" },
    h("div", { class: "card wide" }, h("h2", {}, "Users"), form, secret, users),
    h("div", { class: "card wide" }, h("h2", {}, "Tokens"), tokens)));

  function showSecret(who, token) {
    clear(secret).append(h("p", {}, `Token for ${who}: shown once, copy it now.`), h("div", { class: "token", testid: "new-token" }, token));
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const user = await request("POST", "/users", { json: { name: name.value, role: role.value } });
      showSecret(user.name, user.token);
      name.value = "";
      await load();
    } catch (error) {
      say(error.message, "error");
    }
  });

  async function load() {
    const list = await request("GET", "/users?limit=1000");
    clear(users).append(h("table", {}, h("tr", {}, ["id", "name", "role", "active", ""].map((t) => h("th", {}, t))),
      list.data.map((u) => h("tr", { testid: `user-${u.id}` }, h("td", {}, String(u.id)), h("td", {}, u.name), h("td", {}, u.role),
        h("td", {}, u.is_active ? "yes" : "no"),
        h("td", {}, h("button", { testid: "user-tokens", onclick: () => showTokens(u) }, "Tokens"))))));
  }

  async function showTokens(user) {
    try {
      const list = await request("GET", `/users/${user.id}/tokens`);
      clear(tokens).append(h("p", {}, `Tokens of ${user.name}`),
        h("button", { testid: "token-issue", onclick: () => issue(user) }, "Issue a new token"),
        h("table", {}, h("tr", {}, ["id", "starts with", "created", "last used", "revoked", ""].map((t) => h("th", {}, t))),
          list.data.map((t) => h("tr", { testid: `token-${t.id}` }, h("td", {}, String(t.id)), h("td", {}, `${t.prefix}…`),
            h("td", {}, new Date(t.created_at).toLocaleString()),
            h("td", {}, t.last_used_at ? new Date(t.last_used_at).toLocaleString() : "–"), h("td", {}, t.revoked ? "yes" : "no"),
            h("td", {}, t.revoked ? null : h("button", { class: "danger", testid: "token-revoke", onclick: () => revoke(user, t) }, "Revoke"))))));
    } catch (error) {
      say(error.message, "error");
    }
  }

  async function issue(user) {
    try {
      const created = await request("POST", `/users/${user.id}/tokens`);
      showSecret(user.name, created.token);
      await showTokens(user);
    } catch (error) {
      say(error.message, "error");
    }
  }

  async function revoke(user, t) {
    try {
      await request("DELETE", `/users/${user.id}/tokens/${t.id}`);
      say(`Token ${t.id} of ${user.name} revoked.`, "info");
      await showTokens(user);
    } catch (error) {
      say(error.message, "error");
    }
  }

  load().catch((error) => say(error.message, "error"));
  if (ctx.message) say(ctx.message, "info");
  return () => {};
}
