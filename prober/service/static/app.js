// The prober web page: plain JavaScript, no build step, no external resources.
"use strict";

const WORDS = {
  en: {
    tagline: "Check an address without sending mail, and understand every SMTP reply.",
    "key.title": "API key",
    "key.label": "Key (sent as Authorization: Bearer …, kept in this browser)",
    "probe.title": "Check an address", "probe.label": "Address", "probe.button": "Check",
    "probe.fresh": "Ask the server again (skip the cache)",
    "probe.working": "Checking…", "probe.cached": "(answer from the cache, checked {when})",
    "explain.title": "Explain a reply or a bounce",
    "explain.label": "Paste an SMTP reply (550 5.1.1 …) or a whole bounce message",
    "explain.button": "Explain", "explain.none": "No failed recipient was recognised.",
    "explain.category": "Category", "explain.action": "What to do", "explain.who": "Who acts",
    "list.title": "Check a list",
    "list.label": "CSV (with an email column), JSON lines or one address a line",
    "list.button": "Upload", "list.csv": "Download CSV", "list.jsonl": "Download JSON lines",
    "list.status": "{done} of {total} done, {waiting} waiting for a re-probe ({status})",
    docs: "API documentation",
    verdict: { deliverable: "Deliverable", undeliverable: "Undeliverable", risky: "Risky", unknown: "Unknown" },
    events: { mx: "MX records found", connecting: "Connecting to {host} [{ip}]" },
  },
  it: {
    tagline: "Verificare un indirizzo senza inviare posta e capire ogni risposta SMTP.",
    "key.title": "Chiave API",
    "key.label": "Chiave (inviata come Authorization: Bearer …, conservata in questo browser)",
    "probe.title": "Verificare un indirizzo", "probe.label": "Indirizzo", "probe.button": "Verificare",
    "probe.fresh": "Chiedere di nuovo al server (senza cache)",
    "probe.working": "Verifica in corso…", "probe.cached": "(risposta dalla cache, verificata il {when})",
    "explain.title": "Spiegare una risposta o un rimbalzo",
    "explain.label": "Incollare una risposta SMTP (550 5.1.1 …) o un intero messaggio di rimbalzo",
    "explain.button": "Spiegare", "explain.none": "Nessun destinatario respinto riconosciuto.",
    "explain.category": "Categoria", "explain.action": "Cosa fare", "explain.who": "Chi interviene",
    "list.title": "Verificare un elenco",
    "list.label": "CSV (con una colonna email), JSON lines o un indirizzo per riga",
    "list.button": "Caricare", "list.csv": "Scaricare CSV", "list.jsonl": "Scaricare JSON lines",
    "list.status": "{done} su {total} completati, {waiting} in attesa di un nuovo tentativo ({status})",
    docs: "Documentazione dell'API",
    verdict: { deliverable: "Consegnabile", undeliverable: "Non consegnabile", risky: "A rischio", unknown: "Sconosciuto" },
    events: { mx: "Record MX trovati", connecting: "Connessione a {host} [{ip}]" },
  },
};

const $ = (id) => document.getElementById(id);
let lang = (new URLSearchParams(location.search).get("lang") || localStorage.getItem("prober.lang") ||
            (navigator.language || "en")).slice(0, 2) === "it" ? "it" : "en";
let auth = false;

function t(key, values) {
  let text = WORDS[lang][key] ?? WORDS.en[key] ?? key;
  for (const [name, value] of Object.entries(values || {})) text = text.replace(`{${name}}`, value);
  return text;
}

function setLang(next) {
  lang = next;
  localStorage.setItem("prober.lang", lang);
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll("[data-t]")) el.textContent = t(el.dataset.t);
  for (const b of document.querySelectorAll(".lang")) b.setAttribute("aria-pressed", String(b.dataset.lang === lang));
}

function headers(extra) {
  const h = Object.assign({}, extra || {});
  const key = $("key").value.trim();
  if (key) h.Authorization = `Bearer ${key}`;
  return h;
}

async function problem(response) {
  let text = `${response.status}`;
  try { const p = await response.json(); text = `${p.title}: ${p.detail}`; } catch (e) { /* not JSON */ }
  return text;
}

function showError(text) { $("error").textContent = text || ""; }

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function stepItem(step) {
  const li = el("li");
  const head = el("span", "", `${step.stage.toUpperCase()} `);
  li.append(head);
  if (step.command) li.append(el("span", "sent", `> ${step.command} `));
  const words = step.lines && step.lines.length ? step.lines.join(" / ") : (step.text || step.event || "");
  const reply = step.code ? `${step.code} ${words}` : words;
  li.append(el("span", "reply", `${step.event ? "=" : "<"} ${reply}`));
  if (step.explanation && step.explanation.meaning) li.append(el("span", "why", step.explanation.meaning));
  return li;
}

function showVerdict(result) {
  const v = $("verdict");
  v.className = `verdict ${result.verdict}`;
  v.textContent = `${WORDS[lang].verdict[result.verdict] || result.verdict} (${result.reason})`;
  let summary = result.summary;
  if (result.cached) summary += " " + t("probe.cached", { when: result.checked_at });
  $("summary").textContent = summary;
}

function parseFrames(buffer, onFrame) {
  let at;
  while ((at = buffer.indexOf("\n\n")) >= 0) {
    const frame = buffer.slice(0, at);
    buffer = buffer.slice(at + 2);
    let kind = "message", data = "";
    for (const line of frame.split("\n")) {
      if (line.startsWith("event: ")) kind = line.slice(7);
      else if (line.startsWith("data: ")) data += line.slice(6);
    }
    if (data) onFrame(kind, JSON.parse(data));
  }
  return buffer;
}

async function probe(event) {
  event.preventDefault();
  showError("");
  const list = $("transcript");
  list.replaceChildren();
  $("verdict").className = "verdict";
  $("verdict").textContent = t("probe.working");
  $("summary").textContent = "";
  const query = `lang=${lang}` + ($("fresh").checked ? "&fresh=true" : "");
  const response = await fetch(`/v1/probe/events?${query}`, {
    method: "POST", headers: headers({ "Content-Type": "application/json" }),
    body: JSON.stringify({ address: $("address").value.trim() }),
  });
  if (!response.ok) { $("verdict").textContent = ""; showError(await problem(response)); return; }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "", live = false;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer = parseFrames(buffer + decoder.decode(value, { stream: true }), (kind, data) => {
      if (kind === "step") { live = true; list.append(stepItem(data.step)); }
      else if (WORDS[lang].events[kind]) {
        live = true;
        const words = WORDS[lang].events[kind];
        list.append(el("li", "event", words.replace("{host}", data.host || "").replace("{ip}", data.ip || "")));
      } else if (kind === "result") {
        if (!live) for (const a of data.attempts) for (const s of a.steps) list.append(stepItem(s));
        showVerdict(data);
      } else if (kind === "error") { showError(data.detail); }
    });
  }
}

function explanationBlock(why, heading) {
  const box = el("div", "explanation");
  if (heading) box.append(el("h3", "", heading));
  const cat = el("p");
  cat.append(el("span", "", `${t("explain.category")}: `), el("span", "category", why.category));
  box.append(cat, el("p", "", why.meaning));
  if (why.action) box.append(el("p", "", `${t("explain.action")}: ${why.action}`));
  if (why.who) box.append(el("p", "", `${t("explain.who")}: ${why.who}`));
  return box;
}

async function explainPasted(event) {
  event.preventDefault();
  showError("");
  const out = $("explain-out");
  const text = $("pasted").value;
  const kind = /^[!-9;-~]+:/.test(text) && /\r?\n\r?\n/.test(text) ? "message/rfc822" : "text/plain";
  const response = await fetch(`/v1/explain?lang=${lang}`, {
    method: "POST", headers: headers({ "Content-Type": kind }), body: text,
  });
  if (!response.ok) { showError(await problem(response)); return; }
  const data = await response.json();
  out.replaceChildren();
  if (data.recipients) {
    if (!data.recipients.length) out.append(el("p", "", t("explain.none")));
    for (const r of data.recipients) out.append(explanationBlock(r.explanation, r.address || "?"));
  } else {
    out.append(explanationBlock(data));
  }
}

let job = null;

async function uploadList(event) {
  event.preventDefault();
  showError("");
  const file = $("list-file").files[0];
  if (!file) return;
  const form = new FormData();
  form.append("file", file);
  const response = await fetch(`/v1/lists?lang=${lang}`, { method: "POST", headers: headers(), body: form });
  if (!response.ok) { showError(await problem(response)); return; }
  job = await response.json();
  $("list-progress").hidden = false;
  $("list-links").hidden = false;
  poll();
}

async function poll() {
  if (!job) return;
  const response = await fetch(job.status_url, { headers: headers() });
  if (!response.ok) { showError(await problem(response)); return; }
  const s = await response.json();
  const bar = $("list-progress");
  bar.max = Math.max(1, s.total);
  bar.value = s.done + s.waiting;
  $("list-status").textContent = t("list.status", { done: s.done, total: s.total, waiting: s.waiting, status: s.status }) +
    " — " + Object.entries(s.counts).map(([k, n]) => `${WORDS[lang].verdict[k] || k}: ${n}`).join(", ");
  if (s.status !== "done") setTimeout(poll, 1000);
}

async function download(format) {
  if (!job) return;
  const response = await fetch(`${job.results_url}?format=${format}`, { headers: headers() });
  if (!response.ok) { showError(await problem(response)); return; }
  const url = URL.createObjectURL(await response.blob());
  const a = el("a");
  a.href = url;
  a.download = `prober-${job.id}.${format}`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

async function start() {
  setLang(lang);
  for (const b of document.querySelectorAll(".lang")) b.addEventListener("click", () => setLang(b.dataset.lang));
  $("key").value = localStorage.getItem("prober.key") || "";
  $("key").addEventListener("change", () => localStorage.setItem("prober.key", $("key").value.trim()));
  $("probe-form").addEventListener("submit", (e) => probe(e).catch((x) => showError(String(x))));
  $("explain-form").addEventListener("submit", (e) => explainPasted(e).catch((x) => showError(String(x))));
  $("list-form").addEventListener("submit", (e) => uploadList(e).catch((x) => showError(String(x))));
  $("get-csv").addEventListener("click", () => download("csv"));
  $("get-jsonl").addEventListener("click", () => download("jsonl"));
  try {
    const config = await (await fetch("/v1/config")).json();
    auth = config.auth;
    $("key-section").hidden = !auth;
  } catch (e) { /* the page still works without it */ }
  document.body.dataset.ready = "true";
}

start();
