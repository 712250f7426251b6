// Boot and hash routing: #/signin, #/annotate?project=N, #/dashboard?project=N, #/admin.
import { request, setAuthFailureHandler, token } from "./api.js";
import { byTestId, clear, say } from "./dom.js";

const VIEWS = {
  signin: () => import("./signin.js"),
  annotate: () => import("./annotate.js"),
  dashboard: () => import("./dashboard.js"),
  admin: () => import("./admin.js"),
};

const state = { me: null, unmount: null, pendingMessage: null };

function routeName() {
  const name = location.hash.replace(/^#\/?/, "").split("?")[0];
  return name in VIEWS ? name : null;
}

function homeFor(me) {
  return me.role === "annotator" ? "annotate" : "dashboard";
}

function showIdentity(me) {
  byTestId("whoami").textContent = me ? `${me.name} · ${me.role}` : "";
  byTestId("signout").hidden = !me;
  byTestId("nav-annotate").hidden = !me;
  byTestId("nav-dashboard").hidden = !me || me.role === "annotator";
  byTestId("nav-admin").hidden = !me || me.role !== "admin";
}

/** A 401/403 anywhere: forget the token, go back to sign-in and show the API's message there. */
function signOut(message) {
  token.clear();
  state.me = null;
  showIdentity(null);
  state.pendingMessage = message;
  if (routeName() === "signin") render();
  else location.hash = "#/signin";
}

setAuthFailureHandler((error) => signOut(error.message));

async function render() {
  if (state.unmount) {
    state.unmount();
    state.unmount = null;
  }
  const view = clear(document.getElementById("view"));
  let name = routeName();
  if (!token.get()) name = "signin";
  else if (!state.me) {
    try {
      state.me = await request("GET", "/users/me");
    } catch (error) {
      if (error.status !== 401 && error.status !== 403) say(error.message, "error");
      return;
    }
    showIdentity(state.me);
  }
  if (name === "signin" && token.get() && state.me) name = null;
  if (name === null) {
    location.hash = `#/${homeFor(state.me)}`;
    return;
  }
  if (name !== (location.hash.replace(/^#\/?/, "").split("?")[0] || "")) history.replaceState(null, "", `#/${name}`);
  document.body.dataset.view = name;
  const module = await VIEWS[name]();
  const message = state.pendingMessage;
  state.pendingMessage = null;
  state.unmount = module.mount(view, {
    me: state.me,
    message,
    signedIn: (me) => {
      state.me = me;
      showIdentity(me);
      location.hash = `#/${homeFor(me)}`;
    },
  });
}

byTestId("signout").addEventListener("click", () => signOut("Signed out."));
window.addEventListener("hashchange", render);
render();
