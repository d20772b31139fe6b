// The analytics dashboard: reads the analytics API with the caller's bearer token and
// draws the charts with Chart.js (served from this service, no CDN). The token comes
// from the address (#token=…) or the form, and stays in this tab's sessionStorage.
"use strict";

const state = { charts: {}, points: {}, empty: {}, names: {}, ready: false, errors: [] };
window.dashboardState = state;

const $ = (id) => document.getElementById(id);
const COLOURS = ["#2f6db5", "#e0792b", "#3a9d5d", "#c0392b", "#8e5ab5", "#7f8c8d", "#d4ac0d", "#16a085"];
const pct = (v) => (v === null || v === undefined ? "–" : Math.round(v * 100) + "%");

function token() {
  const match = location.hash.match(/token=([^&]+)/);
  if (match) {
    sessionStorage.setItem("analytics-token", decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem("analytics-token");
}

async function api(path, params) {
  const query = new URLSearchParams(Object.entries(params || {}).filter(([, v]) => v));
  const response = await fetch(`/analytics/${path}?${query}`, {
    headers: { Authorization: `Bearer ${token()}` },
  });
  if (response.status === 401) {
    sessionStorage.removeItem("analytics-token");
    $("login").hidden = false;
    throw new Error("the token was refused; paste another");
  }
  const body = await response.json();
  if (!response.ok) throw new Error(body.message || response.statusText);
  return body;
}

function monthRange(month, today) {
  const [y, m] = month.split("-").map(Number);
  const last = new Date(Date.UTC(y, m, 0)).getUTCDate();
  const end = `${month}-${String(last).padStart(2, "0")}`;
  // The days still to come have no complaints yet: they are not plotted as zeros.
  return { from: `${month}-01`, to: today && today < end ? today : end };
}

const NO_DATA = "暂无数据 · No data for this month";

function draw(id, config, points) {
  if (state.charts[id]) state.charts[id].destroy();
  delete state.charts[id];
  state.points[id] = points;
  // An empty chart says so, rather than showing bare axes that read as zeros.
  const canvas = $(id);
  let note = canvas.parentElement.querySelector(".empty");
  if (!note) {
    note = document.createElement("p");
    note.className = "empty";
    note.textContent = NO_DATA;
    canvas.after(note);
  }
  state.empty[id] = points === 0;
  canvas.hidden = state.empty[id];
  note.hidden = !state.empty[id];
  if (state.empty[id]) return;
  config.options = Object.assign({ responsive: true, maintainAspectRatio: true, animation: false }, config.options);
  state.charts[id] = new Chart(canvas, config);
}

const name = (department) => state.names[department] || department;

function kpis(o) {
  const sat = o.satisfaction;
  const tiles = [
    ["投诉量 Volume", o.volume],
    ["未办结 Open", o.open],
    ["超时 Overdue", o.overdue],
    ["首次答复满意率 Satisfied with the first answer", pct(sat.first_rate)],
    ["最终满意率 Satisfied in the end", pct(sat.rate)],
    ["曾不满意 Unsatisfied at least once", sat.ever_unsatisfied],
    ["回访未联系上 Never reached", sat.unreachable],
    ["重办率 Reopen rate", pct(o.reopen_rate)],
    ["升级 Escalated", o.escalated],
    ...o.sla.map((s) => [`${s.label_zh} ${s.label_en} · 达标`, pct(s.compliance)]),
  ];
  $("kpis").replaceChildren(
    ...tiles.map(([label, value]) => {
      const div = document.createElement("div");
      div.className = "kpi";
      const b = document.createElement("b");
      b.textContent = value;
      const span = document.createElement("span");
      span.textContent = label;
      div.append(b, span);
      return div;
    })
  );
}

async function refresh() {
  const month = $("month").value;
  const department = $("department").value;
  const range = monthRange(month, state.today);
  $("error").hidden = true;
  state.ready = false;
  try {
    const [overview, trends, pareto, sla, hot, arrivals] = await Promise.all([
      api("overview", { ...range, department }),
      api("trends", { ...range, department, by: "category" }),
      api("root-causes", { month, department }),
      api("sla-by-department", { ...range, department }),
      api("hot-issues", { ...range, department }),
      api("arrivals", { ...range, department }),
    ]);
    kpis(overview);
    draw("volume", {
      type: "line",
      data: {
        labels: trends.buckets.map((d) => d.slice(5)),
        datasets: trends.series.slice(0, 8).map((s, i) => ({
          label: s.key, data: s.counts, borderColor: COLOURS[i % 8], backgroundColor: COLOURS[i % 8], tension: 0.2,
        })),
      },
      options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
    }, trends.series.reduce((n, s) => n + s.total, 0));
    draw("pareto", {
      data: {
        labels: pareto.causes.map((c) => `${c.label_zh} ${c.label_en}`),
        datasets: [
          { type: "bar", label: "数量 Count", data: pareto.causes.map((c) => c.count), backgroundColor: COLOURS[0], yAxisID: "y" },
          { type: "line", label: "累计 Cumulative %", data: pareto.causes.map((c) => Math.round(c.cumulative * 100)), borderColor: COLOURS[1], backgroundColor: COLOURS[1], yAxisID: "y1" },
        ],
      },
      options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } }, y1: { position: "right", min: 0, max: 100 } } },
    }, pareto.causes.length);
    draw("sla", {
      type: "bar",
      data: {
        labels: sla.departments.map((d) => d.name || name(d.department)),
        datasets: [
          { label: "签收 Acceptance %", data: sla.departments.map((d) => d.acceptance_compliance === null ? null : Math.round(d.acceptance_compliance * 100)), backgroundColor: COLOURS[2] },
          { label: "办理 Resolution %", data: sla.departments.map((d) => d.resolution_compliance === null ? null : Math.round(d.resolution_compliance * 100)), backgroundColor: COLOURS[0] },
        ],
      },
      options: { scales: { y: { min: 0, max: 100 } } },
    }, sla.departments.length);
    // The first answer beside the final verdict: a customer who said "2" and was won
    // over later counts as unsatisfied first; those never reached are neither.
    const sat = overview.satisfaction;
    draw("satisfaction", {
      type: "bar",
      data: {
        labels: ["首次答复 First answer", "最终 Final"],
        datasets: [
          { label: "满意 Satisfied", data: [sat.first_satisfied, sat.satisfied], backgroundColor: COLOURS[2] },
          { label: "不满意 Unsatisfied", data: [sat.first_unsatisfied, sat.unsatisfied], backgroundColor: COLOURS[3] },
          { label: "未联系上 Never reached", data: [sat.unreachable, sat.unreachable], backgroundColor: COLOURS[5] },
        ],
      },
      options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } },
    }, sat.followed_up);
    draw("arrivals", {
      type: "bar",
      data: {
        labels: arrivals.hours.map((h) => `${String(h).padStart(2, "0")}:00`),
        datasets: arrivals.weekdays.map((w, i) => ({
          label: `${w.label_zh} ${w.label_en}`, data: w.counts, backgroundColor: COLOURS[i % 8],
        })),
      },
      options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } },
    }, arrivals.total);
    // A problem at a place, with how many people called about it: what a department acts on.
    draw("hotissues", {
      type: "bar",
      data: {
        labels: hot.issues.map((i) => i.label),
        datasets: [
          { label: "来电人 Callers", data: hot.issues.map((i) => i.callers), backgroundColor: COLOURS[4] },
          { label: "上期 Previous period", data: hot.issues.map((i) => i.previous_callers), backgroundColor: COLOURS[5] },
        ],
      },
      options: { indexAxis: "y", scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } },
    }, hot.issues.length);
    $("hot-issue-list").replaceChildren(
      ...hot.issues.map((i) => {
        const li = document.createElement("li");
        const b = document.createElement("b");
        b.textContent = i.label;
        const trend = i.new ? "新 new" : `上期 previously ${i.previous_callers}`;
        const where = i.departments.map((d) => d.name).join("、") || "值班台 duty desk";
        const refs = i.examples.map((e) => e.reference).join(" ");
        const span = document.createElement("span");
        span.textContent = ` — ${i.callers} 位来电人 callers, ${i.complaints} 件 complaints (${trend}); ${where}; ${i.first_at.slice(0, 10)} … ${i.last_at.slice(0, 10)}; ${refs}`;
        li.append(b, span);
        return li;
      })
    );
    state.ready = true;
  } catch (error) {
    state.errors.push(String(error));
    $("error").textContent = String(error.message || error);
    $("error").hidden = false;
  }
}

async function start() {
  if (!token()) {
    $("login").hidden = false;
    return;
  }
  $("login").hidden = true;
  try {
    const filters = await api("filters");
    state.today = filters.today;
    state.names = filters.department_names || {};
    // Only months with complaints are offered, and the page opens on the latest of them.
    const months = filters.months.length ? filters.months : [filters.default_month];
    $("month").replaceChildren(...months.map((m) => new Option(m, m)));
    const wanted = new URLSearchParams(location.search).get("month");
    $("month").value = wanted && months.includes(wanted) ? wanted : filters.default_month;
    $("department").append(...filters.departments.map((d) => new Option(name(d), d)));
  } catch (error) {
    $("error").textContent = String(error.message || error);
    $("error").hidden = false;
    return;
  }
  await refresh();
}

$("filters").addEventListener("change", refresh);
$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem("analytics-token", $("token").value.trim());
  start();
});
start();
