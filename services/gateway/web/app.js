// Hermes web page: a client of the gateway's HTTP API (the same one `hermes chat` uses).
// Every piece of data is put on the page as text (textContent), never as HTML.
"use strict";

const KEYS = { token: "hermes.token", user: "hermes.user", conversation: "hermes.conversation" };
const state = {
  token: sessionStorage.getItem(KEYS.token) || "",
  user: localStorage.getItem(KEYS.user) || "web-user",
  conversation: sessionStorage.getItem(KEYS.conversation) || null,
  cursor: "0",
  seen: new Set(),
  pollId: 0,
};

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("data-") || key.startsWith("aria-") || key === "type") node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

function banner(message) {
  const box = document.getElementById("banner");
  box.textContent = message || "";
  box.hidden = !message;
}

async function api(method, path, body) {
  if (!state.token) throw new ApiError(401, "Enter the API token first: `hermes up` writes it to <state dir>/api-token.");
  const headers = { Authorization: `Bearer ${state.token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let resp;
  try {
    resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    throw new ApiError(0, `The gateway is unreachable (${err.message}); retrying.`);
  }
  let data = null;
  try { data = await resp.json(); } catch (_err) { data = null; }
  if (resp.status === 401) {
    throw new ApiError(401, "The API token was refused. Paste the token from <state dir>/api-token " +
      "(`hermes up` writes it there; ~/.local/state/hermes/api-token by default).");
  }
  if (!resp.ok) throw new ApiError(resp.status, (data && data.error) || `The gateway answered ${resp.status}.`);
  return data;
}

// ---------------------------------------------------------------------------------------------
// Rendering a conversation's events

function commandLine(argv) {
  return ["ankra", ...argv].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${String(a).replace(/'/g, "'\\''")}'`)).join(" ");
}

function renderTable(block) {
  const table = el("table", { "data-testid": "table" });
  if (block.title) table.append(el("caption", { text: block.title }));
  const head = el("tr");
  for (const column of block.columns || []) head.append(el("th", { text: String(column) }));
  table.append(el("thead", {}, head));
  const body = el("tbody");
  for (const row of block.rows || []) {
    const tr = el("tr");
    for (const cell of row) tr.append(el("td", { text: cell === null || cell === undefined ? "" : String(cell) }));
    body.append(tr);
  }
  table.append(body);
  return table;
}

function decisionButtons(approvalId, statusNode) {
  const approve = el("button", { class: "approve", type: "button", text: "Approve", "data-testid": `approve-${approvalId}` });
  const reject = el("button", { class: "reject", type: "button", text: "Reject", "data-testid": `reject-${approvalId}` });
  const decide = async (decision) => {
    approve.disabled = reject.disabled = true;
    statusNode.className = "status";
    statusNode.textContent = decision === "approve" ? "Approving…" : "Rejecting…";
    try {
      await api("POST", `/v1/approvals/${encodeURIComponent(approvalId)}`, { decision, user: state.user });
      statusNode.textContent = decision === "approve" ? "Approved: the result follows in the conversation." : "Rejected: nothing will run.";
      refreshPending();
    } catch (err) {
      statusNode.className = "status bad";
      statusNode.textContent = err.message;
      if (err.status === 0) approve.disabled = reject.disabled = false;  // not recorded: try again
    }
  };
  approve.addEventListener("click", () => decide("approve"));
  reject.addEventListener("click", () => decide("reject"));
  return [approve, reject];
}

function renderApproval(approval, shownText) {
  const box = el("div", { class: "approval-box", "data-testid": "approval" });
  const summary = (approval.summary || "").trim();
  if (summary && !(shownText || "").includes(summary)) box.append(el("p", { class: "text", text: summary }));
  const steps = approval.steps || [];
  box.append(el("div", { text: `Commands that will run (${steps.length}), exactly:` }));
  box.append(el("pre", { "data-testid": "commands", text: steps.map(commandLine).join("\n") }));
  if ((approval.risks || []).length) {
    const risks = el("ul");
    for (const risk of approval.risks) risks.append(el("li", { text: risk }));
    box.append(el("div", { text: "Risks:" }), risks);
  }
  const expires = approval.expires_at ? new Date(approval.expires_at) : null;
  const status = el("span", { class: "status", "data-testid": "approval-status",
    text: `Approval ${approval.approval_id}` + (expires ? `, expires ${expires.toLocaleTimeString()}` : "") });
  box.append(el("div", { class: "actions" }, ...decisionButtons(approval.approval_id, status), status));
  return box;
}

function renderEvent(event) {
  const kind = event.type === "message" ? "message" : (event.kind || "answer");
  const node = el("div", { class: `event ${event.type} ${kind}`, "data-testid": `event-${kind}`,
    "data-correlation": event.correlation_id || "", "data-final": event.final ? "true" : "false" });
  if (event.type === "message") {
    node.append(el("div", { class: "who", text: event.user || "you" }));
    node.append(el("div", { class: "text", text: event.text || "" }));
    return node;
  }
  if (kind === "progress") node.classList.add("running");
  if (event.text) node.append(el("div", { class: "text", text: event.text }));
  for (const block of event.blocks || []) {
    if (block.type === "table") node.append(renderTable(block));
    else if (block.type === "code") node.append(el("pre", { text: block.text || "" }));
    else if (block.text) node.append(el("div", { class: "text", text: block.text }));
  }
  if (event.approval) node.append(renderApproval(event.approval, event.text));
  return node;
}

function addEvents(events) {
  const log = document.getElementById("log");
  const nearBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 80;
  for (const event of events) {
    if (state.seen.has(event.id)) continue;
    state.seen.add(event.id);
    if (event.final || event.type === "reply" && event.kind !== "progress") {
      // a later reply of the turn: its running steps are done
      for (const running of log.querySelectorAll(".event.progress.running")) {
        if (!event.final && running.dataset.correlation !== event.correlation_id) continue;
        running.classList.replace("running", "done");
      }
    }
    log.append(renderEvent(event));
  }
  if (nearBottom) log.scrollTop = log.scrollHeight;
}

// ---------------------------------------------------------------------------------------------
// The conversation: long polling (EventSource cannot send the Authorization header)

async function poll(pollId) {
  let failures = 0;
  while (pollId === state.pollId && state.conversation) {
    try {
      const page = await api("GET", `/v1/conversations/${encodeURIComponent(state.conversation)}/events` +
        `?cursor=${encodeURIComponent(state.cursor)}&wait=25`);
      if (pollId !== state.pollId) return;
      addEvents(page.events);
      state.cursor = page.cursor;
      failures = 0;
      banner("");
    } catch (err) {
      banner(err.message);
      if (err.status === 401) return;
      if (err.status === 404) { startConversation(null); return; }
      failures += 1;
      await new Promise((r) => setTimeout(r, Math.min(1000 * 2 ** (failures - 1), 15000)));
    }
  }
}

function startConversation(conversationId) {
  state.conversation = conversationId;
  state.cursor = "0";
  state.seen.clear();
  state.pollId += 1;
  document.getElementById("log").replaceChildren();
  if (conversationId) {
    sessionStorage.setItem(KEYS.conversation, conversationId);
    poll(state.pollId);
  } else {
    sessionStorage.removeItem(KEYS.conversation);
  }
}

async function send(text) {
  const body = { text, user: state.user };
  if (state.conversation) body.conversation_id = state.conversation;
  const sent = await api("POST", "/v1/messages", body);
  if (sent.conversation_id !== state.conversation) startConversation(sent.conversation_id);
}

// ---------------------------------------------------------------------------------------------
// Pending approvals

async function refreshPending() {
  if (!state.token) return;
  let data;
  try { data = await api("GET", "/v1/approvals"); } catch (err) { if (err.status === 401) banner(err.message); return; }
  const list = document.getElementById("pending-list");
  const items = [];
  for (const approval of data.approvals || []) {
    const status = el("span", { class: "status" });
    const item = el("li", { "data-testid": `pending-${approval.approval_id}` },
      el("div", { class: "text", text: approval.summary || approval.approval_id }),
      el("div", { class: "status", text: `${approval.approval_id} · ${approval.cluster || "no cluster"} · ` +
        `asked by ${approval.requested_by} · expires ${new Date(approval.expires_at).toLocaleTimeString()}` }),
      el("pre", { text: (approval.steps || []).map(commandLine).join("\n") }),
      el("div", { class: "actions" }, ...decisionButtons(approval.approval_id, status), status));
    items.push(item);
  }
  list.replaceChildren(...items);
  document.getElementById("pending-empty").hidden = items.length > 0;
}

// ---------------------------------------------------------------------------------------------
// Start

function init() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.get("token")) {  // never sent to the server; kept for this tab only
    state.token = fragment.get("token");
    sessionStorage.setItem(KEYS.token, state.token);
    history.replaceState(null, "", location.pathname + location.search);
  }
  const token = document.getElementById("token");
  const user = document.getElementById("user");
  token.value = state.token;
  user.value = state.user;
  document.getElementById("settings").addEventListener("submit", (e) => {
    e.preventDefault();
    state.token = token.value.trim();
    state.user = user.value.trim() || "web-user";
    sessionStorage.setItem(KEYS.token, state.token);
    localStorage.setItem(KEYS.user, state.user);
    banner("");
    startConversation(state.conversation);
    refreshPending();
  });
  document.getElementById("new-conversation").addEventListener("click", () => startConversation(null));
  const text = document.getElementById("text");
  const composer = document.getElementById("composer");
  composer.addEventListener("submit", async (e) => {
    e.preventDefault();
    const value = text.value.trim();
    if (!value) return;
    text.disabled = true;
    try {
      await send(value);
      text.value = "";
      banner("");
    } catch (err) {
      banner(err.message);  // the text stays in the box: nothing is lost
    } finally {
      text.disabled = false;
      text.focus();
    }
  });
  text.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); composer.requestSubmit(); }
  });
  if (!state.token) banner("Enter the API token: `hermes up` writes it to <state dir>/api-token.");
  startConversation(state.conversation);
  refreshPending();
  setInterval(refreshPending, 3000);
}

document.addEventListener("DOMContentLoaded", init);
