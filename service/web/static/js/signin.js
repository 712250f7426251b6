// Sign-in: paste an API token; it is checked with GET /users/me and kept in sessionStorage (this tab only).
import { request, token } from "./api.js";
import { h, say, unsay } from "./dom.js";

export function mount(view, ctx) {
  const input = h("input", { type: "password", testid: "token-input", autocomplete: "off", spellcheck: "false",
    placeholder: "API token", "aria-label": "API token", required: true });
  const form = h("form", { class: "signin", testid: "signin-form" },
    h("h1", {}, "Sign in"),
    h("p", {}, "Paste the API token you were given (depthal users create, or an admin's Users page). ",
      "It is kept in this tab only and forgotten when you close it."),
    input,
    h("button", { type: "submit", class: "primary", testid: "signin-submit" }, "Sign in"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = input.value.trim();
    if (!value) return say("Paste a token first.", "error");
    token.set(value);
    try {
      const me = await request("GET", "/users/me", { own403: true });
      unsay();
      ctx.signedIn(me);
    } catch (error) {
      token.clear();
      say(error.message, "error");
    }
  });
  view.append(form);
  if (ctx.message) say(ctx.message, "error");
  input.focus();
  return () => {};
}
