// A client's stream, cut into segments by its first byte, through the
// Hyperscan command matcher with its state saved and restored between
// segments (as the flow table keeps it); and a server's replies through the
// reply parser and the end-of-body scanner.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "detectors/protocols/smtp.h"

namespace {
struct Engine {
  std::unique_ptr<harrier::smtp::Matcher> matcher;
  std::unique_ptr<harrier::smtp::Scanner> scanner;
  Engine() {
    std::string err;
    matcher = harrier::smtp::Matcher::compile(&err);
    if (matcher) scanner = harrier::smtp::Scanner::create(*matcher, &err);
    if (!scanner) {
      std::fprintf(stderr, "fuzz_smtp: %s\n", err.c_str());
      std::abort();
    }
  }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace harrier::smtp;
  static Engine e;
  if (size == 0 || size > 1 << 20) return 0;
  const size_t seg = 1 + data[0];
  uint8_t state[512];
  uint16_t state_len = 0;
  // Each segment in a buffer with room after it, as a payload sits in an
  // mbuf: Hyperscan's vector loads may read a little past the data (never
  // used), which the fuzzer's exactly-sized input would turn into a fault.
  static uint8_t segment[256 + 64];
  for (size_t off = 1; off < size; off += seg) {
    const size_t n = size - off < seg ? size - off : seg;
    std::memcpy(segment, data + off, n);
    if (e.scanner->scan(state, &state_len, sizeof state, segment, uint32_t(n)) !=
        Scanner::Result::kOk)
      state_len = 0;
    for (const Match& m : e.scanner->matches()) {
      (void)verb_of(m.id);
      (void)trick_of(m.id);
    }
  }
  ReplyParser replies;
  replies.feed(data, size, [](uint16_t code) { (void)code; });
  BodyEnd body;
  body.feed(data, size);
  return 0;
}
