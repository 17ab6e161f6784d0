// calltrack manager console: campaigns, charts, numbers and calls through the JSON API
// under /api/v1. Every value is rendered with textContent or an attribute, never as HTML,
// because names, notes and codes are someone's input. Sign-in, API calls, error display,
// masking and formatting come from the shared console library, `Console`
// (/console/common.js), which this script loads first (see the end of the file).
"use strict";

const NOT_FOR_YOUR_ROLE =
  "This console is for campaign managers: admins, agency owners, company owners, or a client's API key. Your role is not one of them; call-center agents work from the agent console.";

const OUTCOMES = [
  { key: "answered", name: "Answered", words: "Answered" },
  { key: "voicemail", name: "Voicemail", words: "Left a voicemail" },
  { key: "missed", name: "Missed", words: "Missed by the business" },
  { key: "abandoned", name: "Abandoned", words: "Caller hung up first" },
  { key: "live", name: "Live", words: "In progress" },
];

const state = {
  campaign: null,
  callsQuery: null,
  callsCursor: null,
  campaignsCursor: null,
  renderSeq: 0,
};

const $ = (id) => document.getElementById(id);

// ---- formatting for people ------------------------------------------------------------------

/** 45 → "45 s", 65 → "1 min 05 s", 3720 → "1 h 02 min". */
function duration(seconds) {
  if (seconds == null || Number.isNaN(seconds)) return "—";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}

/** A bucket's day, named in UTC because the series' days are UTC days. */
function dayLabel(iso) {
  return new Date(iso).toLocaleDateString(undefined, { month: "short", day: "numeric", timeZone: "UTC" });
}

function dayTitle(iso) {
  return new Date(iso).toLocaleDateString(undefined, { weekday: "short", month: "short", day: "numeric", year: "numeric", timeZone: "UTC" });
}

/** Whole UTC days from the mail date to today; negative before the drop. */
function daysSince(date) {
  const mail = Date.parse(`${date}T00:00:00Z`);
  const today = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate());
  return Math.round((today - mail) / 86400000);
}

const STATUS_WORDS = { draft: "Draft", ready: "Ready", in_production: "In production", mailed: "Mailed", active: "Active", completed: "Completed" };

const DAYS = [["mon", "Mon"], ["tue", "Tue"], ["wed", "Wed"], ["thu", "Thu"], ["fri", "Fri"], ["sat", "Sat"], ["sun", "Sun"]];

function hoursWords(hours) {
  if (!hours) return "Always open";
  const weekly = hours.weekly || {};
  const days = DAYS.filter(([key]) => Array.isArray(weekly[key]) && weekly[key].length > 0).map(
    ([key, name]) => `${name} ${weekly[key].map((r) => `${r[0]}–${r[1]}`).join(", ")}`,
  );
  return `${hours.timezone || "UTC"}: ${days.length ? days.join("; ") : "closed every day"}`;
}

function fact(dl, term, value, testid) {
  const dd = Console.el("dd", testid ? { "data-testid": testid } : {}, value);
  dl.append(Console.el("dt", {}, term), dd);
  return dd;
}

const enc = encodeURIComponent;

// ---- routing --------------------------------------------------------------------------------

function route() {
  const parts = window.location.hash.replace(/^#\/?/, "").split("/").filter(Boolean);
  if (parts[0] === "campaigns" && parts[1]) {
    const tab = ["overview", "numbers", "calls"].includes(parts[2]) ? parts[2] : "overview";
    return { view: "campaign", id: decodeURIComponent(parts[1]), tab };
  }
  return { view: "campaigns" };
}

async function render() {
  if (!Console.signedIn()) return;
  const seq = ++state.renderSeq;
  const r = route();
  Console.clearError();
  $("campaigns-view").hidden = r.view !== "campaigns";
  $("campaign-view").hidden = r.view !== "campaign";
  try {
    if (r.view === "campaigns") await renderCampaigns(seq);
    else await renderCampaign(r, seq);
    $("updated").textContent = `Updated ${new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}`;
  } catch (error) {
    if (seq === state.renderSeq) Console.handleError(error);
  }
}

// ---- campaigns ------------------------------------------------------------------------------

async function renderCampaigns(seq, more = false) {
  const page = await Console.api(`/api/v1/campaigns${Console.query({ limit: 50, cursor: more ? state.campaignsCursor : null })}`);
  if (seq !== state.renderSeq) return;
  const list = $("campaign-list");
  if (!more) list.replaceChildren();
  for (const c of page.items) list.append(campaignCard(c));
  state.campaignsCursor = page.next_cursor;
  $("campaigns-more").hidden = !page.next_cursor;
  $("campaigns-empty").hidden = list.children.length > 0;
  if (!more) {
    document.title = "calltrack · Campaigns";
    $("campaigns-title").focus();
  }
}

function campaignCard(c) {
  const item = Console.el("li", { class: "card campaign-card", "data-testid": "campaign-card", "data-campaign-id": c.id });
  const title = Console.el("h3");
  title.append(Console.el("a", { href: `#/campaigns/${enc(c.id)}`, "data-testid": "campaign-link" }, c.name));
  const meta = [c.client_name, STATUS_WORDS[c.status] || c.status];
  if (c.mail_date) meta.push(`mail date ${Console.calendarDate(c.mail_date)}`);
  const dl = Console.el("dl", { class: "stats" });
  const stat = (term, value, testid) => {
    const box = Console.el("div");
    box.append(Console.el("dt", {}, term), Console.el("dd", { "data-testid": testid }, value));
    dl.append(box);
  };
  stat("Calls today", Console.num(c.calls_today), "calls-today");
  stat("Last 7 days", Console.num(c.calls_this_week), "calls-week");
  stat("Answer rate", Console.pct(c.answered, c.settled_calls), "answer-rate");
  stat("Match rate", Console.pct(c.matched, c.total_calls), "match-rate");
  stat("Conditions met", Console.num(c.conditions_met), "conditions-met");
  stat("Rewards delivered", Console.num(c.rewards_delivered), "rewards-delivered");
  item.append(title, Console.el("p", { class: "muted" }, meta.join(" · ")), dl);
  if (c.total_calls === 0) {
    item.append(
      Console.el("p", { class: "empty" }, c.active_numbers > 0 ? "No calls yet. They appear here as soon as people call the tracked number." : "No tracked number yet: open the campaign and buy one on the Numbers tab."),
    );
  }
  return item;
}

// ---- one campaign ---------------------------------------------------------------------------

async function renderCampaign(r, seq) {
  const campaign = await Console.api(`/api/v1/campaigns/${enc(r.id)}`);
  if (seq !== state.renderSeq) return;
  state.campaign = campaign;
  document.title = `calltrack · ${campaign.name}`;
  $("campaign-title").textContent = campaign.name;
  const facts = [campaign.client_name, STATUS_WORDS[campaign.status] || campaign.status];
  if (campaign.mail_date) {
    const days = daysSince(campaign.mail_date);
    const ago = days > 1 ? `${days} days ago` : days === 1 ? "yesterday" : days === 0 ? "today" : `in ${-days} days`;
    facts.push(`mail date ${Console.calendarDate(campaign.mail_date)} (${ago})`);
  } else {
    facts.push("no mail date set");
  }
  facts.push(campaign.active_numbers === 1 ? "1 active number" : `${Console.num(campaign.active_numbers)} active numbers`);
  $("campaign-facts").textContent = facts.join(" · ");
  for (const tab of ["overview", "numbers", "calls"]) {
    const link = $(`tab-${tab}`);
    link.href = `#/campaigns/${enc(campaign.id)}/${tab}`;
    if (tab === r.tab) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
    $(`panel-${tab}`).hidden = tab !== r.tab;
  }
  const mailOption = $("range").querySelector('option[value="mail"]');
  mailOption.disabled = !campaign.mail_date || daysSince(campaign.mail_date) < 0;
  if (mailOption.disabled && $("range").value === "mail") $("range").value = "30";
  if (r.tab === "overview") await renderOverview(campaign, seq);
  else if (r.tab === "numbers") await renderNumbers(campaign, seq);
  else await renderCalls(campaign, seq);
}

function utcMidnight(daysAgo) {
  const now = new Date();
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - daysAgo));
}

async function renderOverview(campaign, seq) {
  const id = enc(campaign.id);
  const choice = $("range").value;
  const from = choice === "mail" ? new Date(`${campaign.mail_date}T00:00:00Z`) : utcMidnight(Number(choice) - 1);
  const series = await Console.api(`/api/v1/campaigns/${id}/call-stats/series${Console.query({ bucket: "day", from: from.toISOString() })}`);
  const stats = await Console.api(`/api/v1/campaigns/${id}/call-stats${Console.query({ from: series.from, to: series.to })}`);
  if (seq !== state.renderSeq) return;
  renderTiles(stats);
  renderSeriesCharts(series.items);
  await renderDecay(campaign, seq);
}

function renderTiles(stats) {
  const settled = stats.answered + stats.missed + stats.voicemail + stats.abandoned;
  const met = Object.values(stats.conditions_met || {}).reduce((a, b) => a + b, 0);
  const tiles = $("tiles");
  tiles.replaceChildren();
  const tile = (term, value, note, testid) => {
    const box = Console.el("div", { class: "tile" });
    box.append(Console.el("dt", {}, term), Console.el("dd", { "data-testid": testid }, value));
    if (note) box.append(Console.el("dd", { class: "note" }, note));
    tiles.append(box);
  };
  tile("Calls", Console.num(stats.total_calls), `${Console.num(stats.unique_callers)} different callers`, "tile-calls");
  tile("Answer rate", Console.pct(stats.answered, settled), `${Console.num(stats.answered)} of ${Console.num(settled)} finished calls`, "tile-answer-rate");
  tile("Match rate", Console.pct(stats.matched, stats.total_calls), `${Console.num(stats.matched)} callers were recipients`, "tile-match-rate");
  tile("Average talk time", duration(stats.avg_talk_seconds), "of answered calls", "tile-talk");
  tile("Conditions met", Console.num(met), "", "tile-conditions");
  tile("Rewards delivered", Console.num(stats.rewards_delivered), stats.rewards_failed ? `${Console.num(stats.rewards_failed)} failed` : "", "tile-rewards");
}

function renderSeriesCharts(items) {
  const labels = items.map((p) => dayLabel(p.start));
  const titles = items.map((p) => dayTitle(p.start));
  const total = items.reduce((a, p) => a + p.total_calls, 0);
  const legend = $("legend-calls");
  legend.replaceChildren();
  if (total === 0) {
    Charts.empty($("chart-calls"), "No calls in this period. Choose a longer period, or check on the Numbers tab that the campaign has an active tracked number.");
    Charts.empty($("chart-match"), "No calls, so no match rate yet.");
  } else {
    Charts.stacked($("chart-calls"), {
      labels,
      titles,
      label: `Calls per day by outcome: ${Console.num(total)} calls in ${items.length} days`,
      series: OUTCOMES.map((o) => ({ key: o.key, name: o.name, values: items.map((p) => p[o.key]) })),
    });
    for (const o of OUTCOMES) {
      const sum = items.reduce((a, p) => a + p[o.key], 0);
      const li = Console.el("li", { "data-testid": `legend-${o.key}` });
      li.append(Console.el("span", { class: `swatch s-${o.key}`, "aria-hidden": "true" }), `${o.name} ${Console.num(sum)}`);
      legend.append(li);
    }
    Charts.line($("chart-match"), {
      labels,
      titles,
      label: "Share of each day's calls matched to a recipient",
      values: items.map((p) => (p.total_calls > 0 ? p.matched / p.total_calls : null)),
      format: (v) => Console.pct(v, 1),
    });
  }
  const met = items.reduce((a, p) => a + p.conditions_met, 0);
  if (met === 0) {
    Charts.empty($("chart-conditions"), "No conditions met in this period. Agents mark them in the agent console while they talk to callers.");
  } else {
    Charts.bars($("chart-conditions"), { labels, titles, values: items.map((p) => p.conditions_met), cls: "conditions", unit: "Conditions met", label: `Conditions met per day: ${Console.num(met)} in all` });
  }
  const sum = (k) => items.reduce((a, p) => a + p[k], 0);
  const provisioned = sum("rewards_provisioned");
  if (met === 0) {
    Charts.empty($("chart-funnel"), "No rewards yet: a reward is provisioned when an agent marks a rewarded condition met.");
  } else {
    const steps = [
      { key: "met", name: "Conditions met", value: met },
      { key: "provisioned", name: "Provisioned", value: provisioned },
      { key: "sent", name: "Sent", value: sum("rewards_sent") },
      { key: "delivered", name: "Delivered", value: sum("rewards_delivered") },
      { key: "failed", name: "Failed", value: sum("rewards_failed") },
    ].map((s) => ({ ...s, text: s.key === "met" ? Console.num(s.value) : `${Console.num(s.value)} (${Console.pct(s.value, s.key === "provisioned" ? met : provisioned)})` }));
    Charts.funnel($("chart-funnel"), { steps, label: steps.map((s) => `${s.name} ${s.value}`).join(", ") });
  }
}

async function renderDecay(campaign, seq) {
  const box = $("chart-decay");
  if (!campaign.mail_date) {
    Charts.empty(box, "Set the campaign's mail date in the platform to see how calls fall off after the drop.");
    return;
  }
  const since = daysSince(campaign.mail_date);
  if (since < 0) {
    Charts.empty(box, `The mail date is ${Console.calendarDate(campaign.mail_date)}: this chart fills in after the drop.`);
    return;
  }
  const from = new Date(`${campaign.mail_date}T00:00:00Z`);
  const to = new Date(from.getTime() + Math.min(since + 1, 60) * 86400000);
  const series = await Console.api(`/api/v1/campaigns/${enc(campaign.id)}/call-stats/series${Console.query({ bucket: "day", from: from.toISOString(), to: to.toISOString() })}`);
  if (seq !== state.renderSeq) return;
  const items = series.items;
  const total = items.reduce((a, p) => a + p.total_calls, 0);
  $("decay-caption").textContent = `Calls by days since the mail date (${Console.calendarDate(campaign.mail_date)})`;
  if (total === 0) {
    Charts.empty(box, "No calls since the mail date yet. Calls usually start a few days after the drop.");
    return;
  }
  Charts.bars(box, {
    labels: items.map((_, i) => `Day ${i}`),
    titles: items.map((p, i) => `Day ${i} (${dayTitle(p.start)})`),
    values: items.map((p) => p.total_calls),
    cls: "decay",
    unit: "Calls",
    wide: true,
    label: `Calls on each day after the mail date: ${Console.num(total)} in the first ${items.length} days`,
  });
}

// ---- numbers --------------------------------------------------------------------------------

async function renderNumbers(campaign, seq) {
  const page = await Console.api(`/api/v1/campaigns/${enc(campaign.id)}/tracked-numbers`);
  if (seq !== state.renderSeq) return;
  const list = $("number-list");
  list.replaceChildren(...page.items.map(numberItem));
  $("numbers-empty").hidden = page.items.length > 0;
}

function flowFacts(dl, n) {
  dl.replaceChildren();
  fact(dl, "Forwards to", Console.phone(n.forward_to_number), "number-forward");
  fact(dl, "Whisper", n.whisper || "None", "number-whisper");
  fact(dl, "Screening", n.whisper ? (n.require_keypress ? "The business presses a key to take the call" : "Whisper only, no key press") : "Off (needs a whisper)", "number-screening");
  fact(dl, "Voicemail", n.voicemail ? (n.voicemail_greeting ? `On: “${n.voicemail_greeting}”` : "On, with the default greeting") : "Off", "number-voicemail");
  fact(dl, "Business hours", hoursWords(n.business_hours), "number-hours");
}

function numberItem(n) {
  const item = Console.el("li", { class: "number", "data-testid": "number", "data-phone": n.phone_number, "data-number-id": n.id });
  const head = Console.el("div", { class: "number-head" });
  const [standing, tone] = n.released_at ? ["Released", "ended"] : n.is_active ? ["Active", "live"] : ["Switched off", "missed"];
  head.append(Console.el("strong", { class: "phone" }, Console.phone(n.phone_number)), " ", Console.el("span", { class: `badge ${tone}`, "data-testid": "number-state" }, standing));
  const dl = Console.el("dl", { class: "facts" });
  flowFacts(dl, n);
  item.append(head, dl);
  if (n.released_at) {
    item.append(Console.el("p", { class: "muted" }, `Released ${Console.whenLocal(n.released_at)}. Calls to it hear that it is no longer in service.`));
    return item;
  }
  const actions = Console.el("div", { class: "actions" });
  const edit = Console.el("button", { type: "button", "data-testid": "edit-number", "aria-expanded": "false" }, "Edit settings");
  const release = Console.el("button", { type: "button", class: "danger", "data-testid": "release-number" }, "Release number…");
  actions.append(edit, release);
  const form = editForm(n, item, dl);
  const confirm = releaseConfirm(n, release);
  edit.addEventListener("click", () => {
    form.hidden = !form.hidden;
    edit.setAttribute("aria-expanded", String(!form.hidden));
    if (!form.hidden) form.querySelector("input").focus();
  });
  release.addEventListener("click", () => {
    confirm.hidden = false;
    confirm.querySelector("button").focus();
  });
  item.append(actions, form, confirm);
  return item;
}

function field(form, label, input, hint) {
  const id = `f-${Math.random().toString(36).slice(2)}`;
  input.id = id;
  const wrap = Console.el("div", { class: "field" });
  const l = Console.el("label", { for: id }, label);
  if (input.type === "checkbox") {
    l.className = "choice";
    l.prepend(input, " ");
    wrap.append(l);
  } else {
    wrap.append(l, input);
  }
  if (hint) wrap.append(Console.el("p", { class: "hint" }, hint));
  form.append(wrap);
  return input;
}

function editForm(n, item, dl) {
  const form = Console.el("form", { class: "grid-form edit-form", "data-testid": "edit-form", novalidate: "" });
  form.hidden = true;
  const forward = field(form, "Forward calls to", Console.el("input", { type: "tel", autocomplete: "off", "data-testid": "edit-forward" }));
  forward.value = n.forward_to_number;
  const whisper = field(form, "Whisper", Console.el("input", { autocomplete: "off", maxlength: "500", "data-testid": "edit-whisper" }), "Spoken to the business when it picks up. Leave empty for none.");
  whisper.value = n.whisper || "";
  const keypress = field(form, "The business must press a key to take the call (with a whisper)", Console.el("input", { type: "checkbox", "data-testid": "edit-keypress" }));
  // Screening is on by default once a whisper is set, so that is what a number without one
  // offers.
  keypress.checked = n.whisper ? n.require_keypress : true;
  const voicemail = field(form, "Take a voicemail when the business does not answer", Console.el("input", { type: "checkbox", "data-testid": "edit-voicemail" }));
  voicemail.checked = n.voicemail;
  const greeting = field(form, "Voicemail greeting", Console.el("input", { autocomplete: "off", maxlength: "500", "data-testid": "edit-greeting" }), "Leave empty for the default greeting.");
  greeting.value = n.voicemail_greeting || "";
  const hours = field(form, "Business hours (JSON)", Console.el("textarea", { rows: "3", spellcheck: "false", "data-testid": "edit-hours", placeholder: '{"timezone": "America/Chicago", "weekly": {"mon": [["08:00", "17:00"]]}}' }), "Outside these hours calls go straight to voicemail. Leave empty to take calls at any time.");
  hours.value = n.business_hours ? JSON.stringify(n.business_hours) : "";
  const active = field(form, "Taking calls", Console.el("input", { type: "checkbox", "data-testid": "edit-active" }));
  active.checked = n.is_active;
  const actions = Console.el("div", { class: "actions" });
  const save = Console.el("button", { type: "submit", class: "primary", "data-testid": "save-number" }, "Save");
  const cancel = Console.el("button", { type: "button" }, "Cancel");
  actions.append(save, cancel);
  form.append(actions);
  cancel.addEventListener("click", () => {
    form.hidden = true;
    item.querySelector('[data-testid="edit-number"]').setAttribute("aria-expanded", "false");
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {
      whisper: whisper.value.trim() || null,
      voicemail: voicemail.checked,
      voicemail_greeting: greeting.value.trim() || null,
    };
    // The key press only means something with a whisper.
    if (body.whisper) body.require_keypress = keypress.checked;
    // Re-pointing goes to Twilio (the fallback URL carries the number), so only on a change.
    if (forward.value.trim() !== n.forward_to_number) body.forward_to_number = forward.value.trim();
    if (active.checked !== n.is_active) body.is_active = active.checked;
    const rawHours = hours.value.trim();
    try {
      body.business_hours = rawHours ? JSON.parse(rawHours) : null;
    } catch {
      Console.showError('Business hours must be JSON like {"timezone": "America/Chicago", "weekly": {"mon": [["08:00", "17:00"]]}}.');
      hours.focus();
      return;
    }
    save.disabled = true;
    Console.announce(`Saving ${Console.phone(n.phone_number)}…`);
    try {
      const updated = await Console.api(`/api/v1/tracked-numbers/${enc(n.id)}`, { method: "PATCH", body });
      Console.clearError();
      const fresh = numberItem(updated);
      item.replaceWith(fresh);
      Console.announce(`Saved the settings of ${Console.phone(updated.phone_number)}.`);
      fresh.querySelector('[data-testid="edit-number"]').focus();
    } catch (error) {
      Console.announce("");
      Console.handleError(error);
      save.disabled = false;
    }
  });
  return form;
}

function releaseConfirm(n, opener) {
  const box = Console.el("div", { class: "confirm", role: "group", "aria-label": `Release ${Console.phone(n.phone_number)}`, "data-testid": "release-confirm" });
  box.hidden = true;
  box.append(Console.el("p", {}, `Release ${Console.phone(n.phone_number)}? Twilio takes the number back and calls to it will hear that it is no longer in service. This cannot be undone.`));
  const yes = Console.el("button", { type: "button", class: "danger", "data-testid": "confirm-release" }, "Yes, release it");
  const no = Console.el("button", { type: "button", "data-testid": "cancel-release" }, "Keep the number");
  box.append(yes, " ", no);
  no.addEventListener("click", () => {
    box.hidden = true;
    opener.focus();
  });
  yes.addEventListener("click", async () => {
    yes.disabled = true;
    Console.announce(`Releasing ${Console.phone(n.phone_number)}…`);
    try {
      await Console.api(`/api/v1/tracked-numbers/${enc(n.id)}`, { method: "DELETE" });
      Console.clearError();
      Console.announce(`Released ${Console.phone(n.phone_number)}.`);
      await render();
    } catch (error) {
      Console.announce("");
      Console.handleError(error);
      yes.disabled = false;
    }
  });
  return box;
}

async function buyNumber(event) {
  event.preventDefault();
  const campaign = state.campaign;
  if (!campaign) return;
  const area = $("buy-area").value.trim();
  const forward = $("buy-forward").value.trim();
  if (!/^\d{3}$/.test(area)) {
    Console.showError("Enter a three-digit US area code, such as 415.");
    $("buy-area").focus();
    return;
  }
  if (!forward) {
    Console.showError("Enter the number calls should be forwarded to: the business's own phone.");
    $("buy-forward").focus();
    return;
  }
  const body = { area_code: area, forward_to_number: forward };
  const whisper = $("buy-whisper").value.trim();
  if (whisper) body.whisper = whisper;
  const submit = $("buy-form").querySelector("button[type=submit]");
  submit.disabled = true;
  Console.announce(`Buying a number in area code ${area} at Twilio…`);
  try {
    const bought = await Console.api(`/api/v1/campaigns/${enc(campaign.id)}/tracked-numbers`, { method: "POST", body });
    Console.clearError();
    $("buy-form").reset();
    Console.announce(`Bought ${Console.phone(bought.phone_number)}. It forwards to ${Console.phone(bought.forward_to_number)}.`);
    await renderNumbers(campaign, state.renderSeq);
  } catch (error) {
    Console.announce("");
    Console.handleError(error);
  } finally {
    submit.disabled = false;
  }
}

// ---- calls ----------------------------------------------------------------------------------

/** The filters as API query parameters; dates are the viewer's local days. */
function callFilters() {
  const outcome = $("filter-outcome").value;
  const match = $("filter-match").value;
  const from = $("filter-from").value;
  const to = $("filter-to").value;
  const localMidnight = (date, plusDays = 0) => {
    const [y, m, d] = date.split("-").map(Number);
    return new Date(y, m - 1, d + plusDays).toISOString();
  };
  return {
    call_outcome: outcome || null,
    match_status: match || null,
    from: from ? localMidnight(from) : null,
    to: to ? localMidnight(to, 1) : null,
  };
}

async function renderCalls(campaign, seq, more = false) {
  if (!more) {
    state.callsQuery = { campaign_id: campaign.id, ...callFilters() };
    state.callsCursor = null;
  }
  const page = await Console.api(`/api/v1/call-sessions${Console.query({ ...state.callsQuery, limit: 50, cursor: state.callsCursor })}`);
  if (seq !== state.renderSeq) return;
  const body = $("calls-body");
  if (!more) body.replaceChildren();
  for (const s of page.items) body.append(callRow(s));
  state.callsCursor = page.next_cursor;
  $("calls-more").hidden = !page.next_cursor;
  const filtered = Object.entries(state.callsQuery).some(([k, v]) => k !== "campaign_id" && v);
  const emptyBox = $("calls-empty");
  emptyBox.hidden = body.children.length > 0;
  emptyBox.textContent = filtered ? "No calls match these filters. Widen the dates or choose “Any” outcome." : "No calls yet. They appear here as soon as people call the campaign's tracked number.";
  $("calls-table").hidden = body.children.length === 0;
  if (!more) await renderUnmatched(campaign, seq);
}

function outcomeWords(s) {
  const o = OUTCOMES.find((x) => x.key === (s.call_outcome || "live"));
  return o ? o.words : s.call_outcome;
}

function callRow(s) {
  const row = Console.el("tr", { "data-testid": "call-row", "data-session-id": s.id });
  row.append(Console.el("td", {}, Console.whenLocal(s.call_started_at || s.created_at)));
  row.append(Console.el("td", { class: "num" }, Console.maskPhone(s.caller_phone)));
  const outcome = Console.el("td");
  outcome.append(Console.el("span", { class: `badge o-${s.call_outcome || "live"}` }, outcomeWords(s)));
  row.append(outcome);
  row.append(Console.el("td", {}, s.match_status === "matched" ? "Matched" : "Not matched"));
  const talk = s.talk_seconds != null ? `${duration(s.talk_seconds)} talk` : s.call_duration_seconds != null ? duration(s.call_duration_seconds) : "—";
  row.append(Console.el("td", { class: "num" }, talk));
  const listen = Console.el("td", { class: "links" });
  const recording = Console.safeUrl(s.recording_url);
  const voicemail = Console.safeUrl(s.voicemail_url);
  if (recording) listen.append(Console.el("a", { href: recording, target: "_blank", rel: "noopener noreferrer", "data-testid": "recording-link" }, "Recording"));
  if (voicemail) listen.append(Console.el("a", { href: voicemail, target: "_blank", rel: "noopener noreferrer", "data-testid": "voicemail-link" }, "Voicemail"));
  if (!recording && !voicemail) listen.append(Console.el("span", { class: "muted" }, "—"));
  row.append(listen);
  return row;
}

async function renderUnmatched(campaign, seq) {
  const page = await Console.api(`/api/v1/call-sessions${Console.query({ campaign_id: campaign.id, match_status: "unmatched", limit: 20 })}`);
  if (seq !== state.renderSeq) return;
  const list = $("unmatched-list");
  list.replaceChildren(...page.items.map(unmatchedItem));
  $("unmatched-empty").hidden = page.items.length > 0;
}

function unmatchedItem(s) {
  const item = Console.el("li", { class: "unmatched", "data-testid": "unmatched-call", "data-session-id": s.id });
  const text = `${Console.maskPhone(s.caller_phone)} · ${Console.whenLocal(s.call_started_at || s.created_at)} · ${outcomeWords(s)}`;
  item.append(Console.el("span", { class: "what" }, text));
  const form = Console.el("form", { class: "inline", novalidate: "" });
  const input = Console.el("input", { autocomplete: "off", spellcheck: "false", "aria-label": `Redemption code for the call from ${Console.maskPhone(s.caller_phone)}`, placeholder: "Redemption code", "data-testid": "link-code" });
  const button = Console.el("button", { type: "submit", "data-testid": "link-submit" }, "Link caller");
  form.append(input, button);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const code = input.value.trim();
    if (!code) {
      Console.showError("Enter the redemption code printed on the caller's mail piece.");
      input.focus();
      return;
    }
    button.disabled = true;
    try {
      const detail = await Console.api(`/api/v1/call-sessions/${enc(s.id)}/recipient`, { method: "POST", body: { redemption_code: code } });
      Console.clearError();
      const name = Console.fullName(detail.recipient);
      Console.announce(name ? `Caller linked to ${name}.` : "Caller linked.");
      await renderCalls(state.campaign, state.renderSeq);
      $("unmatched-title").focus();
    } catch (error) {
      Console.handleError(error);
      button.disabled = false;
    }
  });
  item.append(form);
  return item;
}

/**
 * The export is fetched with the signed-in credentials (a plain link could not carry them)
 * and handed to the browser as a file.
 */
async function downloadCsv() {
  const campaign = state.campaign;
  if (!campaign) return;
  const button = $("download-csv");
  button.disabled = true;
  Console.announce("Preparing the CSV…");
  try {
    const path = `/api/v1/campaigns/${enc(campaign.id)}/call-sessions.csv${Console.query(callFilters())}`;
    const response = await Console.send(path, { accept: "text/csv" });
    const blob = await response.blob();
    const name = /filename="([^"]+)"/.exec(response.headers.get("content-disposition") || "");
    const link = Console.el("a", { href: URL.createObjectURL(blob), download: name ? name[1] : "call-sessions.csv", hidden: "" });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 60000);
    Console.clearError();
    Console.announce("CSV downloaded.");
  } catch (error) {
    Console.announce("");
    Console.handleError(error);
  } finally {
    button.disabled = false;
  }
}

// ---- signing in and out ---------------------------------------------------------------------

function enterConsole() {
  Console.announce("Signed in.");
  render();
}

function leaveConsole() {
  state.campaign = null;
  state.renderSeq += 1;
  $("campaigns-view").hidden = true;
  $("campaign-view").hidden = true;
  $("campaign-list").replaceChildren();
}

function main() {
  $("buy-form").addEventListener("submit", buyNumber);
  $("filter-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if (state.campaign) renderCalls(state.campaign, ++state.renderSeq).catch(Console.handleError);
  });
  $("download-csv").addEventListener("click", downloadCsv);
  $("calls-more").addEventListener("click", () => {
    if (state.campaign) renderCalls(state.campaign, state.renderSeq, true).catch(Console.handleError);
  });
  $("campaigns-more").addEventListener("click", () => renderCampaigns(state.renderSeq, true).catch(Console.handleError));
  $("range").addEventListener("change", () => {
    if (state.campaign) renderOverview(state.campaign, ++state.renderSeq).catch(Console.handleError);
  });
  window.addEventListener("hashchange", render);
  Console.start({
    storageKey: "calltrack.manage.credentials",
    probe: "/api/v1/campaigns?limit=1",
    home: "#/",
    note: "For admins, agency owners, company owners, and a client's API key.",
    forbidden: { message: NOT_FOR_YOUR_ROLE, link: { href: "/agent", text: "Open the agent console." } },
    enter: enterConsole,
    leave: leaveConsole,
  });
}

// The shared library is one file every console page shares and the browser caches once; this
// script loads it before anything of its own runs.
import("/console/common.js").then(main, () => {
  $("error").textContent = "The console could not load. Check your network connection and reload the page.";
  $("error").hidden = false;
});
