// Admins: users (create one: its token is shown once; deactivate, activate), each user's API tokens (issue,
// revoke), and each project's members with their role there (add, change, remove: docs/security.md).
import { request } from "./api.js";
import { append, clear, h, say } from "./dom.js";

export function mount(view, ctx) {
  const users = h("div", { testid: "users" });
  const tokens = h("div", { testid: "tokens" });
  const name = h("input", { type: "text", testid: "user-name", placeholder: "name", maxlength: "120", required: true });
  const role = h("select", { testid: "user-role" }, ["annotator", "lead", "admin"].map((r) => h("option", { value: r }, r)));
  const form = h("form", { class: "inline", testid: "user-form" }, name, role,
    h("button", { class: "primary", type: "submit", testid: "user-create" }, "Create user"));
  const secret = h("div", { testid: "new-token-box" });
  const project = h("select", { testid: "member-project", onchange: () => showMembers() });
  const memberUser = h("select", { testid: "member-user" });
  const memberRole = h("select", { testid: "member-role" }, ["annotator", "lead", "viewer"].map((r) => h("option", { value: r }, r)));
  const memberForm = h("form", { class: "inline", testid: "member-form" }, memberUser, memberRole,
    h("button", { class: "primary", type: "submit", testid: "member-add" }, "Add or change"));
  const memberList = h("div", { testid: "members" });
  view.append(h("div", { class: "page" },
    h("div", { class: "card wide" }, h("h2", {}, "Users"), form, secret, users),
    h("div", { class: "card wide" }, h("h2", {}, "Tokens"), tokens),
    h("div", { class: "card wide" }, h("h2", {}, "Project members"), project, memberForm, memberList)));

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
    clear(users).append(h("table", {}, h("tr", {}, ["id", "name", "role", "active", "", ""].map((t) => h("th", {}, t))),
      list.data.map((u) => h("tr", { testid: `user-${u.id}` }, h("td", {}, String(u.id)), h("td", {}, u.name), h("td", {}, u.role),
        h("td", {}, u.is_active ? "yes" : "no"),
        h("td", {}, h("button", { testid: "user-tokens", onclick: () => showTokens(u) }, "Tokens")),
        h("td", {}, h("button", { class: u.is_active ? "danger" : "", testid: "user-active", onclick: () => setActive(u) },
          u.is_active ? "Deactivate" : "Activate"))))));
    append(clear(memberUser), list.data.filter((u) => u.role !== "admin").map((u) => h("option", { value: u.id }, u.name)));
  }

  async function setActive(user) {
    try {
      const done = await request("POST", `/users/${user.id}/${user.is_active ? "deactivate" : "activate"}`);
      say(user.is_active ? `${user.name} deactivated; ${done.released_leases} open lease(s) released.` : `${user.name} activated.`, "info");
      await load();
    } catch (error) {
      say(error.message, "error");
    }
  }

  async function loadProjects() {
    const list = await request("GET", "/projects?limit=1000");
    append(clear(project), list.data.map((p) => h("option", { value: p.id }, `${p.name} (${p.id})`)));
    if (list.data.length) await showMembers();
  }

  async function showMembers() {
    try {
      const list = await request("GET", `/projects/${project.value}/members`);
      clear(memberList).append(h("table", {}, h("tr", {}, ["user", "role", ""].map((t) => h("th", {}, t))),
        list.data.map((m) => h("tr", { testid: `member-${m.user_id}` }, h("td", {}, m.name), h("td", {}, m.role),
          h("td", {}, h("button", { class: "danger", testid: "member-remove", onclick: () => removeMember(m) }, "Remove"))))));
    } catch (error) {
      say(error.message, "error");
    }
  }

  memberForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await request("PUT", `/projects/${project.value}/members/${memberUser.value}`, { json: { role: memberRole.value } });
      await showMembers();
    } catch (error) {
      say(error.message, "error");
    }
  });

  async function removeMember(member) {
    try {
      await request("DELETE", `/projects/${project.value}/members/${member.user_id}`);
      say(`${member.name} removed from the project.`, "info");
      await showMembers();
    } catch (error) {
      say(error.message, "error");
    }
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

  load().then(loadProjects).catch((error) => say(error.message, "error"));
  if (ctx.message) say(ctx.message, "info");
  return () => {};
}
