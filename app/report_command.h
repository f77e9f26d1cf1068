// `harrier report FILE.eve... -o report.html`: the analyst's page. One
// self-contained HTML file (the charting library, Debian's Chart.js, is
// inlined, so it opens offline): a timeline of incidents by detector and
// severity, incidents per detector, top sources and targets, and each
// incident's write-up (what `harrier explain` writes) with a link to its
// incident capture.
#pragma once

#include <string>
#include <vector>

namespace harrier {

struct ReportOptions {
  std::vector<std::string> files;  // EVE files written by harrier ("-" = stdin)
  std::string out;                 // the HTML page to write
  std::string title = "harrier report";
  std::string chart_js = "/usr/share/javascript/chart.js/chart.min.js";  // libjs-chart.js
};

// The exit status: 0 written; 1 some EVE lines could not be read (named on
// stderr, the page has the rest); 2 an input, the library or the page could
// not be opened.
int run_report(const ReportOptions& opts);

}  // namespace harrier
