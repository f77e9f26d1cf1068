#include "detectors/icmp_backscatter.h"

namespace harrier::icmp_backscatter {

void render(const Alert& a, AlertText& t, const char* what) {
  const Detail d = a.detail.get<Detail>();
  const uint32_t errors = d.errors;
  const IpAddr quoted_dst = a.targets[0];
  t.signature =
      std::string("ICMP ") + what + " backscatter: " + ip_to_string(a.dst) +
      " is being used as a spoofed source; " + format_count(errors) +
      (errors == 1 ? " error quotes " : " errors quote ") + proto_name(a.proto) + " " +
      ip_to_string(a.dst) + (a.sport ? ":" + std::to_string(a.sport) : "") + " > " +
      ip_to_string(quoted_dst) + (a.dport ? ":" + std::to_string(a.dport) : "") +
      (a.n_targets > 1 ? " and " + format_count(a.n_targets - 1) + " more destinations" : "") +
      " that it never sent" + update_suffix(a);
  auto& e = t.evidence;
  e["icmp_type"] = d.icmp_type;
  e["icmp_code"] = d.icmp_code;
  e["errors"] = errors;
  e["routers"] = d.routers;
  e["router_ttl"] = d.outer_ttl;
  e["quoted"] = {{"proto", proto_name(a.proto)}, {"src", ip_to_string(a.dst)},
                 {"src_port", a.sport},          {"dst", ip_to_string(quoted_dst)},
                 {"dst_port", a.dport},          {"ttl", a.ttl}};
  e["matching_outbound_flow"] = false;
  e["first_seen"] = eve_timestamp(a.first_ts);
  e["last_seen"] = eve_timestamp(a.last_ts);
  e["quoted_destinations"] = listed_targets(a);
  e["quoted_destinations_total"] = a.n_targets;
  e["update"] = a.update;
}

}  // namespace harrier::icmp_backscatter
