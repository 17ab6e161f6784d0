// calltrack agent console: polls the JSON API under /api/v1 and renders every value with
// textContent, never as HTML, because each one (names, codes, notes) is someone's input.
"use strict";

const POLL_MS = 2000;
const HOUR_MS = 60 * 60 * 1000;
const STORAGE_KEY = "calltrack.agent.credentials";
const UNAUTHORIZED = "Your sign-in has expired or is not valid. Please sign in again.";
const OFFLINE = "Cannot reach calltrack. Check your network connection; the console keeps trying.";

const CALL_STATUS = {
  initiated: ["Ringing", "live"],
  ringing: ["Ringing", "live"],
  "in-progress": ["In progress", "live"],
  completed: ["Ended", "ended"],
  busy: ["Missed: busy", "missed"],
  "no-answer": ["Missed: no answer", "missed"],
  failed: ["Failed", "missed"],
  canceled: ["Caller hung up", "missed"],
};

const CALL_OUTCOME = {
  answered: "Answered by the business",
  missed: "Missed by the business",
  voicemail: "Left a voicemail",
  abandoned: "Caller hung up before an answer",
};

/** Twilio's STIR/SHAKEN verdict on the caller ID, for people. */
function verstatWords(verstat) {
  if (!verstat) return "Not verified by the carrier";
  if (verstat.startsWith("TN-Validation-Passed")) return `Verified (attestation ${verstat.slice(-1)})`;
  if (verstat.startsWith("TN-Validation-Failed")) return "Verification failed: the number may be spoofed";
  return "Not verified by the carrier";
}

const state = {
  credentials: null,
  selectedId: null,
  detailSeq: 0,
  timers: {},
  generations: {},
  rows: new Map(),
  conditions: new Map(),
  errorSource: null,
};

const $ = (id) => document.getElementById(id);

class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

// ---- formatting ---------------------------------------------------------------------------

/** `+14155550100` → `+1415***0100`, the same rule as the service's logs. */
function maskPhone(phone) {
  if (!phone) return "Withheld number";
  const chars = Array.from(phone);
  if (chars.length <= 9) return "***";
  return chars.slice(0, 5).join("") + "***" + chars.slice(-4).join("");
}

function shortId(id) {
  return String(id || "").slice(0, 8);
}

function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
}

function timeOf(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

function startedAt(session) {
  return Date.parse(session.call_started_at || session.created_at);
}

function statusWords(session) {
  return CALL_STATUS[session.call_status] || [session.call_status || "Unknown", "ended"];
}

/** The call's length: final for ended calls, running for live ones. */
function durationWords(session) {
  const [, kind] = statusWords(session);
  if (kind === "live") {
    const since = Date.parse(session.call_answered_at || session.call_started_at || session.created_at);
    return Number.isNaN(since) ? "" : `${clock((Date.now() - since) / 1000)} so far`;
  }
  if (session.call_duration_seconds != null) return clock(session.call_duration_seconds);
  return "";
}

function matchWords(session) {
  return session.match_status === "matched" ? "Matched" : "Not matched";
}

/** Capitalised and full-stopped, so API messages read as sentences. */
function sentence(text) {
  const t = String(text || "").trim();
  if (!t) return "Something went wrong. Try again in a moment.";
  const first = t.charAt(0).toUpperCase() + t.slice(1);
  return /[.!?]$/.test(first) ? first : `${first}.`;
}

/** The reward of a met condition in words, and a tone for its colour. */
function rewardWords(met) {
  if (!met) return ["Not met yet.", ""];
  switch (met.reward_status) {
    case "no_reward_configured":
      return ["Met. No reward is configured for this condition.", ""];
    case "pool_exhausted":
      return ["Met. Reward pool exhausted: the gift card is provisioned when new cards arrive.", "warn"];
    case "no_phone":
      return ["Met. No reward sent: neither the caller nor the recipient has a phone number on file.", "warn"];
    case "provisioned":
      switch (met.delivery_status) {
        case "sent":
          return ["Reward provisioned. SMS sent.", "ok"];
        case "delivered":
          return ["Reward provisioned. SMS delivered.", "ok"];
        case "failed": {
          const why = met.delivery_error_message ? sentence(met.delivery_error_message) : "Twilio refused the message.";
          const code = met.delivery_error_code != null ? ` (Twilio error ${met.delivery_error_code})` : "";
          return [`Reward provisioned. SMS failed: ${why}${code}`, "bad"];
        }
        default:
          return ["Reward provisioned. SMS pending.", ""];
      }
    default:
      return ["Met.", ""];
  }
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

function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

// ---- messages -----------------------------------------------------------------------------

function announce(text) {
  $("status").textContent = text;
}

function showError(text, source) {
  const box = $("error");
  box.textContent = text;
  box.hidden = false;
  state.errorSource = source;
}

function clearError(source) {
  if (source && state.errorSource !== source) return;
  const box = $("error");
  box.textContent = "";
  box.hidden = true;
  state.errorSource = null;
}

function handleError(error, source) {
  if (error instanceof ApiError && error.status === 401) {
    signOut(UNAUTHORIZED);
    return;
  }
  showError(error instanceof ApiError ? error.message : OFFLINE, source);
}

// ---- API ----------------------------------------------------------------------------------

async function api(path, options = {}) {
  const { kind, secret } = state.credentials;
  const headers = { Accept: "application/json" };
  if (kind === "api-key") headers["X-API-Key"] = secret;
  else headers.Authorization = `Bearer ${secret}`;
  const init = { method: options.method || "GET", headers, cache: "no-store", credentials: "omit" };
  if (options.body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(options.body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(OFFLINE, 0);
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (response.status === 401) throw new ApiError(UNAUTHORIZED, 401);
  if (!response.ok) {
    const message = data && data.error && data.error.message;
    throw new ApiError(
      message ? sentence(message) : "calltrack could not answer this request. Try again in a moment.",
      response.status,
    );
  }
  return data;
}

const sessionPath = (id, tail = "") => `/api/v1/call-sessions/${encodeURIComponent(id)}${tail}`;

// ---- polling ------------------------------------------------------------------------------

/**
 * Runs `task` now and then every POLL_MS after it settles, so requests never pile up.
 * Restarting a loop bumps its generation, which retires a tick still waiting on the network.
 */
function poll(name, task) {
  clearTimeout(state.timers[name]);
  const generation = (state.generations[name] || 0) + 1;
  state.generations[name] = generation;
  const current = () => state.credentials && state.generations[name] === generation;
  const tick = async () => {
    if (!current()) return;
    try {
      await task();
      if (current()) clearError("poll");
    } catch (error) {
      if (current()) handleError(error, "poll");
    }
    if (current()) state.timers[name] = setTimeout(tick, POLL_MS);
  };
  tick();
}

function stopPolling() {
  for (const timer of Object.values(state.timers)) clearTimeout(timer);
  state.timers = {};
  for (const name of Object.keys(state.generations)) state.generations[name] += 1;
}

// ---- the call list ------------------------------------------------------------------------

async function refreshList() {
  const page = await api("/api/v1/call-sessions?limit=50");
  if (!state.credentials) return;
  const cutoff = Date.now() - HOUR_MS;
  renderList(page.items.filter((s) => startedAt(s) >= cutoff));
  $("updated").textContent = `Updated ${timeOf(new Date().toISOString())}`;
}

function createRow(id) {
  const item = el("li");
  const button = el("button", { type: "button", class: "call-row", "data-testid": "call-row", "data-session-id": id });
  const caller = el("span", { class: "caller", "data-testid": "call-caller" });
  const badges = el("span", { class: "state" });
  const match = el("span", { class: "badge", "data-testid": "call-match" });
  const status = el("span", { class: "badge", "data-testid": "call-status" });
  badges.append(match, " ", status);
  const meta = el("span", { class: "meta", "data-testid": "call-meta" });
  button.append(caller, badges, meta);
  button.addEventListener("click", () => select(id));
  button.addEventListener("keydown", moveFocus);
  item.append(button);
  return { item, button, caller, match, status, meta };
}

/** Up and down arrows walk the list, as in any list of choices. */
function moveFocus(event) {
  if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
  const item = event.currentTarget.parentElement;
  const next = event.key === "ArrowDown" ? item.nextElementSibling : item.previousElementSibling;
  if (next) {
    event.preventDefault();
    next.firstElementChild.focus();
  }
}

function updateRow(row, session) {
  const [words, kind] = statusWords(session);
  row.caller.textContent = maskPhone(session.caller_phone);
  row.match.textContent = matchWords(session);
  row.match.className = `badge ${session.match_status === "matched" ? "matched" : "unmatched"}`;
  row.status.textContent = words;
  row.status.className = `badge ${kind}`;
  const parts = [session.campaign_name || `Campaign ${shortId(session.campaign_id)}`, timeOf(session.call_started_at || session.created_at)];
  const duration = durationWords(session);
  if (duration) parts.push(duration);
  row.meta.textContent = parts.join(" · ");
  row.button.setAttribute("aria-current", String(session.id === state.selectedId));
}

/** Updates rows in place, keyed by session id, so focus and scroll survive each refresh. */
function renderList(sessions) {
  const list = $("call-list");
  const seen = new Set();
  sessions.forEach((session, index) => {
    let row = state.rows.get(session.id);
    if (!row) {
      row = createRow(session.id);
      state.rows.set(session.id, row);
    }
    updateRow(row, session);
    if (list.children[index] !== row.item) list.insertBefore(row.item, list.children[index] || null);
    seen.add(session.id);
  });
  for (const [id, row] of state.rows) {
    if (!seen.has(id)) {
      row.item.remove();
      state.rows.delete(id);
    }
  }
  $("calls-empty").hidden = sessions.length > 0;
}

// ---- the call detail ----------------------------------------------------------------------

function select(id) {
  if (state.selectedId !== id) {
    state.selectedId = id;
    state.conditions.clear();
    $("conditions").replaceChildren();
    $("link-code").value = "";
  }
  for (const [rowId, row] of state.rows) row.button.setAttribute("aria-current", String(rowId === id));
  poll("detail", refreshDetail);
}

async function refreshDetail() {
  const id = state.selectedId;
  if (!id) return;
  const seq = ++state.detailSeq;
  let detail;
  try {
    detail = await api(sessionPath(id));
  } catch (error) {
    if (error instanceof ApiError && error.status === 404 && id === state.selectedId) {
      clearDetail();
      showError("That call is no longer available to you.", "action");
      return;
    }
    throw error;
  }
  // A slower, older answer must not overwrite a newer one or another call's detail.
  if (seq !== state.detailSeq || id !== state.selectedId) return;
  renderDetail(detail);
}

function clearDetail() {
  clearTimeout(state.timers.detail);
  state.generations.detail = (state.generations.detail || 0) + 1;
  state.selectedId = null;
  state.conditions.clear();
  $("conditions").replaceChildren();
  $("detail-body").hidden = true;
  $("detail-empty").hidden = false;
  $("detail-title").textContent = "Call detail";
}

function renderDetail(detail) {
  const [words] = statusWords(detail);
  const duration = durationWords(detail);
  $("detail-empty").hidden = true;
  $("detail-body").hidden = false;
  $("detail-title").textContent = `Call from ${maskPhone(detail.caller_phone)}`;
  $("detail-caller").textContent = `${maskPhone(detail.caller_phone)} · ${matchWords(detail)}`;
  $("detail-status").textContent = duration ? `${words} · ${duration}` : words;
  $("detail-started").textContent = timeOf(detail.call_started_at || detail.created_at);
  const campaign = $("detail-campaign");
  campaign.textContent = detail.campaign_name || shortId(detail.campaign_id);
  campaign.title = detail.campaign_id;

  $("detail-outcome").textContent = detail.call_outcome ? CALL_OUTCOME[detail.call_outcome] || detail.call_outcome : "Call in progress";
  $("detail-verstat").textContent = verstatWords(detail.caller_verstat);
  const voicemail = safeUrl(detail.voicemail_url);
  const voicemailLink = $("voicemail-link");
  voicemailLink.hidden = !voicemail;
  $("voicemail-none").hidden = Boolean(voicemail);
  if (voicemail) voicemailLink.href = voicemail;
  else voicemailLink.removeAttribute("href");

  const recording = safeUrl(detail.recording_url);
  const link = $("recording-link");
  link.hidden = !recording;
  $("recording-none").hidden = Boolean(recording);
  if (recording) link.href = recording;
  else link.removeAttribute("href");

  const recipient = detail.recipient;
  $("recipient").hidden = !recipient;
  $("link-form").hidden = Boolean(recipient);
  if (recipient) {
    const name = [recipient.first_name, recipient.last_name].filter(Boolean).join(" ");
    $("recipient-name").textContent = name || "No name on file";
    $("recipient-code").textContent = recipient.redemption_code;
  }
  renderConditions(detail.conditions || [], detail.conditions_met || [], Boolean(recipient));
}

function createCondition(number) {
  const item = el("li", { class: "condition", tabindex: "-1", "data-testid": `condition-${number}` });
  const check = el("span", { class: "check", "aria-hidden": "true" });
  const text = el("div");
  const name = el("div", { class: "name", "data-testid": `condition-name-${number}` });
  const offer = el("div", { class: "reward-offer" });
  text.append(name, offer);
  const button = el("button", { type: "button", "data-testid": `mark-${number}` }, "Mark met");
  button.addEventListener("click", () => markCondition(number));
  const reward = el("p", { class: "reward-state", "data-testid": `reward-state-${number}` });
  item.append(check, text, button, reward);
  return { item, check, name, offer, button, reward, busy: false };
}

function renderConditions(conditions, met, hasRecipient) {
  const list = $("conditions");
  $("conditions-empty").hidden = conditions.length > 0;
  const seen = new Set();
  conditions.forEach((condition, index) => {
    const number = condition.condition_number;
    let view = state.conditions.get(number);
    if (!view) {
      view = createCondition(number);
      state.conditions.set(number, view);
    }
    const done = met.find((m) => m.condition_number === number);
    const label = condition.condition_name || `Condition ${number}`;
    view.item.classList.toggle("met", Boolean(done));
    view.check.textContent = done ? "✓" : "○";
    view.name.textContent = `${number}. ${label}`;
    view.offer.textContent = condition.reward_description ? `Reward: ${condition.reward_description}` : "No reward";
    if (!view.busy) {
      view.button.textContent = done ? "Met" : "Mark met";
      view.button.disabled = Boolean(done) || !hasRecipient;
    }
    view.button.setAttribute("aria-label", done ? `Condition ${number} met: ${label}` : `Mark condition ${number} met: ${label}`);
    const [words, tone] = done || hasRecipient ? rewardWords(done) : ["Link the caller to a recipient before marking.", ""];
    view.reward.textContent = words;
    view.reward.className = `reward-state ${tone}`;
    view.reward.dataset.reward = done ? done.reward_status : "";
    view.reward.dataset.delivery = (done && done.delivery_status) || "";
    if (list.children[index] !== view.item) list.insertBefore(view.item, list.children[index] || null);
    seen.add(number);
  });
  for (const [number, view] of state.conditions) {
    if (!seen.has(number)) {
      view.item.remove();
      state.conditions.delete(number);
    }
  }
}

async function markCondition(number) {
  const id = state.selectedId;
  const view = state.conditions.get(number);
  if (!id || !view || view.busy) return;
  view.busy = true;
  view.button.disabled = true;
  view.button.textContent = "Marking…";
  announce(`Marking condition ${number}…`);
  try {
    const result = await api(sessionPath(id, "/conditions"), { method: "POST", body: { condition_number: number } });
    const [words] = rewardWords({ ...result.condition, reward_status: result.reward.status, delivery_status: result.reward.delivery_status });
    clearError("action");
    announce(`Condition ${number} marked met. ${words}`);
  } catch (error) {
    handleError(error, "action");
    announce("");
  } finally {
    view.busy = false;
  }
  if (!state.credentials) return;
  await refreshDetail().catch((error) => handleError(error, "poll"));
  // The button is now disabled and so loses focus; keep keyboard users on this condition.
  if (document.activeElement === document.body || document.activeElement === view.button) view.item.focus();
}

async function linkRecipient(event) {
  event.preventDefault();
  const id = state.selectedId;
  const input = $("link-code");
  const code = input.value.trim();
  if (!id) return;
  if (!code) {
    showError("Enter the redemption code printed on the caller's mail piece.", "action");
    input.focus();
    return;
  }
  const button = event.submitter || $("link-form").querySelector("button");
  button.disabled = true;
  try {
    const detail = await api(sessionPath(id, "/recipient"), { method: "POST", body: { redemption_code: code } });
    clearError("action");
    input.value = "";
    if (id === state.selectedId) {
      state.detailSeq += 1;
      renderDetail(detail);
    }
    const name = detail.recipient ? [detail.recipient.first_name, detail.recipient.last_name].filter(Boolean).join(" ") : "";
    announce(name ? `Caller linked to ${name}.` : "Caller linked.");
    $("detail-title").focus();
  } catch (error) {
    handleError(error, "action");
  } finally {
    button.disabled = false;
  }
}

// ---- signing in and out -------------------------------------------------------------------

function loadCredentials() {
  // `calltrack demo` prints a console URL carrying a token in the fragment, which never
  // reaches a server or a log; it is moved into session storage and wiped from the URL.
  const fragment = new URLSearchParams(window.location.hash.slice(1));
  const fromUrl = fragment.get("token");
  if (fromUrl) {
    history.replaceState(null, "", window.location.pathname + window.location.search);
    const credentials = { kind: "token", secret: fromUrl.trim() };
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify(credentials));
    return credentials;
  }
  try {
    const saved = JSON.parse(sessionStorage.getItem(STORAGE_KEY) || "null");
    if (saved && typeof saved.secret === "string" && (saved.kind === "token" || saved.kind === "api-key")) return saved;
  } catch {
    // A damaged entry is treated as signed out.
  }
  return null;
}

function secretLabel() {
  const kind = $("sign-in-form").elements.kind.value;
  $("secret-label").textContent = kind === "api-key" ? "API key" : "Platform token";
}

async function signIn(event) {
  event.preventDefault();
  const form = $("sign-in-form");
  const kind = form.elements.kind.value === "api-key" ? "api-key" : "token";
  const secret = $("secret").value.trim();
  if (!secret) {
    showError("Enter your platform token or API key to sign in.", "sign-in");
    $("secret").focus();
    return;
  }
  const submit = form.querySelector("button[type=submit]");
  submit.disabled = true;
  announce("Signing in…");
  state.credentials = { kind, secret };
  try {
    await api("/api/v1/call-sessions?limit=1");
  } catch (error) {
    state.credentials = null;
    announce("");
    showError(error.message || OFFLINE, "sign-in");
    $("secret").focus();
    return;
  } finally {
    submit.disabled = false;
  }
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify(state.credentials));
  $("secret").value = "";
  clearError();
  enterConsole();
}

function enterConsole() {
  $("sign-in").hidden = true;
  $("console").hidden = false;
  $("sign-out").hidden = false;
  announce("Signed in. Showing calls from the last hour; the list refreshes every 2 seconds.");
  poll("list", refreshList);
  $("main").focus();
}

function signOut(message) {
  stopPolling();
  state.credentials = null;
  sessionStorage.removeItem(STORAGE_KEY);
  clearDetail();
  state.rows.clear();
  $("call-list").replaceChildren();
  $("updated").textContent = "";
  $("console").hidden = true;
  $("sign-out").hidden = true;
  $("sign-in").hidden = false;
  if (message) {
    announce("");
    showError(message, "sign-in");
  } else {
    clearError();
    announce("Signed out.");
  }
  $("secret").focus();
}

document.addEventListener("DOMContentLoaded", () => {
  $("sign-in-form").addEventListener("submit", signIn);
  $("sign-in-form").addEventListener("change", secretLabel);
  $("link-form").addEventListener("submit", linkRecipient);
  $("sign-out").addEventListener("click", () => signOut());
  state.credentials = loadCredentials();
  if (state.credentials) enterConsole();
});
