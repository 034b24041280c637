namespace TaskQueue.Core.Dashboard;

/// <summary>The dashboard's page: plain HTML and script over the JSON API, no build step, refreshed every 2 s.</summary>
internal static class DashboardPage
{
    public static string Html(bool readOnly) => Template.Replace("__READONLY__", readOnly ? "true" : "false");

    private const string Template = @"<!DOCTYPE html>
<html lang='en'><head><meta charset='utf-8'><title>TaskQueue</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin-bottom: 1.5em; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
h2 { margin-top: 1.2em; }
button { cursor: pointer; }
</style></head>
<body>
<h1>TaskQueue</h1>
<h2>Queues</h2>
<table id='queues'><thead><tr><th>Queue</th><th>Pending</th><th>Scheduled</th><th>Active</th><th>Retrying</th><th>Succeeded</th><th>Failed</th></tr></thead><tbody></tbody></table>
<h2>Throughput, tasks per minute, last 3 hours</h2>
<div id='throughput'></div>
<h2>Workers</h2>
<table id='workers'><thead><tr><th>Worker</th><th>Host</th><th>Queues</th><th>Concurrency</th><th>Running</th><th>Processed</th><th>Last heartbeat</th></tr></thead><tbody></tbody></table>
<h2>Failures</h2>
<table id='failures'><thead><tr><th>Queue</th><th>Id</th><th>Task</th><th>Reason</th><th>Message</th><th>Attempts</th><th></th></tr></thead><tbody></tbody></table>
<script>
const readOnly = __READONLY__;
const token = new URLSearchParams(location.search).get('token');
const headers = token ? { Authorization: 'Bearer ' + token } : {};
const esc = s => String(s ?? '').replace(/[&<>'""]/g, c => '&#' + c.charCodeAt(0) + ';');
async function api(path, options) { const r = await fetch(path, { headers, ...options }); return r.json(); }
async function refresh() {
  const queues = await api('/api/queues');
  document.querySelector('#queues tbody').innerHTML = queues.map(q =>
    `<tr data-queue='${esc(q.name)}'><td>${esc(q.name)}</td>` + ['pending','scheduled','active','retrying','succeeded','failed'].map(k => `<td class='n ${k}'>${q[k]}</td>`).join('') + '</tr>').join('');
  await chart(queues);
  const workers = await api('/api/workers');
  document.querySelector('#workers tbody').innerHTML = workers.map(w =>
    `<tr><td>${esc(w.id)}</td><td>${esc(w.host)}</td><td>${esc(w.queues)}</td><td class='n'>${esc(w.concurrency)}</td><td class='n'>${esc(w.running)}</td><td class='n'>${esc(w.processed)}</td><td>${new Date(Number(w.heartbeat)).toLocaleTimeString()}</td></tr>`).join('');
  const rows = [];
  for (const q of queues.filter(q => q.failed > 0)) {
    for (const f of await api('/api/failures/' + encodeURIComponent(q.name) + '?first=50')) {
      rows.push(`<tr data-id='${esc(f.id)}'><td>${esc(q.name)}</td><td>${esc(f.id)}</td><td>${esc(f.name)}</td><td>${esc(f.reason)}</td><td title='${esc(f.scriptStackTrace)}'>${esc(f.message)}</td><td class='n'>${f.attempts}</td><td>` +
        (readOnly ? '' : `<button class='retry' onclick=""retry('${esc(q.name)}','${esc(f.id)}')"">Retry</button>`) + '</td></tr>');
    }
  }
  document.querySelector('#failures tbody').innerHTML = rows.join('');
}
async function chart(queues) {
  // One line per queue for succeeded (solid) and failed (dashed), drawn as inline SVG.
  const w = 720, h = 180, colors = ['#1f77b4', '#2ca02c', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
  const lines = [];
  let max = 1;
  for (const [i, q] of queues.entries()) {
    const series = await api('/api/throughput/' + encodeURIComponent(q.name) + '?minutes=180');
    series.forEach(p => max = Math.max(max, p.succeeded, p.failed));
    lines.push({ name: q.name, color: colors[i % colors.length], series });
  }
  const path = (s, key) => s.map((p, i) => `${(i / Math.max(1, s.length - 1) * (w - 40) + 30).toFixed(1)},${(h - 20 - p[key] / max * (h - 30)).toFixed(1)}`).join(' ');
  document.querySelector('#throughput').innerHTML = `<svg width='${w}' height='${h}'><text x='0' y='12' font-size='11'>${max}</text>` +
    lines.map(l => `<polyline fill='none' stroke='${l.color}' points='${path(l.series, 'succeeded')}'/><polyline fill='none' stroke='${l.color}' stroke-dasharray='4,3' points='${path(l.series, 'failed')}'/>`).join('') +
    `</svg><div>` + lines.map(l => `<span style='color:${l.color}'>&#9632; ${esc(l.name)}</span> `).join('') + ` (dashed: failed)</div>`;
}
async function retry(queue, id) {
  await api('/api/failures/' + encodeURIComponent(queue) + '/' + encodeURIComponent(id) + '/retry', { method: 'POST' });
  refresh();
}
refresh();
setInterval(refresh, 2000);
</script>
</body></html>";
}
