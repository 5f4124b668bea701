// Hermes web page: a client of the gateway's HTTP API (the same one `hermes chat` uses).
// Every piece of data is put on the page as text (textContent), never as HTML.
// Who you are comes from your personal token alone (GET /v1/whoami); no request names a user.
"use strict";

const KEYS = { token: "hermes.token", conversation: "hermes.conversation" };
const SIGN_IN_HINT = "Sign in with your personal token: an admin makes one with `hermes users add <you> --role …`; " +
  "the local admin's token is in <state dir>/api-token (`hermes up` writes it).";
const state = {
  token: sessionStorage.getItem(KEYS.token) || "",
  me: null,  // {user, roles, channel, at} once the token is accepted
  conversation: sessionStorage.getItem(KEYS.conversation) || null,
  cursor: "0",
  seen: new Set(),
  pollId: 0,
  signInId: 0,
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
  if (!state.token) throw new ApiError(401, SIGN_IN_HINT);
  const headers = { Authorization: `Bearer ${state.token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  // Each POST carries its own key: a retried send (after a 503 or a lost answer) runs at most once.
  // (crypto.randomUUID needs a secure context; getRandomValues works on plain http too.)
  if (method === "POST") {
    headers["Idempotency-Key"] = Array.from(crypto.getRandomValues(new Uint8Array(16)),
      (b) => b.toString(16).padStart(2, "0")).join("");
  }
  let resp;
  try {
    resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    throw new ApiError(0, `The gateway is unreachable (${err.message}); retrying.`);
  }
  let data = null;
  try { data = await resp.json(); } catch (_err) { data = null; }
  if (resp.status === 401) {
    const why = (data && data.error) || "the gateway did not accept it";
    const error = new ApiError(401, `The token was refused: ${why}`);
    if (state.me) signedOut(error.message, { keepConversation: true });  // revoked or rotated meanwhile
    throw error;
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

function decisionButtons(approvalId, statusNode, { approve: canApprove = true, rejectLabel = "Reject" } = {}) {
  const approve = el("button", { class: "approve", type: "button", text: "Approve", "data-testid": `approve-${approvalId}` });
  const reject = el("button", { class: "reject", type: "button", text: rejectLabel, "data-testid": `reject-${approvalId}` });
  const decide = async (decision) => {
    approve.disabled = reject.disabled = true;
    statusNode.className = "status";
    statusNode.textContent = decision === "approve" ? "Approving…" : "Rejecting…";
    try {
      await api("POST", `/v1/approvals/${encodeURIComponent(approvalId)}`, { decision });
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
  return canApprove ? [approve, reject] : [reject];
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
  const body = { text };
  if (state.conversation) body.conversation_id = state.conversation;
  const sent = await api("POST", "/v1/messages", body);
  if (sent.conversation_id !== state.conversation) startConversation(sent.conversation_id);
}

// ---------------------------------------------------------------------------------------------
// Pending approvals: the gateway lists those you may decide, and your own requests

function hasRole(role) {
  const roles = (state.me && state.me.roles) || [];
  return roles.includes(role) || roles.includes("admin");
}

// The guard's rule, to know which buttons to offer (the guard still decides, and says why not).
function mayApprove(approval) {
  if (!state.me || !hasRole("approver")) return false;
  const me = state.me.user;
  if (approval.two_person && approval.requested_by === me) return false;
  if ((approval.approved_by || []).includes(me)) return false;
  const approvers = approval.approvers || [];
  return approvers.includes("*") || approvers.includes(me);
}

function clearPending() {
  document.getElementById("pending-list").replaceChildren();
  document.getElementById("pending-empty").hidden = false;
}

async function refreshPending() {
  if (!state.me) return;
  let data;
  try { data = await api("GET", "/v1/approvals"); } catch (err) { if (err.status === 401) banner(err.message); return; }
  if (!state.me) return;
  const list = document.getElementById("pending-list");
  const items = [];
  for (const approval of data.approvals || []) {
    const status = el("span", { class: "status" });
    const canApprove = mayApprove(approval);
    const mine = approval.requested_by === state.me.user;
    const approved = approval.approved_by || [];
    const notes = [];
    if (approved.length) notes.push(`approved so far by ${approved.join(", ")}`);
    if (mine && !canApprove) notes.push("your request: waiting for an approver");
    const item = el("li", { "data-testid": `pending-${approval.approval_id}` },
      el("div", { class: "text", text: approval.summary || approval.approval_id }),
      el("div", { class: "status", text: `${approval.approval_id} · ${approval.cluster || "no cluster"} · ` +
        `asked by ${approval.requested_by} · expires ${new Date(approval.expires_at).toLocaleTimeString()}` +
        (approval.two_person ? " · needs two approvers" : "") }),
      notes.length ? el("div", { class: "status", "data-testid": "pending-note", text: notes.join("; ") }) : null,
      el("pre", { text: (approval.steps || []).map(commandLine).join("\n") }),
      el("div", { class: "actions" }, ...decisionButtons(approval.approval_id, status,
        { approve: canApprove, rejectLabel: mine && !canApprove ? "Withdraw" : "Reject" }), status));
    items.push(item);
  }
  list.replaceChildren(...items);
  document.getElementById("pending-empty").hidden = items.length > 0;
}

// ---------------------------------------------------------------------------------------------
// Signing in and out: the token is checked with GET /v1/whoami, and kept for this tab only

function showAccount() {
  const signedIn = Boolean(state.me);
  document.getElementById("signin").hidden = signedIn;
  document.getElementById("account").hidden = !signedIn;
  const roles = signedIn ? (state.me.roles || []).join(", ") || "no role" : "";
  document.getElementById("whoami").textContent = signedIn ? `Signed in as ${state.me.user} (${roles})` : "";
}

async function signIn(token) {
  const attempt = ++state.signInId;
  state.token = token;
  state.me = null;
  showAccount();
  let me;
  try {
    me = await api("GET", "/v1/whoami");
  } catch (err) {
    if (attempt !== state.signInId) return;
    if (err.status === 0) {  // the gateway is not reachable yet: try again with the same token
      banner(err.message);
      setTimeout(() => { if (attempt === state.signInId && !state.me) signIn(token); }, 3000);
      return;
    }
    signedOut(err.status === 401 ? `${err.message} — ${SIGN_IN_HINT}` : err.message, { keepConversation: true });
    return;
  }
  if (attempt !== state.signInId) return;
  state.me = me;
  sessionStorage.setItem(KEYS.token, token);
  showAccount();
  banner("");
  startConversation(state.conversation);
  refreshPending();
}

// Forget the token; `keepConversation` when the token was refused (a new one continues it).
function signedOut(message, { keepConversation = false } = {}) {
  state.signInId += 1;
  state.token = "";
  state.me = null;
  sessionStorage.removeItem(KEYS.token);
  const conversation = state.conversation;
  startConversation(null);  // stops following, empties the log
  if (keepConversation && conversation) {
    state.conversation = conversation;
    sessionStorage.setItem(KEYS.conversation, conversation);
  }
  clearPending();
  document.getElementById("token").value = "";
  showAccount();
  banner(message);
}

// ---------------------------------------------------------------------------------------------
// Start

function init() {
  localStorage.removeItem("hermes.user");  // the old free-text name: who you are comes from the token
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.get("token")) {  // never sent to the server; kept for this tab only
    state.token = fragment.get("token");
    history.replaceState(null, "", location.pathname + location.search);
  }
  const token = document.getElementById("token");
  document.getElementById("signin").addEventListener("submit", (e) => {
    e.preventDefault();
    const value = token.value.trim();
    if (value) signIn(value);
  });
  document.getElementById("sign-out").addEventListener("click", () => {
    signedOut("Signed out: this tab no longer holds your token. " + SIGN_IN_HINT);
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
  showAccount();
  if (state.token) signIn(state.token);
  else banner(SIGN_IN_HINT);
  setInterval(refreshPending, 3000);
}

document.addEventListener("DOMContentLoaded", init);
