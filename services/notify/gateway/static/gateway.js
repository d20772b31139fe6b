// The development SMS gateway's page (page.html): a card per phone, refreshed every 2 s.
const phones = document.getElementById("phones");
let drafts = {};

function esc(s) { return String(s).replace(/[&<>"]/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c])); }

async function reply(phone, text) {
  const r = await fetch("api/reply", {method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({from: phone, text})});
  const body = await r.json();
  if (!r.ok) alert(body.message || ("notify answered " + body.notify_status));
  drafts[phone] = "";
  load();
}

function render(messages) {
  document.getElementById("count").textContent = messages.length + " messages";
  if (!messages.length) { phones.innerHTML = '<div class="empty">No SMS yet. 暂无短信。</div>'; return; }
  const byPhone = new Map();
  for (const m of messages) { if (!byPhone.has(m.phone)) byPhone.set(m.phone, []); byPhone.get(m.phone).push(m); }
  const focused = document.activeElement && document.activeElement.dataset.phone;
  phones.innerHTML = "";
  const ordered = [...byPhone.entries()].sort((a, b) => b[1].at(-1).created_at.localeCompare(a[1].at(-1).created_at));
  for (const [phone, items] of ordered) {
    const card = document.createElement("section");
    card.className = "phone";
    card.innerHTML = `<h2>${esc(phone)}</h2><div class="thread">${items.map(m => `
      <div class="sms ${m.direction}">${esc(m.body)}<div class="meta">${esc(m.created_at.slice(11, 19))} · ${esc(m.status)} · ${m.segments} part${m.segments > 1 ? "s" : ""} ${esc(m.encoding)}</div></div>`).join("")}</div>
      <form><span class="quick"><button type="button" data-t="1">1</button> <button type="button" data-t="2">2</button> <button type="button" data-t="退订">退订</button></span>
      <input data-phone="${esc(phone)}" placeholder="reply / 回复" value="${esc(drafts[phone] || "")}"><button>Reply</button></form>`;
    const input = card.querySelector("input");
    input.addEventListener("input", () => { drafts[phone] = input.value; });
    card.querySelector("form").addEventListener("submit", e => { e.preventDefault(); if (input.value.trim()) reply(phone, input.value.trim()); });
    card.querySelectorAll(".quick button").forEach(b => b.addEventListener("click", () => reply(phone, b.dataset.t)));
    phones.appendChild(card);
    const thread = card.querySelector(".thread");
    thread.scrollTop = thread.scrollHeight;
    if (focused === phone) { input.focus(); input.setSelectionRange(input.value.length, input.value.length); }
  }
}

async function load() {
  try { const r = await fetch("api/messages"); render((await r.json()).messages); } catch (e) {}
}

document.getElementById("newform").addEventListener("submit", e => {
  e.preventDefault();
  const phone = document.getElementById("newphone").value.trim(), text = document.getElementById("newtext").value.trim();
  if (phone && text) { reply(phone, text); document.getElementById("newtext").value = ""; }
});
load();
setInterval(load, 2000);
