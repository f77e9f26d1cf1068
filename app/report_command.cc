#include "app/report_command.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "app/explain_command.h"
#include "detectors/explain.h"

namespace harrier {
namespace {

using Json = nlohmann::ordered_json;

const Json& member(const Json& j, const char* key) {
  static const Json kNull;
  const auto it = j.is_object() ? j.find(key) : j.end();
  return it == j.end() ? kNull : *it;
}

std::string html_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// JSON inside a <script> element: "</" would end the element early.
std::string script_json(const Json& j) {
  std::string s = j.dump();
  for (size_t at = 0; (at = s.find("</", at)) != std::string::npos; at += 3)
    s.replace(at, 2, "<\\/");
  return s;
}

// The numbers the page draws, computed here once; the page's script only
// draws them (and the test checks the drawn charts against the EVE file).
Json page_data(const std::vector<Json>& incidents, uint64_t folded, const std::string& title) {
  std::map<std::string, uint64_t> per_detector, sources, targets;
  Json timeline = Json::array(), rows = Json::array();
  for (const Json& a : incidents) {
    const std::string detector = eve_text(a, "detector");
    ++per_detector[detector];
    ++sources[eve_text(a, "src_ip")];
    ++targets[eve_text(a, "dest_ip")];
    const Json& hr = member(a, "harrier");
    const Json& ev = member(hr, "evidence");
    const std::string first =
        ev.contains("first_seen") ? eve_text(ev, "first_seen") : eve_text(a, "timestamp");
    const int severity = member(a, "alert").value("severity", 3);
    const Json& score = member(hr, "score");
    timeline.push_back({{"t", first}, {"detector", detector}, {"severity", severity}});
    std::string write_up;
    try {
      write_up = explain_alert(a);
    } catch (const std::exception& e) {
      write_up = std::string("(no write-up: ") + e.what() + ")";
    }
    rows.push_back({{"first_seen", first},
                    {"detector", detector},
                    {"severity", severity},
                    {"score", score.is_object() ? score.value("value", 0) : 0},
                    {"src", eve_text(a, "src_ip")},
                    {"dst", eve_text(a, "dest_ip")},
                    {"signature", eve_text(member(a, "alert"), "signature")},
                    {"capture", eve_text(hr, "capture_file")},
                    {"explanation", write_up}});
  }
  auto top = [](const std::map<std::string, uint64_t>& m, size_t n) {
    std::vector<std::pair<std::string, uint64_t>> v(m.begin(), m.end());
    std::stable_sort(v.begin(), v.end(),
                     [](const auto& x, const auto& y) { return x.second > y.second; });
    if (v.size() > n) v.resize(n);
    Json out = Json::array();
    for (const auto& [k, c] : v)
      out.push_back({k, c});
    return out;
  };
  Json detectors = Json::array();
  for (const auto& [d, c] : per_detector)
    detectors.push_back({d, c});
  return {{"title", title},
          {"incidents", incidents.size()},
          {"folded", folded},
          {"per_detector", detectors},
          {"top_sources", top(sources, 10)},
          {"top_targets", top(targets, 10)},
          {"timeline", timeline},
          {"rows", rows}};
}

// The page's own script: draws the charts from the embedded data and fills
// the table; marks the body with what it drew (for a reader, and the test).
constexpr const char* kPageScript = R"JS(
const data = JSON.parse(document.getElementById('data').textContent);
const sevColor = s => s === 1 ? '#c62828' : s === 2 ? '#ef6c00' : '#1565c0';
const drawn = [];
function chart(id, cfg) {
  const c = new Chart(document.getElementById(id), cfg);
  drawn.push(c);
  return c;
}
const detectors = data.per_detector.map(d => d[0]);
// EVE time ends in +0000; ISO 8601 as Date.parse takes it wants +00:00.
const ms = t => Date.parse(t.replace(/([+-]\d\d)(\d\d)$/, '$1:$2'));
const t0 = data.timeline.length ? Math.min(...data.timeline.map(p => ms(p.t))) : 0;
chart('timeline', {
  type: 'scatter',
  data: {datasets: [1, 2, 3].map(s => ({
    label: 'severity ' + s,
    backgroundColor: sevColor(s),
    pointRadius: 7 - s,
    data: data.timeline.filter(p => p.severity === s)
              .map(p => ({x: (ms(p.t) - t0) / 3600e3, y: detectors.indexOf(p.detector)}))
  }))},
  options: {animation: false, scales: {
    x: {title: {display: true, text: 'hours since ' + new Date(t0).toISOString()}},
    y: {min: -0.5, max: detectors.length - 0.5,
        afterBuildTicks: axis => { axis.ticks = detectors.map((_, i) => ({value: i})); },
        ticks: {autoSkip: false, callback: v => detectors[v] || ''}}
  }}
});
const bars = (id, rows, label) => chart(id, {
  type: 'bar',
  data: {labels: rows.map(r => r[0]), datasets: [{label, data: rows.map(r => r[1]), backgroundColor: '#546e7a'}]},
  options: {animation: false, indexAxis: 'y', plugins: {legend: {display: false}}}
});
bars('per_detector', data.per_detector, 'incidents');
bars('top_sources', data.top_sources, 'incidents');
bars('top_targets', data.top_targets, 'incidents');
const body = document.getElementById('incidents');
for (const r of data.rows) {
  const tr = document.createElement('tr');
  tr.className = 'sev' + r.severity;
  const cells = [r.first_seen, r.detector, r.severity + ' (' + r.score + ')', r.src, r.dst, r.signature];
  for (const v of cells) {
    const td = document.createElement('td');
    td.textContent = v;
    tr.appendChild(td);
  }
  const td = document.createElement('td');
  if (r.capture) {
    const a = document.createElement('a');
    a.href = r.capture;
    a.textContent = 'packets';
    td.appendChild(a);
  }
  const d = document.createElement('details');
  const s = document.createElement('summary');
  s.textContent = 'write-up';
  const pre = document.createElement('pre');
  pre.textContent = r.explanation;
  d.append(s, pre);
  td.appendChild(d);
  tr.appendChild(td);
  body.appendChild(tr);
}
// What was drawn, as the charts hold it.
const sum = c => c.data.datasets.reduce((n, ds) => n + ds.data.length, 0);
document.body.dataset.charts = drawn.filter(c => c.canvas.width > 0 && sum(c) > 0).length;
document.body.dataset.timelinePoints = sum(drawn[0]);
document.body.dataset.perDetector = JSON.stringify(
    Object.fromEntries(drawn[1].data.labels.map((l, i) => [l, drawn[1].data.datasets[0].data[i]])));
document.body.dataset.rows = body.rows.length;
)JS";

constexpr const char* kStyle = R"CSS(
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
h1 { margin-bottom: 0; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 2em; }
.wide { grid-column: 1 / span 2; }
table { border-collapse: collapse; width: 100%; margin-top: 1em; }
td, th { border-bottom: 1px solid #ddd; padding: 4px 6px; text-align: left; vertical-align: top; }
tr.sev1 td:nth-child(3) { color: #c62828; font-weight: bold; }
tr.sev2 td:nth-child(3) { color: #ef6c00; }
pre { white-space: pre-wrap; font-size: 12px; background: #f6f6f6; padding: 8px; }
)CSS";

bool read_file(const std::string& path, std::string* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  std::ostringstream s;
  s << f.rdbuf();
  *out = s.str();
  return true;
}

}  // namespace

int run_report(const ReportOptions& opts) {
  std::string chart_js;
  if (!read_file(opts.chart_js, &chart_js)) {
    std::fprintf(stderr,
                 "harrier report: %s: cannot read the charting library (%s); install Debian's "
                 "libjs-chart.js (scripts/setup does)\n",
                 opts.chart_js.c_str(), std::strerror(errno));
    return 2;
  }
  ExplainOptions eo;
  eo.files = opts.files;
  std::vector<Json> incidents;
  uint64_t folded = 0;
  const int status = read_eve_alerts(eo, &incidents, &folded);
  if (status == 2) return 2;
  const Json data = page_data(incidents, folded, opts.title);

  std::string files;
  for (const std::string& f : opts.files)
    files += (files.empty() ? "" : ", ") + f;
  std::ostringstream page;
  page << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>"
       << html_escape(opts.title) << "</title>\n<style>" << kStyle << "</style>\n"
       << "<script>" << chart_js << "</script>\n</head>\n<body>\n"
       << "<h1>" << html_escape(opts.title) << "</h1>\n<p>" << incidents.size() << " incidents ("
       << folded << " findings folded into them as evidence) from " << html_escape(files)
       << ".</p>\n"
       << "<div class=\"grid\">\n"
       << "<div class=\"wide\"><h2>Timeline: incidents by detector and severity</h2>"
          "<canvas id=\"timeline\" height=\"90\"></canvas></div>\n"
       << "<div><h2>Incidents per detector</h2><canvas id=\"per_detector\"></canvas></div>\n"
       << "<div><h2>Top sources</h2><canvas id=\"top_sources\"></canvas></div>\n"
       << "<div><h2>Top targets</h2><canvas id=\"top_targets\"></canvas></div>\n</div>\n"
       << "<h2>Incidents</h2>\n<table><thead><tr><th>first seen</th><th>detector</th>"
          "<th>severity (score)</th><th>source</th><th>target</th><th>what</th><th></th></tr>"
          "</thead><tbody id=\"incidents\"></tbody></table>\n"
       << "<script type=\"application/json\" id=\"data\">" << script_json(data) << "</script>\n"
       << "<script>" << kPageScript << "</script>\n</body></html>\n";

  std::ofstream out(opts.out, std::ios::binary | std::ios::trunc);
  if (!out || !(out << page.str()) || !out.flush()) {
    std::fprintf(stderr, "harrier report: %s: cannot write: %s\n", opts.out.c_str(),
                 std::strerror(errno));
    return 2;
  }
  std::fprintf(stderr, "harrier report: %s: %zu incidents\n", opts.out.c_str(), incidents.size());
  return status;
}

}  // namespace harrier
