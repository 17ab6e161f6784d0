// calltrack's console library: what every console page shares. Sign-in, calls to the JSON
// API under /api/v1, error display, phone masking, safe links and formatting for people,
// as one global namespace object, `Console`. Values from the API reach the DOM as text or
// attributes, never as markup, because names, notes and codes are someone's input.
//
// Plain script, no build: a page loads it with `import("/console/common.js")` from its own
// script (or a `<script>` tag); either way it defines `window.Console` and nothing else.
// The page must hold the shared fragments the service includes into it: the bar with
// `#updated` and `#sign-out`, `#status` and `#error`, and the sign-in card.
"use strict";

(() => {
  const UNAUTHORIZED = "Your sign-in has expired or is not valid. Please sign in again.";
  const UNANSWERED = "calltrack could not answer this request. Try again in a moment.";

  /** The page's choices, given to `start`; the defaults hold until then. */
  let page = {
    offline: "Cannot reach calltrack. Check your network connection and try again.",
    storageKey: null,
    forbidden: null,
  };
  let credentials = null;
  /** Who put up the error on show, so that only they take it down (see `clearError`). */
  let errorSource = null;

  const $ = (id) => document.getElementById(id);

  /** A refused or failed API call, its words ready for people. */
  class ApiError extends Error {
    /** `code` is the API's own error code (`not_found`, `database_timeout`, …) when it sent one. */
    constructor(message, status, code = null) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  /**
   * Whether the database did not finish the request in time or could not be reached: sending
   * the same request again at once would load the database as much as the last one did, and
   * most likely end the same way, so nothing repeats it by itself right away.
   */
  function databaseBusy(error) {
    return error instanceof ApiError && (error.code === "database_timeout" || error.code === "database_unavailable");
  }

  // ---- formatting for people ----------------------------------------------------------------

  const numberFormat = new Intl.NumberFormat(undefined);
  const percentFormat = new Intl.NumberFormat(undefined, { style: "percent", maximumFractionDigits: 0 });

  /** `+14155550100` → `+1415***0100`, the same rule as the service's logs. */
  function maskPhone(e164) {
    if (!e164) return "Withheld number";
    const chars = Array.from(e164);
    if (chars.length <= 9) return "***";
    return chars.slice(0, 5).join("") + "***" + chars.slice(-4).join("");
  }

  /** `+18005550100` → `+1 (800) 555-0100`; other numbers as stored. */
  function phone(e164) {
    const m = /^\+1(\d{3})(\d{3})(\d{4})$/.exec(e164 || "");
    return m ? `+1 (${m[1]}) ${m[2]}-${m[3]}` : e164 || "";
  }

  /** A recipient's first and last name, as much of it as is on file. */
  function fullName(person) {
    return person ? [person.first_name, person.last_name].filter(Boolean).join(" ") : "";
  }

  /** Capitalised and full-stopped, so API messages read as sentences. */
  function sentence(text) {
    const t = String(text || "").trim();
    if (!t) return "Something went wrong. Try again in a moment.";
    const first = t.charAt(0).toUpperCase() + t.slice(1);
    return /[.!?]$/.test(first) ? first : `${first}.`;
  }

  function num(n) {
    return numberFormat.format(n || 0);
  }

  /** `part` of `whole` as a percentage; a dash when there is nothing to divide. */
  function pct(part, whole) {
    return whole > 0 ? percentFormat.format(part / whole) : "—";
  }

  /** A DATE (`2026-03-01`) for people. */
  function calendarDate(date) {
    return new Date(`${date}T00:00:00Z`).toLocaleDateString(undefined, { dateStyle: "medium", timeZone: "UTC" });
  }

  /** A timestamp as the viewer's local date and time. */
  function whenLocal(iso) {
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? "" : d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  }

  /** Only web links become hrefs; anything else (javascript:, data:) is dropped. */
  function safeUrl(raw) {
    if (!raw) return null;
    try {
      const url = new URL(raw);
      return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
    } catch {
      return null;
    }
  }

  /** An element with its attributes and, when given, its text (never markup). */
  function el(tag, attrs = {}, text) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // ---- messages -----------------------------------------------------------------------------

  /** Says `text` in the polite live region. */
  function announce(text) {
    $("status").textContent = text;
  }

  /**
   * Shows `text` in the alert box, with a link after it when `link` ({href, text}) is given.
   * `source` names who raised it, so a poll that recovers clears only its own error.
   */
  function showError(text, { source = null, link = null } = {}) {
    const box = $("error");
    box.replaceChildren(el("span", {}, text));
    if (link) box.append(" ", el("a", { href: link.href, "data-testid": "error-link" }, link.text));
    box.hidden = false;
    errorSource = source;
  }

  /** Hides the error; with a `source`, only an error that source raised. */
  function clearError(source) {
    if (source && errorSource !== source) return;
    const box = $("error");
    box.replaceChildren();
    box.hidden = true;
    errorSource = null;
  }

  /** The page's words for a 403, when it has some; `showError` takes the result. */
  function forbiddenError(error, source) {
    if (!(error instanceof ApiError) || error.status !== 403 || !page.forbidden) return false;
    showError(page.forbidden.message, { source, link: page.forbidden.link });
    return true;
  }

  /** Shows a failed call in words; an expired sign-in signs out. */
  function handleError(error, source) {
    if (error instanceof ApiError && error.status === 401) {
      signOut(UNAUTHORIZED);
      return;
    }
    if (forbiddenError(error, source)) return;
    showError(error instanceof ApiError ? error.message : page.offline, { source });
  }

  // ---- the API ------------------------------------------------------------------------------

  function authHeaders() {
    const { kind, secret } = credentials;
    return kind === "api-key" ? { "X-API-Key": secret } : { Authorization: `Bearer ${secret}` };
  }

  /** The refusal as an `ApiError`: the API's own message as a sentence and its code, with Twilio's error number when Twilio refused. */
  async function refusal(response) {
    let error = null;
    try {
      error = (await response.json()).error;
    } catch {
      error = null;
    }
    const message = error && error.message ? sentence(error.message) : UNANSWERED;
    // Twilio's own number helps when asking Twilio's support or reading its error pages.
    const words = error && error.twilio_code != null ? `${message} (Twilio error ${error.twilio_code})` : message;
    return new ApiError(words, response.status, error && typeof error.code === "string" ? error.code : null);
  }

  /**
   * Sends one request with the signed-in credentials and answers the response; a network
   * failure or an answer other than 2xx becomes an `ApiError` in words.
   */
  async function send(path, { method = "GET", body, accept = "application/json" } = {}) {
    const headers = { Accept: accept, ...authHeaders() };
    const init = { method, headers, cache: "no-store", credentials: "omit" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch {
      throw new ApiError(page.offline, 0);
    }
    if (response.status === 401) throw new ApiError(UNAUTHORIZED, 401);
    if (!response.ok) throw await refusal(response);
    return response;
  }

  /** `send` for JSON: the parsed body, or null when there is none (a 204). */
  async function api(path, options) {
    const response = await send(path, options);
    try {
      return await response.json();
    } catch {
      return null;
    }
  }

  /** `?a=1&b=2` from the parameters that have a value; empty when none has. */
  function query(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
    const s = q.toString();
    return s ? `?${s}` : "";
  }

  // ---- signing in and out -------------------------------------------------------------------

  function saveCredentials() {
    sessionStorage.setItem(page.storageKey, JSON.stringify(credentials));
  }

  function loadCredentials() {
    // `calltrack demo` prints a console URL carrying a token in the fragment, which never
    // reaches a server or a log; it is moved into session storage and wiped from the URL.
    const fragment = new URLSearchParams(window.location.hash.slice(1));
    const fromUrl = fragment.get("token");
    if (fromUrl) {
      history.replaceState(null, "", `${window.location.pathname}${window.location.search}${page.home}`);
      credentials = { kind: "token", secret: fromUrl.trim() };
      saveCredentials();
      return;
    }
    try {
      const saved = JSON.parse(sessionStorage.getItem(page.storageKey) || "null");
      if (saved && typeof saved.secret === "string" && (saved.kind === "token" || saved.kind === "api-key")) credentials = saved;
    } catch {
      // A damaged entry is treated as signed out.
    }
  }

  function secretLabel() {
    const kind = $("sign-in-form").elements.kind.value;
    $("secret-label").textContent = kind === "api-key" ? "API key" : "Platform token";
  }

  /** Tries the typed credentials on the page's probe and enters only when the API takes them. */
  async function signIn(event) {
    event.preventDefault();
    const form = $("sign-in-form");
    const kind = form.elements.kind.value === "api-key" ? "api-key" : "token";
    const secret = $("secret").value.trim();
    if (!secret) {
      showError("Enter your platform token or API key to sign in.", { source: "sign-in" });
      $("secret").focus();
      return;
    }
    const submit = form.querySelector("button[type=submit]");
    submit.disabled = true;
    announce("Signing in…");
    credentials = { kind, secret };
    try {
      await api(page.probe);
    } catch (error) {
      credentials = null;
      announce("");
      if (!forbiddenError(error, "sign-in")) showError(error.message || page.offline, { source: "sign-in" });
      $("secret").focus();
      return;
    } finally {
      submit.disabled = false;
    }
    saveCredentials();
    $("secret").value = "";
    clearError();
    enter();
  }

  function enter() {
    $("sign-in").hidden = true;
    $("sign-out").hidden = false;
    page.enter();
  }

  /** Forgets the credentials and shows the sign-in form, with `message` as the reason if given. */
  function signOut(message) {
    credentials = null;
    sessionStorage.removeItem(page.storageKey);
    page.leave();
    $("updated").textContent = "";
    $("sign-out").hidden = true;
    $("sign-in").hidden = false;
    if (message) {
      announce("");
      showError(message, { source: "sign-in" });
    } else {
      clearError();
      announce("Signed out.");
    }
    $("secret").focus();
  }

  /**
   * Wires the shared sign-in form and sign-out button, then resumes a sign-in kept in this
   * tab or carried in the URL's fragment. `options`:
   * - `storageKey`: the session-storage key of this console's credentials;
   * - `probe`: an API path the credentials must be able to read to sign in;
   * - `home`: the URL fragment left after a token is taken from it (`""` or `"#/"`);
   * - `offline` (optional): the words for an unreachable service;
   * - `forbidden` (optional): `{message, link}` shown when the API answers 403;
   * - `note` (optional): a line on the sign-in card, such as who the console is for;
   * - `enter()`: shows the console, once signed in; `leave()`: clears it, on sign-out.
   * The sign-in card is served hidden and shown here, so nobody types into a form that
   * nothing handles yet.
   */
  function start(options) {
    page = { ...page, home: "", ...options };
    $("sign-in-form").addEventListener("submit", signIn);
    $("sign-in-form").addEventListener("change", secretLabel);
    $("sign-out").addEventListener("click", () => signOut());
    if (page.note) {
      $("sign-in-note").textContent = page.note;
      $("sign-in-note").hidden = false;
    }
    loadCredentials();
    if (credentials) enter();
    else $("sign-in").hidden = false;
  }

  window.Console = Object.freeze({
    ApiError,
    databaseBusy,
    maskPhone,
    phone,
    fullName,
    sentence,
    num,
    pct,
    calendarDate,
    whenLocal,
    safeUrl,
    el,
    announce,
    showError,
    clearError,
    handleError,
    authHeaders,
    send,
    api,
    query,
    start,
    signOut,
    /** Whether credentials are held; work started before a sign-out checks this. */
    signedIn: () => credentials !== null,
  });
})();
