// The analytics dashboard: reads the analytics API with the caller's bearer token and
// draws the charts with Chart.js (served from this service, no CDN). The token comes
// from the address (#token=…) or the form, and stays in this tab's sessionStorage.
// A client's token shows its own client's figures, named at the top; the centre's own
// staff choose a client (or all of them) and see each client side by side below. The
// centre's planners also get the staffing plan: calls forecast per half-hour and the
// agents needed, with what-ifs.
"use strict";

const state = {
  charts: {}, points: {}, empty: {}, names: {}, ready: false, errors: [],
  ownTenant: null, clients: [], centre: null, plan: null, planTenant: null,
};
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
    ["当场解答率 Answered at first contact", pct(o.first_contact_rate)],
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

const clientName = (id) => {
  const found = state.clients.find((c) => c.id === id);
  return found ? (found.en && found.en !== found.zh ? `${found.zh} ${found.en}` : found.zh) : id;
};

function cells(row, tag) {
  const tr = document.createElement("tr");
  tr.append(...row.map((value) => {
    const cell = document.createElement(tag);
    cell.textContent = value === null || value === undefined ? "–" : value;
    return cell;
  }));
  return tr;
}

// The outsourcer's own view: each client's month side by side, and who served whom.
async function centre(month, stageNames) {
  const [byClient, staffing] = await Promise.all([
    api("tenants", { month }),
    api("tenants/staffing", { month }),
  ]);
  state.centre = { clients: byClient.tenants, staffing };
  const stages = byClient.tenants.length ? Object.keys(byClient.tenants[0].sla_met) : [];
  $("centre-clients").replaceChildren(
    cells(["客户 Client", "投诉 Complaints", "来电人 Callers", "未办结 Open", "已办结 Closed",
      "升级 Escalated", "重办 Reopened", ...stages.map((s) => `${stageNames[s] || s} 达标`),
      "首次满意 First answer", "最终满意 Final", "平均答复 Mean hours to answer"], "th"),
    ...byClient.tenants.map((c) => cells([
      `${c.name_zh} ${c.name_en}`, c.complaints, c.callers, c.open, c.closed, c.escalated,
      c.reopened, ...stages.map((s) => pct(c.sla_met[s])), pct(c.first_satisfaction_rate),
      pct(c.satisfaction_rate), c.mean_resolution_hours,
    ], "td")),
  );
  const clients = staffing.tenants.map((t) => t.tenant);
  $("centre-staffing").replaceChildren(
    cells(["坐席 Staff", "登记 Registered", ...clients.map(clientName)], "th"),
    ...staffing.agents.map((a) => {
      const by = Object.fromEntries(a.tenants.map((t) => [t.tenant, t]));
      return cells([a.agent, a.registrations, ...clients.map((id) =>
        by[id] ? `${by[id].registrations} (${pct(by[id].share)})` : "")], "td");
    }),
    cells(["客户合计 Each client", staffing.tenants.reduce((n, t) => n + t.registrations, 0),
      ...staffing.tenants.map((t) => `${t.registrations} · ${t.agents.length} 人 staff`)], "td"),
  );
  $("centre").hidden = false;
}

// --- the staffing plan ---------------------------------------------------------------

const DAY_TYPES = {
  mon: "一 Mon", tue: "二 Tue", wed: "三 Wed", thu: "四 Thu", fri: "五 Fri", sat: "六 Sat",
  sun: "日 Sun", holiday: "假 Holiday", workday: "调休 Make-up day",
};
const HANDLING_SOURCES = { measured: "实测 measured", given: "假设 what-if", configured: "默认 configured" };

// What the planner asked: percentages on the page, shares in the API. Strings, so that a
// shrinkage of 0 is sent rather than dropped.
function planParams() {
  const value = (id) => $(id).value.trim();
  return {
    weeks: value("plan-weeks"),
    service_level: value("plan-sl") && String(Number(value("plan-sl")) / 100),
    answer_seconds: value("plan-answer"),
    shrinkage: value("plan-shrinkage") && String(Number(value("plan-shrinkage")) / 100),
    handling_seconds: value("plan-handling"),
    tenant: $("tenant").value,
  };
}

function planSummary(body) {
  const share = (v) => (v === null || v === undefined ? "–" : (v * 100).toFixed(1) + "%");
  const handling = body.handling;
  const measured = handling.source !== "measured" && handling.measured_seconds
    ? `; 实测 measured ${Math.round(handling.measured_seconds)} s` : "";
  const check = body.holdout;
  const parts = [
    `处理时长 Handling time ${Math.round(handling.seconds)} s (${HANDLING_SOURCES[handling.source] || handling.source}${measured})`,
    check
      ? `预测误差 Forecast error on ${check.from} … ${check.to} held out: WAPE ${share(check.model.wape)}, ` +
        `${check.model.mae} 通/半小时 calls per half-hour; 上周同时段 same half-hour last week: ` +
        `WAPE ${share(check.baseline.wape)}, ${check.baseline.mae}`
      : "预测误差 Forecast error: 历史不足 not enough history to hold weeks out",
    `历史 History ${body.history.from || "–"} … ${body.history.to || "–"}: ${body.history.arrivals} 通 calls`,
  ];
  if (body.note) parts.unshift(body.note);
  return parts.join(" · ");
}

// Rows: the half-hours anyone is needed in; columns: the days; each cell the agents to
// schedule and (in brackets) the calls forecast.
function planTable(body) {
  const byTime = new Map();
  for (const i of body.intervals) {
    if (!byTime.has(i.time)) byTime.set(i.time, {});
    byTime.get(i.time)[i.day] = i;
  }
  const times = [...byTime.keys()].filter((t) => body.days.some((d) => (byTime.get(t)[d.day] || {}).scheduled));
  const head = cells(["时段 Time", ...body.days.map((d) => `${d.day.slice(5)} ${DAY_TYPES[d.day_type] || d.day_type}`)], "th");
  [...head.cells].slice(1).forEach((cell, n) => {
    if (body.days[n].day_type === "holiday") cell.className = "holiday";
  });
  $("plan-table").replaceChildren(
    head,
    ...times.map((t) => cells([t, ...body.days.map((d) => {
      const i = byTime.get(t)[d.day];
      return i ? `${i.scheduled} (${i.arrivals})` : "";
    })], "td")),
    cells(["来电 Calls", ...body.days.map((d) => d.arrivals)], "td"),
    cells(["排班工时 Scheduled hours", ...body.days.map((d) => d.scheduled_hours)], "td"),
  );
}

async function plan() {
  const body = await api("staffing", planParams());
  state.plan = body;
  state.planTenant = $("tenant").value;
  $("plan-summary").textContent = planSummary(body);
  draw("plan-chart", {
    data: {
      labels: body.intervals.map((i) => `${i.day.slice(5)} ${i.time}`),
      datasets: [
        { type: "bar", label: "预测来电 Calls forecast", data: body.intervals.map((i) => i.arrivals), backgroundColor: COLOURS[0], yAxisID: "y" },
        { type: "line", label: "应排坐席 Agents to schedule", data: body.intervals.map((i) => i.scheduled), borderColor: COLOURS[1], backgroundColor: COLOURS[1], stepped: true, pointRadius: 0, yAxisID: "y1" },
        { type: "line", label: "接听坐席 Agents at the phones", data: body.intervals.map((i) => i.agents), borderColor: COLOURS[2], backgroundColor: COLOURS[2], stepped: true, pointRadius: 0, yAxisID: "y1" },
      ],
    },
    options: {
      scales: {
        y: { beginAtZero: true, title: { display: true, text: "来电 Calls" } },
        y1: { position: "right", beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: "坐席 Agents" } },
      },
    },
  }, body.intervals.length);
  planTable(body);
}

// The API wants the token in a header, so the CSV is fetched and handed over as a file.
async function planCsv() {
  const params = Object.entries({ ...planParams(), format: "csv" }).filter(([, v]) => v);
  const response = await fetch(`/analytics/staffing?${new URLSearchParams(params)}`, {
    headers: { Authorization: `Bearer ${token()}` },
  });
  if (!response.ok) throw new Error((await response.json()).message || response.statusText);
  const named = (response.headers.get("Content-Disposition") || "").match(/filename="([^"]+)"/);
  const link = document.createElement("a");
  link.href = URL.createObjectURL(await response.blob());
  link.download = named ? named[1] : "staffing.csv";
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

function failed(error) {
  state.errors.push(String(error));
  $("error").textContent = String(error.message || error);
  $("error").hidden = false;
}

async function refresh() {
  const month = $("month").value;
  const department = $("department").value;
  // A client's token is limited to its own client whatever it asks: it asks nothing.
  const tenant = $("tenant").value;
  const range = monthRange(month, state.today);
  $("error").hidden = true;
  state.ready = false;
  try {
    const [overview, trends, pareto, sla, hot, arrivals] = await Promise.all([
      api("overview", { ...range, department, tenant }),
      api("trends", { ...range, department, tenant, by: "category" }),
      api("root-causes", { month, department, tenant }),
      api("sla-by-department", { ...range, department, tenant }),
      api("hot-issues", { ...range, department, tenant }),
      api("arrivals", { ...range, department, tenant }),
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
    // Every client's issues together: each says whose it is.
    const whose = (i) => (!tenant && state.clients.length > 1 && i.tenant ? `[${clientName(i.tenant)}] ` : "");
    draw("hotissues", {
      type: "bar",
      data: {
        labels: hot.issues.map((i) => whose(i) + i.label),
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
        b.textContent = whose(i) + i.label;
        const trend = i.new ? "新 new" : `上期 previously ${i.previous_callers}`;
        const where = i.departments.map((d) => d.name).join("、") || "值班台 duty desk";
        const refs = i.examples.map((e) => e.reference).join(" ");
        const span = document.createElement("span");
        span.textContent = ` — ${i.callers} 位来电人 callers, ${i.complaints} 件 complaints (${trend}); ${where}; ${i.first_at.slice(0, 10)} … ${i.last_at.slice(0, 10)}; ${refs}`;
        li.append(b, span);
        return li;
      })
    );
    if (state.centreViews) {
      await centre(month, Object.fromEntries(overview.sla.map((s) => [s.stage, `${s.label_zh} ${s.label_en}`])));
    }
    // The plan looks ahead from today: a month or department chosen does not change it.
    if (state.staffingViews && (state.plan === null || state.planTenant !== tenant)) await plan();
    state.ready = true;
  } catch (error) {
    state.errors.push(String(error));
    $("error").textContent = String(error.message || error);
    $("error").hidden = false;
  }
}

// The months and departments of the client chosen (or of all, or of the token's own).
async function loadFilters() {
  const filters = await api("filters", { tenant: $("tenant").value });
  state.today = filters.today;
  state.names = filters.department_names || {};
  // Only months with complaints are offered, and the page opens on the latest of them.
  const months = filters.months.length ? filters.months : [filters.default_month];
  const shown = $("month").value || new URLSearchParams(location.search).get("month");
  $("month").replaceChildren(...months.map((m) => new Option(m, m)));
  $("month").value = shown && months.includes(shown) ? shown : filters.default_month;
  const department = $("department").value;
  $("department").replaceChildren(
    new Option("全部 All", ""),
    ...filters.departments.map((d) => new Option(name(d), d))
  );
  if (filters.departments.includes(department)) $("department").value = department;
  return filters;
}

function clients(filters) {
  state.ownTenant = filters.own_tenant;
  state.clients = filters.tenants || [];
  state.centreViews = Boolean(filters.centre_views);
  state.staffingViews = Boolean(filters.staffing_views);
  $("plan").hidden = !state.staffingViews;
  if (state.ownTenant) {
    // One client's token: its client named, nothing to choose.
    if (state.ownTenant !== "default" || state.clients.length > 1) {
      $("client").textContent = `客户 Client: ${clientName(state.ownTenant)}`;
      $("client").hidden = false;
    }
    return;
  }
  if (state.clients.length > 1) {
    $("tenant").append(...state.clients.map((c) => new Option(clientName(c.id), c.id)));
    const wanted = new URLSearchParams(location.search).get("tenant");
    if (wanted && state.clients.some((c) => c.id === wanted)) $("tenant").value = wanted;
    $("tenant-choice").hidden = false;
  }
}

async function start() {
  if (!token()) {
    $("login").hidden = false;
    return;
  }
  $("login").hidden = true;
  try {
    clients(await api("filters"));
    await loadFilters();
  } catch (error) {
    $("error").textContent = String(error.message || error);
    $("error").hidden = false;
    return;
  }
  await refresh();
}

$("filters").addEventListener("change", async (event) => {
  if (event.target.id === "tenant") {
    try {
      await loadFilters();
    } catch (error) {
      $("error").textContent = String(error.message || error);
      $("error").hidden = false;
      return;
    }
  }
  await refresh();
});
$("plan-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("error").hidden = true;
  state.ready = false;
  try {
    await plan();
    state.ready = true;
  } catch (error) {
    failed(error);
  }
});
$("plan-csv").addEventListener("click", () => planCsv().catch(failed));
$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem("analytics-token", $("token").value.trim());
  start();
});
start();
