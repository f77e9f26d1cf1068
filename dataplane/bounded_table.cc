#include "dataplane/bounded_table.h"

#include <algorithm>
#include <mutex>

namespace harrier {
namespace {
std::mutex g_mu;
std::vector<const TableStatsSource*>& tables() {
  static std::vector<const TableStatsSource*> t;
  return t;
}
}  // namespace

void register_table(const TableStatsSource* t) {
  std::lock_guard lock(g_mu);
  tables().push_back(t);
}

void unregister_table(const TableStatsSource* t) {
  std::lock_guard lock(g_mu);
  auto& v = tables();
  v.erase(std::remove(v.begin(), v.end(), t), v.end());
}

std::vector<TableStats> registered_table_stats() {
  std::lock_guard lock(g_mu);
  std::vector<TableStats> out;
  for (const TableStatsSource* t : tables())
    out.push_back(t->stats());
  return out;
}

}  // namespace harrier
