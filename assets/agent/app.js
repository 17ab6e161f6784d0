// calltrack agent console: polls the JSON API under /api/v1 and renders every value with
// textContent, never as HTML, because each one (names, codes, notes) is someone's input.
// Sign-in, API calls, error display and masking come from the shared console library,
// `Console` (/console/common.js), which this script loads first (see the end of the file).
"use strict";

const POLL_MS = 2000;
/** The longest wait between polls while the database keeps failing to answer in time. */
const POLL_MAX_MS = 60000;
const HOUR_MS = 60 * 60 * 1000;

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
  selectedId: null,
  detailSeq: 0,
  timers: {},
  generations: {},
  rows: new Map(),
  conditions: new Map(),
};

const $ = (id) => document.getElementById(id);

// ---- formatting ---------------------------------------------------------------------------

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

/** A duration in words: "1 min 12 s". */
function talkWords(seconds) {
  const minutes = Math.floor(seconds / 60);
  const rest = seconds % 60;
  if (!minutes) return `${rest} s`;
  return rest ? `${minutes} min ${rest} s` : `${minutes} min`;
}

/** Who or what met a condition, in words ("met automatically: talked 1 min 12 s"). */
function metByWords(met) {
  const detail = met.met_detail || {};
  switch (met.met_by) {
    case "call_rule":
      return detail.talk_seconds != null ? `Met automatically: talked ${talkWords(detail.talk_seconds)}.` : "Met automatically by the call.";
    case "crm_event":
      return detail.event ? `Met automatically: the CRM reported ${detail.event}.` : "Met automatically by a CRM event.";
    case "time_delay":
      return "Met automatically: the waiting time passed.";
    default:
      return detail.override ? "Met by a manager's override." : "Met by an agent.";
  }
}

/** What meets a condition that is not marked by hand, in words; "" for a manual one. */
function automaticWords(condition) {
  switch (condition.trigger_type) {
    case "crm_event":
      return `Met automatically when the CRM reports ${condition.crm_event_name || "its event"}.`;
    case "time_delay": {
      const due = condition.due_at ? ` Due ${Console.whenLocal(condition.due_at)}.` : "";
      return `Met automatically ${condition.time_delay_hours || "some"} h after the first answered call.${due}`;
    }
    default:
      return condition.auto_min_talk_seconds != null ? `Met automatically after ${talkWords(condition.auto_min_talk_seconds)} of talk, or by hand.` : "";
  }
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
          const why = met.delivery_error_message ? Console.sentence(met.delivery_error_message) : "Twilio refused the message.";
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

// ---- API ----------------------------------------------------------------------------------

const sessionPath = (id, tail = "") => `/api/v1/call-sessions/${encodeURIComponent(id)}${tail}`;

// ---- polling ------------------------------------------------------------------------------

/**
 * Runs `task` now and then every POLL_MS after it settles, so requests never pile up.
 * Restarting a loop bumps its generation, which retires a tick still waiting on the network.
 * A request the database did not finish in time (or could not take) is not sent again every
 * POLL_MS: the wait doubles after each such answer, up to POLL_MAX_MS, and the first answer
 * that comes resets it; choosing a call starts its detail's loop afresh.
 */
function poll(name, task) {
  clearTimeout(state.timers[name]);
  const generation = (state.generations[name] || 0) + 1;
  state.generations[name] = generation;
  const current = () => Console.signedIn() && state.generations[name] === generation;
  let wait = POLL_MS;
  const tick = async () => {
    if (!current()) return;
    try {
      await task();
      wait = POLL_MS;
      if (current()) Console.clearError("poll");
    } catch (error) {
      if (Console.databaseBusy(error)) {
        wait = Math.min(wait * 2, POLL_MAX_MS);
        if (current()) Console.showError(`${error.message} This page tries again in ${Math.round(wait / 1000)} s.`, { source: "poll" });
      } else {
        wait = POLL_MS;
        if (current()) Console.handleError(error, "poll");
      }
    }
    if (current()) state.timers[name] = setTimeout(tick, wait);
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
  const page = await Console.api("/api/v1/call-sessions?limit=50");
  if (!Console.signedIn()) return;
  const cutoff = Date.now() - HOUR_MS;
  renderList(page.items.filter((s) => startedAt(s) >= cutoff));
  $("updated").textContent = `Updated ${timeOf(new Date().toISOString())}`;
}

function createRow(id) {
  const item = Console.el("li");
  const button = Console.el("button", { type: "button", class: "call-row", "data-testid": "call-row", "data-session-id": id });
  const caller = Console.el("span", { class: "caller", "data-testid": "call-caller" });
  const badges = Console.el("span", { class: "state" });
  const match = Console.el("span", { class: "badge", "data-testid": "call-match" });
  const status = Console.el("span", { class: "badge", "data-testid": "call-status" });
  badges.append(match, " ", status);
  const meta = Console.el("span", { class: "meta", "data-testid": "call-meta" });
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
  row.caller.textContent = Console.maskPhone(session.caller_phone);
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
    detail = await Console.api(sessionPath(id));
  } catch (error) {
    if (error instanceof Console.ApiError && error.status === 404 && id === state.selectedId) {
      clearDetail();
      Console.showError("That call is no longer available to you.", { source: "action" });
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
  $("detail-title").textContent = `Call from ${Console.maskPhone(detail.caller_phone)}`;
  $("detail-caller").textContent = `${Console.maskPhone(detail.caller_phone)} · ${matchWords(detail)}`;
  $("detail-status").textContent = duration ? `${words} · ${duration}` : words;
  $("detail-started").textContent = timeOf(detail.call_started_at || detail.created_at);
  const campaign = $("detail-campaign");
  campaign.textContent = detail.campaign_name || shortId(detail.campaign_id);
  campaign.title = detail.campaign_id;

  $("detail-outcome").textContent = detail.call_outcome ? CALL_OUTCOME[detail.call_outcome] || detail.call_outcome : "Call in progress";
  $("detail-verstat").textContent = verstatWords(detail.caller_verstat);
  const voicemail = Console.safeUrl(detail.voicemail_url);
  const voicemailLink = $("voicemail-link");
  voicemailLink.hidden = !voicemail;
  $("voicemail-none").hidden = Boolean(voicemail);
  if (voicemail) voicemailLink.href = voicemail;
  else voicemailLink.removeAttribute("href");

  const recording = Console.safeUrl(detail.recording_url);
  const link = $("recording-link");
  link.hidden = !recording;
  $("recording-none").hidden = Boolean(recording);
  if (recording) link.href = recording;
  else link.removeAttribute("href");

  const recipient = detail.recipient;
  $("recipient").hidden = !recipient;
  $("link-form").hidden = Boolean(recipient);
  if (recipient) {
    $("recipient-name").textContent = Console.fullName(recipient) || "No name on file";
    $("recipient-code").textContent = recipient.redemption_code;
  }
  renderConditions(detail.conditions || [], detail.conditions_met || [], Boolean(recipient));
}

function createCondition(number) {
  const item = Console.el("li", { class: "condition", tabindex: "-1", "data-testid": `condition-${number}` });
  const check = Console.el("span", { class: "check", "aria-hidden": "true" });
  const text = Console.el("div");
  const name = Console.el("div", { class: "name", "data-testid": `condition-name-${number}` });
  const offer = Console.el("div", { class: "reward-offer" });
  text.append(name, offer);
  const button = Console.el("button", { type: "button", "data-testid": `mark-${number}` }, "Mark met");
  button.addEventListener("click", () => markCondition(number));
  const reward = Console.el("p", { class: "reward-state", "data-testid": `reward-state-${number}` });
  const how = Console.el("p", { class: "met-by", "data-testid": `met-by-${number}` });
  item.append(check, text, button, reward, how);
  return { item, check, name, offer, button, reward, how, busy: false };
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
    // crm_event and time_delay conditions meet themselves: an agent gets no button (a
    // manager's override goes through the API).
    const manual = !condition.trigger_type || condition.trigger_type === "call";
    view.button.hidden = !manual && !done;
    if (!view.busy) {
      view.button.textContent = done ? "Met" : "Mark met";
      view.button.disabled = Boolean(done) || !hasRecipient || !manual;
    }
    view.how.textContent = done ? metByWords(done) : automaticWords(condition);
    view.how.dataset.metBy = done ? done.met_by || "" : "";
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
  Console.announce(`Marking condition ${number}…`);
  try {
    const result = await Console.api(sessionPath(id, "/conditions"), { method: "POST", body: { condition_number: number } });
    const [words] = rewardWords({ ...result.condition, reward_status: result.reward.status, delivery_status: result.reward.delivery_status });
    Console.clearError("action");
    Console.announce(`Condition ${number} marked met. ${words}`);
  } catch (error) {
    Console.handleError(error, "action");
    Console.announce("");
  } finally {
    view.busy = false;
  }
  if (!Console.signedIn()) return;
  await refreshDetail().catch((error) => Console.handleError(error, "poll"));
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
    Console.showError("Enter the redemption code printed on the caller's mail piece.", { source: "action" });
    input.focus();
    return;
  }
  const button = event.submitter || $("link-form").querySelector("button");
  button.disabled = true;
  try {
    const detail = await Console.api(sessionPath(id, "/recipient"), { method: "POST", body: { redemption_code: code } });
    Console.clearError("action");
    input.value = "";
    if (id === state.selectedId) {
      state.detailSeq += 1;
      renderDetail(detail);
    }
    const name = Console.fullName(detail.recipient);
    Console.announce(name ? `Caller linked to ${name}.` : "Caller linked.");
    $("detail-title").focus();
  } catch (error) {
    Console.handleError(error, "action");
  } finally {
    button.disabled = false;
  }
}

// ---- signing in and out -------------------------------------------------------------------

function enterConsole() {
  $("console").hidden = false;
  Console.announce("Signed in. Showing calls from the last hour; the list refreshes every 2 seconds.");
  poll("list", refreshList);
  $("main").focus();
}

function leaveConsole() {
  stopPolling();
  clearDetail();
  state.rows.clear();
  $("call-list").replaceChildren();
  $("console").hidden = true;
}

function main() {
  $("link-form").addEventListener("submit", linkRecipient);
  Console.start({
    storageKey: "calltrack.agent.credentials",
    probe: "/api/v1/call-sessions?limit=1",
    offline: "Cannot reach calltrack. Check your network connection; the console keeps trying.",
    enter: enterConsole,
    leave: leaveConsole,
  });
}

// The shared library is one file every console page shares and the browser caches once; this
// script, the page's only one, loads it before anything else runs.
import("/console/common.js").then(main, () => {
  $("error").textContent = "The console could not load. Check your network connection and reload the page.";
  $("error").hidden = false;
});
