// calltrack manager console: campaigns, charts, numbers and calls, and setting a campaign up
// (recipients, conditions and rewards, gift-card pools) through the JSON API under /api/v1. Every value is rendered with textContent or an attribute, never as HTML,
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
  recipientsQuery: "",
  recipientsCursor: null,
  /** The campaign's conditions as last shown, for the next free number. */
  conditions: [],
  /** The pools a reward of the open campaign may come from. */
  campaignPools: [],
  /** Client id → name, from the campaigns the caller can see; offered in the new forms. */
  clients: new Map(),
  clientsLoaded: false,
  /** The API asked which client a new row is for: from then on the choice is always shown. */
  clientAsked: false,
  /** An element to focus once the next render is done (after creating a campaign). */
  focusAfter: null,
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

const TABS = ["overview", "numbers", "calls", "recipients", "conditions", "settings"];

function route() {
  const parts = window.location.hash.replace(/^#\/?/, "").split("/").filter(Boolean);
  if (parts[0] === "gift-cards") return { view: "pools" };
  if (parts[0] === "webhooks") return { view: "webhooks" };
  if (parts[0] === "campaigns" && parts[1]) {
    const tab = TABS.includes(parts[2]) ? parts[2] : "overview";
    return { view: "campaign", id: decodeURIComponent(parts[1]), tab };
  }
  return { view: "campaigns" };
}

function markNav(view) {
  const current = view === "pools" ? "nav-pools" : view === "webhooks" ? "nav-webhooks" : "nav-campaigns";
  for (const id of ["nav-campaigns", "nav-pools", "nav-webhooks"]) {
    if (id === current) $(id).setAttribute("aria-current", "page");
    else $(id).removeAttribute("aria-current");
  }
}

async function render() {
  if (!Console.signedIn()) return;
  const seq = ++state.renderSeq;
  const r = route();
  Console.clearError();
  $("campaigns-view").hidden = r.view !== "campaigns";
  $("campaign-view").hidden = r.view !== "campaign";
  $("pools-view").hidden = r.view !== "pools";
  $("webhooks-view").hidden = r.view !== "webhooks";
  markNav(r.view);
  try {
    if (r.view === "campaigns") await renderCampaigns(seq);
    else if (r.view === "pools") await renderPools(seq);
    else if (r.view === "webhooks") await renderWebhooks(seq);
    else await renderCampaign(r, seq);
    $("updated").textContent = `Updated ${new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}`;
  } catch (error) {
    if (seq === state.renderSeq) Console.handleError(error);
  }
  // Even when a part of the view failed, focus goes where the last action said.
  if (state.focusAfter && seq === state.renderSeq) {
    $(state.focusAfter).focus();
    state.focusAfter = null;
  }
}

// ---- campaigns ------------------------------------------------------------------------------

async function renderCampaigns(seq, more = false) {
  const page = await Console.api(`/api/v1/campaigns${Console.query({ limit: 50, cursor: more ? state.campaignsCursor : null })}`);
  if (seq !== state.renderSeq) return;
  const list = $("campaign-list");
  if (!more) list.replaceChildren();
  for (const c of page.items) list.append(campaignCard(c));
  rememberClients(page.items);
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
  if (!state.campaign || state.campaign.id !== campaign.id) forgetCampaignSetup();
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
  for (const tab of TABS) {
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
  else if (r.tab === "calls") await renderCalls(campaign, seq);
  else if (r.tab === "recipients") await renderRecipients(campaign, seq);
  else if (r.tab === "conditions") await renderConditions(campaign, seq);
  else fillSettings(campaign);
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
  if (hint) {
    wrap.append(Console.el("p", { class: "hint", id: `${id}-hint` }, hint));
    input.setAttribute("aria-describedby", `${id}-hint`);
  }
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

// ---- setting up: shared pieces --------------------------------------------------------------

/** The largest CSV files the API reads at once. */
const MAX_RECIPIENTS_BYTES = 50 * 1024 * 1024;
const MAX_CARDS_BYTES = 10 * 1024 * 1024;
/** Rejected lines listed on the page; the rest are counted. */
const REJECTED_SHOWN = 100;
/** A pool is low below this many cards, or below LOW_SHARE of all its cards. */
const LOW_CARDS = 5;
const LOW_SHARE = 0.1;
const SMS_PLACEHOLDERS = "{first_name}, {brand}, {value}, {card_code}, {pin_code}";
const DEFAULT_SMS = "Hi {first_name}, thank you for your call! Your {brand} gift card worth ${value}: {card_code}, PIN {pin_code}";

/** `3, "line", "lines"` → "3 lines". */
function plural(n, one, many) {
  return `${Console.num(n)} ${n === 1 ? one : many}`;
}

/** 1536 → "1.5 KB". */
function bytes(n) {
  if (n < 1024) return `${n} bytes`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/** "25.00" → "$25.00". */
function money(amount) {
  return amount == null ? "" : `$${amount}`;
}

/** "$25.00 Amazon", as much of it as the pool has (the platform's pools may lack either). */
function cardKind(p) {
  return [money(p.value_amount), p.brand_name].filter(Boolean).join(" ") || "Gift";
}

function statusOptions(select, selected) {
  const options = Object.entries(STATUS_WORDS).map(([value, words]) => Console.el("option", { value }, words));
  // A status of the platform's that this list does not name stays choosable as it is.
  if (selected && !STATUS_WORDS[selected]) options.push(Console.el("option", { value: selected }, selected));
  select.replaceChildren(...options);
  select.value = selected || "draft";
}

/** Shows `text` in a form's own error line (a live alert beside the fields). */
function formError(id, text) {
  const box = $(id);
  box.textContent = text;
  box.hidden = false;
}

function clearFormError(id) {
  $(id).textContent = "";
  $(id).hidden = true;
}

/**
 * A refused write: its words beside the form, except an expired sign-in or a role the
 * console is not for, which the page as a whole handles.
 */
function formFailure(box, error) {
  if (!(error instanceof Console.ApiError) || error.status === 401 || error.status === 403) {
    Console.handleError(error);
    return;
  }
  box.textContent = error.message;
  box.hidden = false;
}

// ---- clients: who a new campaign or pool is for -------------------------------------------

function rememberClients(campaigns) {
  for (const c of campaigns) state.clients.set(c.client_id, c.client_name);
}

/** The clients of the caller's campaigns (one page of them is enough to offer a choice). */
async function loadClients() {
  if (state.clientsLoaded) return;
  const page = await Console.api(`/api/v1/campaigns${Console.query({ limit: 200 })}`);
  rememberClients(page.items);
  state.clientsLoaded = true;
}

/**
 * Shows the client choice of the form `prefix` ("new" or "pool") when it is needed: the
 * caller's campaigns belong to more than one client, or the API asked for one (`force`).
 * Otherwise the field stays hidden and the API picks the caller's only client.
 */
function offerClients(prefix, force = false) {
  const field = $(`${prefix}-client-field`);
  if (!force && !state.clientAsked && state.clients.size < 2) {
    field.hidden = true;
    return false;
  }
  const select = $(`${prefix}-client`);
  const keep = select.value;
  const options = [...state.clients].map(([id, name]) => Console.el("option", { value: id }, name));
  options.push(Console.el("option", { value: "other" }, "Another client (type its id)"));
  select.replaceChildren(...options);
  if (keep && [...select.options].some((o) => o.value === keep)) select.value = keep;
  field.hidden = false;
  syncClientId(prefix);
  return true;
}

function syncClientId(prefix) {
  const other = $(`${prefix}-client`).value === "other";
  $(`${prefix}-client-id`).hidden = !other;
  $(`${prefix}-client-id`).labels[0].hidden = !other;
}

/** The chosen client id, or undefined to let the API choose. */
function chosenClient(prefix) {
  if ($(`${prefix}-client-field`).hidden) return undefined;
  const value = $(`${prefix}-client`).value === "other" ? $(`${prefix}-client-id`).value.trim() : $(`${prefix}-client`).value;
  return value || undefined;
}

/** Whether a refusal is the API asking which client the new row is for. */
function asksForClient(error) {
  return error instanceof Console.ApiError && error.status === 422 && (/client/i.test(error.code || "") || /client/i.test(error.message));
}

/** After the API asked for a client: the choice is shown and focused. */
function revealClients(prefix) {
  state.clientAsked = true;
  offerClients(prefix, true);
  const select = $(`${prefix}-client`);
  if (select.value === "other") $(`${prefix}-client-id`).focus();
  else select.focus();
}

// ---- uploads with progress ------------------------------------------------------------------

/**
 * POSTs `file` as text/csv to `path` with the signed-in credentials; `onProgress(loaded,
 * total)` follows the upload (fetch cannot report it, XMLHttpRequest can). Resolves with the
 * JSON answer; rejects with a `Console.ApiError` in words.
 */
function uploadCsv(path, file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    for (const [name, value] of Object.entries(Console.authHeaders())) xhr.setRequestHeader(name, value);
    xhr.setRequestHeader("Content-Type", "text/csv");
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress(event.loaded, event.total);
    };
    xhr.onload = () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = null;
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else reject(uploadRefusal(xhr.status, body));
    };
    xhr.onerror = () => reject(new Console.ApiError("Cannot reach calltrack. Check your network connection and try again.", 0));
    xhr.send(file);
  });
}

function uploadRefusal(status, body) {
  const error = body && body.error;
  const fallback =
    status === 413 ? "The file is larger than calltrack takes at once. Split it and upload the parts one after another." : "calltrack could not answer this request. Try again in a moment.";
  const message = error && error.message ? Console.sentence(error.message) : fallback;
  return new Console.ApiError(message, status, error && typeof error.code === "string" ? error.code : null);
}

/** The file chosen in `input`, checked against `limit` bytes; null (with the reason shown) when unfit. */
function chosenFile(input, limit, errorText) {
  const file = input.files && input.files[0];
  if (!file) {
    Console.showError(errorText);
    input.focus();
    return null;
  }
  if (file.size > limit) {
    Console.showError(`${file.name} is ${bytes(file.size)}; calltrack takes up to ${bytes(limit)} at once. Split it and upload the parts one after another.`);
    input.focus();
    return null;
  }
  return file;
}

/** The pieces of one upload's progress bar and result. */
function showProgress(parts, loaded, total) {
  parts.progressBox.hidden = false;
  const share = total > 0 ? Math.round((loaded / total) * 100) : 0;
  parts.progress.value = share;
  parts.progressText.textContent = loaded >= total ? `Sent ${bytes(total)}; calltrack is reading it…` : `${share}% of ${bytes(total)}`;
}

/**
 * Fills an upload's result: the summary, then each rejected line with its reason. `total`
 * counts every rejected line, where the API lists only the first ones.
 */
function showResult(parts, summary, rejected, total = (rejected || []).length) {
  parts.progressBox.hidden = true;
  parts.summary.textContent = summary;
  const shown = (rejected || []).slice(0, REJECTED_SHOWN);
  parts.rejected.replaceChildren(
    ...shown.map((r) => Console.el("li", { "data-testid": "rejected-line", "data-line": String(r.line) }, `Line ${r.line}: ${Console.sentence(r.reason)}`)),
  );
  parts.rejected.hidden = shown.length === 0;
  const rest = total - shown.length;
  parts.more.hidden = rest <= 0;
  parts.more.textContent = rest > 0 ? `…and ${plural(rest, "more rejected line", "more rejected lines")} not listed here.` : "";
  parts.box.hidden = false;
  parts.summary.focus();
}

// ---- new campaign ---------------------------------------------------------------------------

async function toggleNewCampaign(open, { quiet = false } = {}) {
  $("new-campaign-card").hidden = !open;
  $("new-campaign").setAttribute("aria-expanded", String(open));
  clearFormError("new-campaign-error");
  if (!open) {
    $("new-campaign-form").reset();
    if (!quiet) $("new-campaign").focus();
    return;
  }
  statusOptions($("new-status"), "draft");
  offerClients("new");
  $("new-name").focus();
  try {
    await loadClients();
    offerClients("new");
  } catch {
    // Without the list the API still picks the only client, or asks.
  }
}

async function createCampaign(event) {
  event.preventDefault();
  clearFormError("new-campaign-error");
  const name = $("new-name").value.trim();
  if (!name) {
    formError("new-campaign-error", "Give the campaign a name.");
    $("new-name").focus();
    return;
  }
  const body = { name, status: $("new-status").value };
  if ($("new-mail-date").value) body.mail_date = $("new-mail-date").value;
  const client = chosenClient("new");
  if (client) body.client_id = client;
  const submit = $("new-campaign-form").querySelector("button[type=submit]");
  submit.disabled = true;
  Console.announce("Creating the campaign…");
  try {
    const created = await Console.api("/api/v1/campaigns", { method: "POST", body });
    state.clients.set(created.client_id, created.client_name);
    toggleNewCampaign(false, { quiet: true });
    Console.announce(`Created the campaign “${created.name}”. Next: upload its recipients.`);
    state.focusAfter = "campaign-title";
    window.location.hash = `#/campaigns/${enc(created.id)}/recipients`;
  } catch (error) {
    Console.announce("");
    formFailure($("new-campaign-error"), error);
    if (asksForClient(error)) revealClients("new");
  } finally {
    submit.disabled = false;
  }
}

// ---- campaign settings ----------------------------------------------------------------------

function fillSettings(campaign) {
  clearFormError("settings-error");
  $("settings-name").value = campaign.name;
  $("settings-mail-date").value = campaign.mail_date || "";
  statusOptions($("settings-status"), campaign.status);
  $("settings-retention").value = campaign.recording_retention_days == null ? "" : String(campaign.recording_retention_days);
}

/** The settings that differ from the campaign's, as a PATCH body; null when a value is unfit. */
function settingsChanges(campaign) {
  const body = {};
  const name = $("settings-name").value.trim();
  if (!name) {
    formError("settings-error", "The campaign needs a name.");
    $("settings-name").focus();
    return null;
  }
  if (name !== campaign.name) body.name = name;
  const mail = $("settings-mail-date").value || null;
  if (mail !== (campaign.mail_date || null)) body.mail_date = mail;
  if ($("settings-status").value !== campaign.status) body.status = $("settings-status").value;
  const rawDays = $("settings-retention").value.trim();
  const days = rawDays === "" ? null : Number(rawDays);
  if (days !== null && !(Number.isInteger(days) && days > 0 && days <= 36500)) {
    formError("settings-error", "Keep recordings for a whole number of days from 1 to 36500, or leave it empty to keep them.");
    $("settings-retention").focus();
    return null;
  }
  if (days !== (campaign.recording_retention_days ?? null)) body.recording_retention_days = days;
  return body;
}

async function saveSettings(event) {
  event.preventDefault();
  const campaign = state.campaign;
  if (!campaign) return;
  clearFormError("settings-error");
  const body = settingsChanges(campaign);
  if (!body) return;
  if (Object.keys(body).length === 0) {
    Console.announce("Nothing changed, so nothing to save.");
    return;
  }
  const submit = $("settings-form").querySelector("button[type=submit]");
  submit.disabled = true;
  Console.announce("Saving the campaign's settings…");
  try {
    await Console.api(`/api/v1/campaigns/${enc(campaign.id)}`, { method: "PATCH", body });
    await render();
    Console.announce("Saved the campaign's settings.");
    submit.focus();
  } catch (error) {
    Console.announce("");
    formFailure($("settings-error"), error);
  } finally {
    submit.disabled = false;
  }
}

/** What the setup tabs showed of another campaign: its search, upload result and forms. */
function forgetCampaignSetup() {
  $("recipients-q").value = "";
  $("recipients-result").hidden = true;
  $("recipients-progress-box").hidden = true;
  $("recipients-body").replaceChildren();
  $("recipients-upload-form").reset();
  $("condition-list").replaceChildren();
  $("add-condition-box").replaceChildren();
}

// ---- recipients -----------------------------------------------------------------------------

const recipientUpload = () => ({
  progressBox: $("recipients-progress-box"),
  progress: $("recipients-progress"),
  progressText: $("recipients-progress-text"),
  box: $("recipients-result"),
  summary: $("recipients-summary"),
  rejected: $("recipients-rejected"),
  more: $("recipients-rejected-more"),
});

async function uploadRecipients(event) {
  event.preventDefault();
  const campaign = state.campaign;
  if (!campaign) return;
  const file = chosenFile($("recipients-file"), MAX_RECIPIENTS_BYTES, "Choose the CSV file of recipients to upload.");
  if (!file) return;
  Console.clearError();
  const parts = recipientUpload();
  parts.box.hidden = true;
  const submit = $("recipients-upload-form").querySelector("button[type=submit]");
  submit.disabled = true;
  showProgress(parts, 0, file.size);
  Console.announce(`Uploading ${file.name}…`);
  try {
    const result = await uploadCsv(`/api/v1/campaigns/${enc(campaign.id)}/recipients`, file, (loaded, total) => showProgress(parts, loaded, total));
    const rejected = result.rejected || [];
    const total = result.rejected_total ?? rejected.length;
    const summary = `Added ${plural(result.added, "recipient", "recipients")}, updated ${Console.num(result.updated)}, rejected ${plural(total, "line", "lines")}.`;
    Console.announce(summary);
    $("recipients-upload-form").reset();
    await renderRecipients(campaign, state.renderSeq);
    showResult(parts, summary, rejected, total);
  } catch (error) {
    parts.progressBox.hidden = true;
    Console.announce("");
    Console.handleError(error);
  } finally {
    submit.disabled = false;
  }
}

async function renderRecipients(campaign, seq, more = false) {
  if (!more) {
    state.recipientsQuery = $("recipients-q").value.trim();
    state.recipientsCursor = null;
  }
  const path = `/api/v1/campaigns/${enc(campaign.id)}/recipients${Console.query({ limit: 50, cursor: state.recipientsCursor, q: state.recipientsQuery })}`;
  const page = await Console.api(path);
  if (seq !== state.renderSeq) return;
  const body = $("recipients-body");
  if (!more) body.replaceChildren();
  for (const r of page.items) body.append(recipientRow(r));
  state.recipientsCursor = page.next_cursor;
  $("recipients-more").hidden = !page.next_cursor;
  const none = body.children.length === 0;
  $("recipients-table").hidden = none;
  $("recipients-empty").hidden = !none;
  $("recipients-empty").textContent = state.recipientsQuery
    ? `No recipient matches “${state.recipientsQuery}”. Try the beginning of a redemption code or last name, or a whole phone number.`
    : "No recipients yet. Upload a CSV file of them above.";
}

function recipientRow(r) {
  const row = Console.el("tr", { "data-testid": "recipient-row", "data-recipient-id": r.id });
  row.append(Console.el("td", {}, Console.fullName(r) || "—"));
  // Masked for roles that may not see callers' numbers; formatted when it is whole.
  row.append(Console.el("td", { class: "num" }, r.phone ? Console.phone(r.phone) : "—"));
  row.append(Console.el("td", { class: "code", "data-testid": "recipient-code" }, r.redemption_code));
  row.append(Console.el("td", {}, Console.whenLocal(r.created_at)));
  return row;
}

async function searchRecipients(event) {
  event.preventDefault();
  if (!state.campaign) return;
  try {
    await renderRecipients(state.campaign, ++state.renderSeq);
    const n = $("recipients-body").children.length;
    Console.announce(state.recipientsQuery ? `${plural(n, "recipient", "recipients")} found${$("recipients-more").hidden ? "" : " so far"}.` : "Showing every recipient.");
  } catch (error) {
    Console.handleError(error);
  }
}

// ---- conditions and rewards -----------------------------------------------------------------

const TRIGGERS = [
  { key: "call", words: "A call: an agent marks it, or calltrack after some talk" },
  { key: "crm_event", words: "An event the CRM reports" },
  { key: "time_delay", words: "Time after the recipient's first answered call" },
];

/** What meets a condition, in words. */
function ruleWords(c) {
  if (c.trigger_type === "crm_event") return `Met when the CRM reports ${c.crm_event_name || "an event"}`;
  if (c.trigger_type === "time_delay") {
    const hours = Number(c.time_delay_hours);
    return `Met ${hours === 1 ? "1 hour" : `${Console.num(hours)} hours`} after the first answered call`;
  }
  if (c.auto_min_talk_seconds != null) return `Met by the call after ${duration(c.auto_min_talk_seconds)} of talk, or by an agent`;
  return "Met by an agent";
}

function rewardWords(reward) {
  if (!reward) return "No reward";
  const pool = reward.pool_name ? `from the pool “${reward.pool_name}”` : "from a pool with no name";
  const card = `${cardKind(reward)} gift card`;
  return reward.reward_description ? `${reward.reward_description}, ${pool} (${card})` : `${card} ${pool}`;
}

function stockWords(stock) {
  return `${Console.num(stock.available_cards)} of ${Console.num(stock.total_cards)} cards available`;
}

/** Whether a pool (or a reward's pool) is low: see LOW_CARDS and LOW_SHARE. */
function poolLow(stock) {
  return stock.available_cards < LOW_CARDS || stock.available_cards < LOW_SHARE * stock.total_cards;
}

function waitingWords(n) {
  return `${plural(n, "reward", "rewards")} waiting for cards`;
}

/** Every pool the caller can see (every page). */
async function loadPools() {
  const pools = [];
  let cursor = null;
  do {
    const page = await Console.api(`/api/v1/gift-card-pools${Console.query({ cursor })}`);
    pools.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && pools.length < 2000);
  return pools;
}

async function renderConditions(campaign, seq) {
  const [page, pools] = await Promise.all([Console.api(`/api/v1/campaigns/${enc(campaign.id)}/conditions`), loadPools()]);
  if (seq !== state.renderSeq) return;
  state.conditions = page.items;
  // A campaign's rewards come from its client's pools or a master pool of no client.
  state.campaignPools = pools.filter((p) => p.client_id == null || p.client_id === campaign.client_id);
  $("condition-list").replaceChildren(...page.items.map(conditionItem));
  $("conditions-empty").hidden = page.items.length > 0;
  const next = nextConditionNumber();
  $("add-condition").textContent = `Add condition ${next}`;
  $("add-condition").setAttribute("aria-expanded", "false");
  $("add-condition-box").replaceChildren();
}

function nextConditionNumber() {
  return state.conditions.reduce((max, c) => Math.max(max, c.condition_number), 0) + 1;
}

function conditionItem(c) {
  const item = Console.el("li", { class: "condition", "data-testid": "condition", "data-number": String(c.condition_number) });
  const head = Console.el("h4", { class: "condition-head", tabindex: "-1" });
  head.append(`Condition ${c.condition_number}: `, Console.el("span", { "data-testid": "condition-name" }, c.condition_name || "(no name)"), " ");
  head.append(Console.el("span", { class: `badge ${c.is_active ? "live" : "ended"}`, "data-testid": "condition-state" }, c.is_active ? "Active" : "Off"));
  const dl = Console.el("dl", { class: "facts" });
  fact(dl, "Rule", ruleWords(c), "condition-rule");
  fact(dl, "Reward", rewardWords(c.reward), "condition-reward");
  item.append(head, dl);
  if (c.reward) {
    const stock = fact(dl, "Pool stock", stockWords(c.reward), "condition-stock");
    if (poolLow(c.reward)) stock.append(" ", Console.el("span", { class: "badge warn-badge" }, "Low"));
    fact(dl, "SMS", c.reward.sms_template || "The default message", "condition-sms");
    if (c.reward.rewards_waiting > 0) item.append(waitingNote(c.reward.rewards_waiting));
  }
  const actions = Console.el("div", { class: "actions" });
  const edit = Console.el("button", { type: "button", "aria-expanded": "false", "data-testid": "edit-condition" }, `Edit condition ${c.condition_number}`);
  actions.append(edit);
  const form = conditionForm(c, c.condition_number, () => {
    form.hidden = true;
    edit.setAttribute("aria-expanded", "false");
    edit.focus();
  });
  form.hidden = true;
  edit.addEventListener("click", () => {
    form.hidden = !form.hidden;
    edit.setAttribute("aria-expanded", String(!form.hidden));
    if (!form.hidden) form.querySelector("input").focus();
  });
  item.append(actions, form);
  return item;
}

function waitingNote(n) {
  const note = Console.el("p", { class: "warn", "data-testid": "condition-waiting" }, `${waitingWords(n)}. `);
  note.append(Console.el("a", { href: "#/gift-cards" }, "Upload cards to the pool"), " and they are sent at once.");
  return note;
}

/** One option per pool the campaign may reward from, with its stock. */
function poolOptions(selected) {
  const options = [Console.el("option", { value: "" }, "No reward")];
  for (const p of state.campaignPools || []) {
    options.push(Console.el("option", { value: p.id }, `${p.pool_name}: ${cardKind(p)} (${Console.num(p.available_cards)} available)`));
  }
  if (selected && selected.gift_card_pool_id && !options.some((o) => o.value === selected.gift_card_pool_id)) {
    // A pool the caller cannot list (an admin's master pool) stays the choice.
    options.push(Console.el("option", { value: selected.gift_card_pool_id }, `${selected.pool_name || "Pool"}: ${cardKind(selected)}`));
  }
  return options;
}

/**
 * The form that creates or replaces condition `number` (`c` is its current state, or null
 * for a new one); PUTs it and shows a refusal beside the fields. `close()` hides it.
 */
function conditionForm(c, number, close) {
  const form = Console.el("form", { class: "grid-form edit-form", "data-testid": "condition-form", "data-number": String(number), novalidate: "" });
  form.append(Console.el("h4", {}, c ? `Edit condition ${number}` : `New condition ${number}`));
  const name = field(form, "Name", Console.el("input", { autocomplete: "off", maxlength: "200", "data-testid": "condition-name-input" }), "What the caller does, such as “Booked an appointment”.");
  name.value = c && c.condition_name ? c.condition_name : "";
  const trigger = field(form, "Met by", Console.el("select", { "data-testid": "condition-trigger" }));
  trigger.replaceChildren(...TRIGGERS.map((t) => Console.el("option", { value: t.key }, t.words)));
  trigger.value = c ? c.trigger_type : "call";
  const talk = field(form, "Met by itself after this much talk (seconds)", Console.el("input", { type: "number", min: "0", step: "1", inputmode: "numeric", "data-testid": "condition-talk" }), "When an answered call matched to a recipient lasts this long. Leave empty: an agent marks it.");
  talk.value = c && c.auto_min_talk_seconds != null ? String(c.auto_min_talk_seconds) : "";
  const event = field(form, "CRM event name", Console.el("input", { autocomplete: "off", spellcheck: "false", "data-testid": "condition-event" }), "As the CRM sends it, such as appointment_kept.");
  event.value = c && c.crm_event_name ? c.crm_event_name : "";
  const hours = field(form, "Hours after the first answered call", Console.el("input", { type: "number", min: "1", step: "1", inputmode: "numeric", "data-testid": "condition-hours" }));
  hours.value = c && c.time_delay_hours != null ? String(c.time_delay_hours) : "";
  const active = field(form, "Active (can be met)", Console.el("input", { type: "checkbox", "data-testid": "condition-active" }));
  active.checked = c ? c.is_active : true;
  const pool = field(form, "Reward: a gift card from", Console.el("select", { "data-testid": "condition-pool" }), state.campaignPools && state.campaignPools.length ? undefined : "No gift-card pool yet: create one on the Gift cards page first.");
  pool.replaceChildren(...poolOptions(c && c.reward));
  pool.value = c && c.reward && c.reward.gift_card_pool_id ? c.reward.gift_card_pool_id : "";
  const description = field(form, "Reward description", Console.el("input", { autocomplete: "off", maxlength: "500", "data-testid": "condition-description" }), "Shown to agents, such as “$25 Amazon gift card”.");
  description.value = c && c.reward && c.reward.reward_description ? c.reward.reward_description : "";
  const sms = field(form, "SMS sent with the card", Console.el("textarea", { rows: "3", maxlength: "1600", "data-testid": "condition-sms-input" }), `Placeholders: ${SMS_PLACEHOLDERS}.`);
  sms.value = c && c.reward && c.reward.sms_template ? c.reward.sms_template : DEFAULT_SMS;
  const error = Console.el("p", { class: "form-error", role: "alert", "data-testid": "condition-error", hidden: "" });
  const actions = Console.el("div", { class: "actions" });
  const save = Console.el("button", { type: "submit", class: "primary", "data-testid": "save-condition" }, `Save condition ${number}`);
  const cancel = Console.el("button", { type: "button" }, "Cancel");
  actions.append(save, cancel);
  form.append(error, actions);
  const sync = () => {
    talk.closest(".field").hidden = trigger.value !== "call";
    event.closest(".field").hidden = trigger.value !== "crm_event";
    hours.closest(".field").hidden = trigger.value !== "time_delay";
    description.closest(".field").hidden = !pool.value;
    sms.closest(".field").hidden = !pool.value;
  };
  trigger.addEventListener("change", sync);
  pool.addEventListener("change", sync);
  sync();
  cancel.addEventListener("click", close);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.hidden = true;
    const body = conditionBody({ name, trigger, talk, event, hours, active, pool, description, sms }, error);
    if (!body) return;
    save.disabled = true;
    Console.announce(`Saving condition ${number}…`);
    try {
      await Console.api(`/api/v1/campaigns/${enc(state.campaign.id)}/conditions/${number}`, { method: "PUT", body });
      await renderConditions(state.campaign, state.renderSeq);
      Console.announce(`Saved condition ${number}.`);
      const saved = $("condition-list").querySelector(`[data-number="${number}"] .condition-head`);
      if (saved) saved.focus();
    } catch (failure) {
      Console.announce("");
      formFailure(error, failure);
      save.disabled = false;
    }
  });
  return form;
}

/** The PUT body of a condition form; null, with the reason shown in `error`, when unfit. */
function conditionBody(f, error) {
  const fail = (text, input) => {
    error.textContent = text;
    error.hidden = false;
    input.focus();
    return null;
  };
  const name = f.name.value.trim();
  if (!name) return fail("Give the condition a name.", f.name);
  const body = { condition_name: name, trigger_type: f.trigger.value, is_active: f.active.checked };
  if (body.trigger_type === "call" && f.talk.value.trim() !== "") {
    const seconds = Number(f.talk.value);
    if (!Number.isInteger(seconds) || seconds < 0) return fail("The talk time is a whole number of seconds, or empty.", f.talk);
    body.auto_min_talk_seconds = seconds;
  }
  if (body.trigger_type === "crm_event") {
    if (!f.event.value.trim()) return fail("Name the CRM event that meets this condition, such as appointment_kept.", f.event);
    body.crm_event_name = f.event.value.trim();
  }
  if (body.trigger_type === "time_delay") {
    const hours = Number(f.hours.value);
    if (f.hours.value.trim() === "" || !Number.isInteger(hours) || hours <= 0) return fail("Give the number of hours after the first answered call, 1 or more.", f.hours);
    body.time_delay_hours = hours;
  }
  if (f.pool.value) {
    body.reward = { gift_card_pool_id: f.pool.value };
    if (f.description.value.trim()) body.reward.reward_description = f.description.value.trim();
    if (f.sms.value.trim()) body.reward.sms_template = f.sms.value.trim();
  }
  return body;
}

function toggleAddCondition() {
  const box = $("add-condition-box");
  const button = $("add-condition");
  if (box.children.length > 0) {
    box.replaceChildren();
    button.setAttribute("aria-expanded", "false");
    return;
  }
  const form = conditionForm(null, nextConditionNumber(), () => {
    box.replaceChildren();
    button.setAttribute("aria-expanded", "false");
    button.focus();
  });
  box.append(form);
  button.setAttribute("aria-expanded", "true");
  form.querySelector("input").focus();
}

// ---- gift-card pools ------------------------------------------------------------------------

async function renderPools(seq) {
  const pools = await loadPools();
  if (seq !== state.renderSeq) return;
  document.title = "calltrack · Gift cards";
  $("pool-list").replaceChildren(...pools.map(poolItem));
  $("pools-empty").hidden = pools.length > 0;
  $("pools-title").focus();
}

/** What is wrong with a pool's stock, in words; empty when nothing is. */
function poolWarnings(p) {
  const warnings = [];
  if (poolLow(p)) warnings.push(p.available_cards === 0 ? "No cards left." : `Low: only ${plural(p.available_cards, "card", "cards")} left.`);
  if (p.rewards_waiting > 0) warnings.push(`${waitingWords(p.rewards_waiting)}: upload cards to send them.`);
  return warnings;
}

function poolItem(p) {
  const item = Console.el("li", { class: "card pool", "data-testid": "pool", "data-pool-id": p.id });
  const title = Console.el("h3", { tabindex: "-1", "data-testid": "pool-name" }, p.pool_name);
  const meta = Console.el("p", { class: "muted" }, [p.brand_name, p.value_amount != null ? `${money(p.value_amount)} each` : null, p.client_id == null ? "master pool" : null].filter(Boolean).join(" · "));
  const dl = Console.el("dl", { class: "stats" });
  const stat = (term, value, testid) => {
    const box = Console.el("div");
    box.append(Console.el("dt", {}, term), Console.el("dd", { "data-testid": testid }, value));
    dl.append(box);
  };
  stat("Available", Console.num(p.available_cards), "pool-available");
  stat("Cards in all", Console.num(p.total_cards), "pool-total");
  stat("Rewards waiting", Console.num(p.rewards_waiting), "pool-waiting");
  item.append(title, meta, dl);
  const warnings = poolWarnings(p);
  if (warnings.length) item.append(Console.el("p", { class: "warn", "data-testid": "pool-warning" }, warnings.join(" ")));
  item.append(cardUpload(p, item));
  return item;
}

/** A pool's card upload: the file, a progress bar, the counts and rejected lines. */
function cardUpload(p, item) {
  const wrap = Console.el("div", { class: "card-upload" });
  const form = Console.el("form", { class: "inline upload", novalidate: "", "data-testid": "pool-upload-form" });
  const id = `cards-${p.id}`;
  const label = Console.el("label", { for: id }, `Cards for ${p.pool_name} (CSV)`);
  const input = Console.el("input", { id, type: "file", accept: ".csv,text/csv", "data-testid": "pool-file" });
  const submit = Console.el("button", { type: "submit", "data-testid": "pool-upload" }, "Upload cards");
  form.append(input, submit);
  const hint = Console.el("p", { class: "hint" });
  hint.append("A CSV file with the header ", Console.el("code", {}, "card_code,pin_code,value_amount"), ", up to 10 MB. Codes are encrypted on arrival and never shown again.");
  const progressBox = Console.el("div", { class: "progress-box", hidden: "" });
  const progress = Console.el("progress", { max: "100", value: "0", "aria-label": `Uploading cards for ${p.pool_name}`, "data-testid": "pool-progress" });
  const progressText = Console.el("span", { class: "muted small" });
  progressBox.append(progress, " ", progressText);
  const box = Console.el("div", { class: "result", hidden: "", "data-testid": "pool-result" });
  const summary = Console.el("p", { class: "summary", tabindex: "-1", "data-testid": "pool-summary" });
  const rejected = Console.el("ol", { class: "rejected", "aria-label": "Rejected lines", "data-testid": "pool-rejected" });
  const more = Console.el("p", { class: "muted small", hidden: "" });
  box.append(summary, rejected, more);
  wrap.append(label, form, hint, progressBox, box);
  const parts = { progressBox, progress, progressText, box, summary, rejected, more };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    uploadCards(p, item, input, submit, parts);
  });
  return wrap;
}

async function uploadCards(p, item, input, submit, parts) {
  const file = chosenFile(input, MAX_CARDS_BYTES, `Choose the CSV file of cards for ${p.pool_name}.`);
  if (!file) return;
  Console.clearError();
  parts.box.hidden = true;
  submit.disabled = true;
  showProgress(parts, 0, file.size);
  Console.announce(`Uploading cards for ${p.pool_name}…`);
  try {
    const result = await uploadCsv(`/api/v1/gift-card-pools/${enc(p.id)}/cards`, file, (loaded, total) => showProgress(parts, loaded, total));
    const rejected = result.rejected || [];
    const total = result.rejected_total ?? rejected.length;
    let summary = `Added ${plural(result.added, "card", "cards")}, rejected ${plural(total, "line", "lines")}.`;
    if (result.provisioned > 0) summary += ` ${plural(result.provisioned, "waiting reward was", "waiting rewards were")} given a card and will be sent now.`;
    summary += ` ${plural(result.available_cards, "card", "cards")} available.`;
    Console.announce(summary);
    // The stock as it is now, in place of the old card; the result goes with it.
    const fresh = (await loadPools()).find((x) => x.id === p.id) || { ...p, available_cards: result.available_cards, total_cards: p.total_cards + result.added };
    const freshItem = poolItem(fresh);
    item.replaceWith(freshItem);
    const freshParts = freshItem.querySelector('[data-testid="pool-result"]');
    showResult(
      {
        progressBox: freshItem.querySelector(".progress-box"),
        box: freshParts,
        summary: freshParts.querySelector('[data-testid="pool-summary"]'),
        rejected: freshParts.querySelector('[data-testid="pool-rejected"]'),
        more: freshParts.querySelector("p.muted"),
      },
      summary,
      rejected,
      total,
    );
  } catch (error) {
    parts.progressBox.hidden = true;
    Console.announce("");
    Console.handleError(error);
  } finally {
    submit.disabled = false;
  }
}

async function toggleNewPool(open, { quiet = false } = {}) {
  $("new-pool-card").hidden = !open;
  $("new-pool").setAttribute("aria-expanded", String(open));
  clearFormError("new-pool-error");
  if (!open) {
    $("new-pool-form").reset();
    if (!quiet) $("new-pool").focus();
    return;
  }
  offerClients("pool");
  $("pool-name").focus();
  try {
    await loadClients();
    offerClients("pool");
  } catch {
    // Without the list the API still picks the only client, or asks.
  }
}

async function createPool(event) {
  event.preventDefault();
  clearFormError("new-pool-error");
  const body = { pool_name: $("pool-name").value.trim(), brand_name: $("pool-brand").value.trim(), value_amount: $("pool-value").value.trim().replace(/^\$/, "") };
  const missing = [
    ["pool_name", "pool-name", "Give the pool a name."],
    ["brand_name", "pool-brand", "Name the brand of its cards, such as Amazon."],
  ].find(([key]) => !body[key]);
  if (missing) {
    formError("new-pool-error", missing[2]);
    $(missing[1]).focus();
    return;
  }
  if (!/^\d+(\.\d{1,2})?$/.test(body.value_amount) || Number(body.value_amount) <= 0) {
    formError("new-pool-error", "Give the value of each card as an amount, such as 25 or 25.00.");
    $("pool-value").focus();
    return;
  }
  const client = chosenClient("pool");
  if (client) body.client_id = client;
  const submit = $("new-pool-form").querySelector("button[type=submit]");
  submit.disabled = true;
  Console.announce("Creating the pool…");
  try {
    const pool = await Console.api("/api/v1/gift-card-pools", { method: "POST", body });
    toggleNewPool(false, { quiet: true });
    await renderPools(++state.renderSeq);
    Console.announce(`Created the pool “${pool.pool_name}”. Upload its cards next.`);
    const input = $("pool-list").querySelector(`[data-pool-id="${CSS.escape(pool.id)}"] input[type=file]`);
    if (input) input.focus();
  } catch (error) {
    Console.announce("");
    formFailure($("new-pool-error"), error);
    if (asksForClient(error)) revealClients("pool");
  } finally {
    submit.disabled = false;
  }
}

function wireSetup() {
  $("new-campaign").addEventListener("click", () => toggleNewCampaign($("new-campaign-card").hidden));
  $("new-campaign-cancel").addEventListener("click", () => toggleNewCampaign(false));
  $("new-campaign-form").addEventListener("submit", createCampaign);
  $("new-client").addEventListener("change", () => syncClientId("new"));
  $("settings-form").addEventListener("submit", saveSettings);
  $("recipients-upload-form").addEventListener("submit", uploadRecipients);
  $("recipients-search-form").addEventListener("submit", searchRecipients);
  $("recipients-more").addEventListener("click", () => {
    if (state.campaign) renderRecipients(state.campaign, state.renderSeq, true).catch(Console.handleError);
  });
  $("add-condition").addEventListener("click", toggleAddCondition);
  $("new-pool").addEventListener("click", () => toggleNewPool($("new-pool-card").hidden));
  $("new-pool-cancel").addEventListener("click", () => toggleNewPool(false));
  $("new-pool-form").addEventListener("submit", createPool);
  $("pool-client").addEventListener("change", () => syncClientId("pool"));
}

// ---- webhooks -------------------------------------------------------------------------------

async function renderWebhooks(seq) {
  const page = await Console.api("/api/v1/webhook-endpoints");
  if (seq !== state.renderSeq) return;
  document.title = "calltrack · Webhooks";
  $("webhook-list").replaceChildren(...page.items.map(webhookItem));
  $("webhooks-empty").hidden = page.items.length > 0;
  if (!state.focusAfter) $("webhooks-title").focus();
}

/** Shows a secret once, with a copy button; focus goes to it so it is read out. */
function showWebhookSecret(secret) {
  $("webhook-secret").textContent = secret;
  $("webhook-secret-box").hidden = false;
  state.focusAfter = "webhook-secret-title";
}

function hideWebhookSecret() {
  $("webhook-secret").textContent = "";
  $("webhook-secret-box").hidden = true;
}

function webhookItem(e) {
  const item = Console.el("li", { class: "card pool", "data-testid": "webhook", "data-webhook-id": e.id });
  item.append(Console.el("h3", { "data-testid": "webhook-url" }, e.url));
  const state_ = e.enabled ? "enabled" : `disabled${e.disabled_reason ? `: ${e.disabled_reason}` : ""}`;
  item.append(Console.el("p", { class: "muted", "data-testid": "webhook-meta" }, [e.description, e.events.join(", "), state_].filter(Boolean).join(" · ")));
  const actions = Console.el("div", { class: "actions" });
  const toggle = Console.el("button", { type: "button", "data-testid": "webhook-toggle" }, e.enabled ? "Disable" : "Enable");
  toggle.addEventListener("click", () => webhookAction(async () => {
    await Console.api(`/api/v1/webhook-endpoints/${enc(e.id)}`, { method: "PATCH", body: { enabled: !e.enabled } });
    Console.announce(e.enabled ? "Endpoint disabled." : "Endpoint enabled.");
  }));
  const rotate = Console.el("button", { type: "button", "data-testid": "webhook-rotate" }, "Rotate secret");
  rotate.addEventListener("click", () => webhookAction(async () => {
    const rotated = await Console.api(`/api/v1/webhook-endpoints/${enc(e.id)}/rotate-secret`, { method: "POST" });
    showWebhookSecret(rotated.secret);
    Console.announce("New secret made; the previous one keeps signing for 24 hours.");
  }));
  const remove = Console.el("button", { type: "button", "data-testid": "webhook-delete" }, "Delete");
  remove.addEventListener("click", () => webhookAction(async () => {
    if (!window.confirm(`Delete the endpoint ${e.url} and its deliveries?`)) return;
    await Console.api(`/api/v1/webhook-endpoints/${enc(e.id)}`, { method: "DELETE" });
    Console.announce("Endpoint deleted.");
  }));
  const show = Console.el("button", { type: "button", "aria-expanded": "false", "data-testid": "webhook-deliveries-toggle" }, "Recent deliveries");
  const list = Console.el("ol", { class: "deliveries", "aria-label": `Recent deliveries to ${e.url}`, "data-testid": "webhook-deliveries", hidden: "" });
  show.addEventListener("click", async () => {
    const open = show.getAttribute("aria-expanded") !== "true";
    show.setAttribute("aria-expanded", String(open));
    list.hidden = !open;
    if (open) await loadDeliveries(e, list).catch(Console.handleError);
  });
  actions.append(show, toggle, rotate, remove);
  item.append(actions, list);
  return item;
}

async function loadDeliveries(e, list) {
  const page = await Console.api(`/api/v1/webhook-endpoints/${enc(e.id)}/deliveries${Console.query({ limit: 20 })}`);
  if (page.items.length === 0) {
    list.replaceChildren(Console.el("li", { class: "muted" }, "No deliveries yet."));
    return;
  }
  list.replaceChildren(...page.items.map((d) => {
    const li = Console.el("li", { "data-testid": "webhook-delivery", "data-delivery-id": d.id });
    const last = d.attempt_log.length ? d.attempt_log[d.attempt_log.length - 1] : null;
    const lastWords = last ? (last.error || `answered ${last.status_code}`) : null;
    li.append(Console.el("span", { "data-testid": "webhook-delivery-status" }, `${d.event_type} · ${d.status} · ${plural(d.attempts, "attempt", "attempts")}`));
    li.append(" ", Console.el("span", { class: "muted small" }, [new Date(d.created_at).toLocaleString(), lastWords].filter(Boolean).join(" · ")));
    if (d.status !== "pending") {
      const retry = Console.el("button", { type: "button", "data-testid": "webhook-retry" }, "Send again");
      retry.addEventListener("click", async () => {
        try {
          await Console.api(`/api/v1/webhook-deliveries/${enc(d.id)}/retry`, { method: "POST" });
          Console.announce("Queued to be sent again now.");
          await loadDeliveries(e, list);
        } catch (error) {
          Console.handleError(error);
        }
      });
      li.append(" ", retry);
    }
    return li;
  }));
}

async function webhookAction(action) {
  try {
    await action();
    await renderWebhooks(++state.renderSeq);
    if (state.focusAfter) {
      $(state.focusAfter).focus();
      state.focusAfter = null;
    }
  } catch (error) {
    Console.handleError(error);
  }
}

function wireWebhooks() {
  // Set here: the page itself names nothing on the network.
  $("webhook-url").placeholder = "https://crm.example.com/hooks/calltrack";
  $("webhook-secret-copy").addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText($("webhook-secret").textContent);
      Console.announce("Secret copied.");
    } catch {
      Console.announce("Copying was refused: select the secret and copy it.");
    }
  });
  $("webhook-secret-done").addEventListener("click", () => {
    hideWebhookSecret();
    $("webhooks-title").focus();
  });
  $("new-webhook-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = $("new-webhook-error");
    error.hidden = true;
    const events = [...document.querySelectorAll('input[name="webhook-event"]:checked')].map((i) => i.value);
    const body = { url: $("webhook-url").value.trim(), events };
    const description = $("webhook-description").value.trim();
    if (description) body.description = description;
    const client = $("webhook-client-id").value.trim();
    if (client) body.client_id = client;
    try {
      const created = await Console.api("/api/v1/webhook-endpoints", { method: "POST", body });
      $("webhook-url").value = "";
      $("webhook-description").value = "";
      showWebhookSecret(created.secret);
      Console.announce("Endpoint added. Copy its secret now: it is not shown again.");
      await webhookAction(async () => {});
    } catch (failure) {
      error.textContent = failure.message;
      error.hidden = false;
      $("webhook-url").focus();
    }
  });
}

// ---- signing in and out ---------------------------------------------------------------------

function enterConsole() {
  $("top-nav").hidden = false;
  Console.announce("Signed in.");
  render();
}

function leaveConsole() {
  state.campaign = null;
  state.renderSeq += 1;
  state.clients = new Map();
  state.clientsLoaded = false;
  state.clientAsked = false;
  $("top-nav").hidden = true;
  $("campaigns-view").hidden = true;
  $("campaign-view").hidden = true;
  $("pools-view").hidden = true;
  $("webhooks-view").hidden = true;
  $("webhook-list").replaceChildren();
  hideWebhookSecret();
  $("campaign-list").replaceChildren();
  $("pool-list").replaceChildren();
  $("recipients-body").replaceChildren();
  $("recipients-result").hidden = true;
  $("condition-list").replaceChildren();
  toggleNewCampaign(false, { quiet: true });
  toggleNewPool(false, { quiet: true });
}

function main() {
  $("buy-form").addEventListener("submit", buyNumber);
  wireWebhooks();
  wireSetup();
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
