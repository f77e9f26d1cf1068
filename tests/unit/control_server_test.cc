// The control server answers any byte sequence with one JSON reply line and
// never throws: a request line is untrusted input from any member of the
// socket's group, and one exception used to end harrier (std::terminate).
#include <dirent.h>
#include <sys/stat.h>

#include <cstdlib>
#include <random>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "control/control_server.h"

namespace harrier {
namespace {

class ControlServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/harrier-ctl-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::map<std::string, ControlServer::Handler> handlers;
    handlers["echo"] = [](const nlohmann::json& r) {
      return nlohmann::ordered_json{{"got", r.value("arg", std::string())}};
    };
    handlers["throws"] = [](const nlohmann::json& r) -> nlohmann::ordered_json {
      if (r.contains("bad")) throw std::runtime_error("handler failed: \xff\xfe");
      return nlohmann::ordered_json{{"n", r.at("n").get<int>()}};
    };
    std::string err;
    server_ = ControlServer::start(dir_ + "/h.sock", "", std::move(handlers), &err);
    ASSERT_TRUE(server_) << err;
  }
  void TearDown() override {
    server_.reset();
    std::string cmd = "rm -rf " + dir_;
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }
  // The reply must be one line of valid JSON with a boolean "ok".
  nlohmann::json reply(const std::string& line) {
    const std::string r = server_->answer(line);
    EXPECT_FALSE(r.empty());
    EXPECT_EQ(r.back(), '\n');
    EXPECT_EQ(r.find('\n'), r.size() - 1);
    nlohmann::json j = nlohmann::json::parse(r);  // throws (fails the test) if not JSON
    EXPECT_TRUE(j.is_object() && j["ok"].is_boolean()) << r;
    return j;
  }
  std::string dir_;
  std::unique_ptr<ControlServer> server_;
};

TEST_F(ControlServerTest, HostileLinesGetAnErrorReply) {
  const std::string lines[] = {
      "\xff",                                        // not UTF-8 (type_error.316 in dump)
      "1e999999",                                    // out_of_range.406 in parse
      R"({"command":"echo","arg":1e999999})",        //  ... inside a request
      "{\"command\":\"\xff\xfe\"}",                  // a command name that is not UTF-8
      "{\"command\":\"echo\",\"arg\":\"\xc3\x28\"}",  // bad UTF-8 in an argument
      R"({"command":"throws","n":"x"})",             // a handler's json type_error
      R"({"command":"throws","bad":1})",             // a handler's exception with raw bytes
      std::string("{\"command\":\"echo\"\0}", 19),   // NUL inside
      "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
      "",
  };
  for (const std::string& l : lines) {
    const nlohmann::json j = reply(l);
    EXPECT_FALSE(j["ok"].get<bool>()) << l;
    EXPECT_TRUE(j["error"].is_string());
  }
  EXPECT_TRUE(reply(R"({"command":"echo","arg":"hi"})")["ok"].get<bool>());
}

TEST_F(ControlServerTest, RandomBytesNeverThrow) {
  std::mt19937 rng(7);
  for (int i = 0; i < 20000; ++i) {
    std::string l(rng() % 64, '\0');
    for (char& c : l)
      c = char(rng());
    if (i % 3 == 0) l = "{\"command\":\"echo\",\"arg\":" + l + "}";
    reply(l);
  }
}

TEST_F(ControlServerTest, SocketIs0660AndNoStagingLeft) {
  struct stat st {};
  ASSERT_EQ(stat((dir_ + "/h.sock").c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  DIR* d = opendir(dir_.c_str());
  ASSERT_NE(d, nullptr);
  int entries = 0;
  while (dirent* e = readdir(d))
    entries += std::string(e->d_name) != "." && std::string(e->d_name) != "..";
  closedir(d);
  EXPECT_EQ(entries, 1);  // the socket only
}

}  // namespace
}  // namespace harrier
