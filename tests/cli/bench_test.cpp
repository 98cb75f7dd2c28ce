// `selattn bench` on a fixture model: the tests it runs, the table and the
// JSON it prints, and bad values rejected naming the flag. Speeds are only
// checked to be positive; performance is not measured here.
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/golden.h"
#include "common/run_command.h"

namespace selattn::test {
namespace {

// 128 positions, vocab 300; one thread, one timed run unless a test says otherwise.
const std::string kModel = "bench -m " + model_dir("tiny-a-f32") + " -t 1 ";
const std::string kBench = kModel + "-r 1 ";

// The lines of the markdown table: those that start with '|'.
std::vector<std::string> table_rows(const std::string& out) {
  std::vector<std::string> rows;
  std::stringstream s(out);
  std::string line;
  while (std::getline(s, line)) {
    if (line.starts_with("|")) rows.push_back(line);
  }
  return rows;
}

// The cells of a table row, trimmed.
std::vector<std::string> cells(const std::string& row) {
  std::vector<std::string> out;
  std::stringstream s(row.substr(1));
  std::string cell;
  while (std::getline(s, cell, '|')) {
    const auto b = cell.find_first_not_of(' '), e = cell.find_last_not_of(' ');
    out.push_back(b == std::string::npos ? "" : cell.substr(b, e - b + 1));
  }
  return out;
}

TEST(CliBench, TableHasARowPerTest) {
  auto r = run_selattn(kBench + "-p 16,32 -n 8 --depth 0,20");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("weights in memory: f32"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1 thread;"), std::string::npos) << r.out;
  const auto rows = table_rows(r.out);
  ASSERT_EQ(rows.size(), 2u + 4u) << r.out;
  EXPECT_EQ(cells(rows[0]), (std::vector<std::string>{"model", "weights", "params", "threads", "test", "t/s"}));
  const std::vector<std::string> names = {"pp16", "pp32", "tg8", "tg8@d20"};
  for (std::size_t i = 0; i < names.size(); ++i) {
    const auto c = cells(rows[2 + i]);
    ASSERT_EQ(c.size(), 6u) << rows[2 + i];
    EXPECT_EQ(c[0], "tiny-a-f32");
    EXPECT_EQ(c[1], "f32");
    EXPECT_EQ(c[2], "127.49 K");  // 127488 parameters, as `inspect` counts them
    EXPECT_EQ(c[3], "1");
    EXPECT_EQ(c[4], names[i]);
    EXPECT_NE(c[5].find(" ± "), std::string::npos) << c[5];
    EXPECT_GT(std::stod(c[5]), 0.0) << c[5];
  }
  // Progress goes to stderr, one line per test.
  EXPECT_NE(r.err.find("tg8@d20"), std::string::npos) << r.err;
}

TEST(CliBench, JsonHasOneObjectPerTest) {
  auto r = run_selattn(kModel + "-r 3 --no-warmup -p 16 -n 4,6 --depth 0,100 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);  // stdout holds the JSON alone
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 5u);
  struct Want {
    const char* test;
    int n_prompt, n_gen, n_depth;
  };
  const std::vector<Want> want = {
      {"pp16", 16, 0, 0}, {"tg4", 0, 4, 0}, {"tg4@d100", 0, 4, 100}, {"tg6", 0, 6, 0}, {"tg6@d100", 0, 6, 100}};
  for (std::size_t i = 0; i < want.size(); ++i) {
    const auto& o = j[i];
    EXPECT_EQ(o["test"], want[i].test);
    EXPECT_EQ(o["n_prompt"], want[i].n_prompt);
    EXPECT_EQ(o["n_gen"], want[i].n_gen);
    EXPECT_EQ(o["n_depth"], want[i].n_depth);
    EXPECT_EQ(o["weights"], "f32");
    EXPECT_EQ(o["n_threads"], 1);
    EXPECT_NE(o["model"].get<std::string>().find("tiny-a-f32"), std::string::npos);
    EXPECT_GT(o["avg_ts"].get<double>(), 0.0);
    EXPECT_GE(o["stddev_ts"].get<double>(), 0.0);
    EXPECT_GT(o["avg_ms_per_token"].get<double>(), 0.0);
    ASSERT_EQ(o["samples_ts"].size(), 3u);
    double sum = 0;
    for (const auto& s : o["samples_ts"]) sum += s.get<double>();
    EXPECT_NEAR(o["avg_ts"].get<double>(), sum / 3, 1e-3 + 1e-6 * sum);
    EXPECT_FALSE(o.contains("bandwidth_gbs"));
  }
}

TEST(CliBench, LengthsUpToTheContextRun) {
  // 128 positions: a 128-token prompt, or a start token and 127 decode steps, or 100 + 28.
  auto r = run_selattn(kBench + "--no-warmup -p 128 -n 127 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_selattn(kBench + "--no-warmup -p 0 -n 28 --depth 100 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out).size(), 1u);
}

TEST(CliBench, BandwidthAddsColumns) {
  auto r = run_selattn(kBench + "-p 8 -n 8 --bandwidth --bandwidth-mib 8");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("memory read bandwidth: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" GB/s (1 thread)"), std::string::npos) << r.out;
  const auto rows = table_rows(r.out);
  ASSERT_EQ(rows.size(), 4u) << r.out;
  EXPECT_EQ(cells(rows[0]).back(), "% of limit");
  EXPECT_EQ(cells(rows[2])[6], "");  // pp: no weight traffic per token
  EXPECT_GT(std::stod(cells(rows[3])[6]), 0.0) << rows[3];
  EXPECT_NE(cells(rows[3])[7].find('%'), std::string::npos) << rows[3];

  r = run_selattn(kBench + "-p 8 -n 8 --bandwidth --bandwidth-mib 8 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 2u);
  EXPECT_GT(j[0]["bandwidth_gbs"].get<double>(), 0.0);
  EXPECT_TRUE(j[0]["weights_gbs"].is_null());
  EXPECT_GT(j[1]["weights_gbs"].get<double>(), 0.0);
  EXPECT_NE(r.err.find("memory read bandwidth: "), std::string::npos) << r.err;
}

TEST(CliBench, WeightsFormatIsShown) {
  auto r = run_selattn(kBench + "-p 8 -n 8 --weights q8");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("weights in memory: q8"), std::string::npos) << r.out;
  const auto rows = table_rows(r.out);
  ASSERT_EQ(rows.size(), 4u) << r.out;
  EXPECT_EQ(cells(rows[2])[1], "q8");
  EXPECT_EQ(cells(rows[3])[1], "q8");
}

TEST(CliBench, BadValuesAreCleanErrors) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"-p 12,x", "-p/--n-prompt: expected token counts >= 0 separated by commas, found \"12,x\""},
      {"-p 12,", "-p/--n-prompt: expected token counts"},
      {"-p -4", "-p/--n-prompt: expected token counts"},
      {"-n 4,,8", "-n/--n-gen: expected token counts"},
      {"--depth a", "-d/--depth: expected token counts"},
      {"-p 129", "-p/--n-prompt: 129 tokens do not fit the model's context of 128"},
      {"-p 0 -n 128", "-n/--n-gen 128 at -d/--depth 0 needs 129 positions (with the start token)"},
      {"-p 0 -n 8 --depth 0,121",
       "-n/--n-gen 8 at -d/--depth 121 needs 129 positions, more than the model's context "
       "of 128"},
      {"-p 0 -n 0", "nothing to run"},
      {"-b -2", "-b/--batch: expected >= 1"},
  };
  for (const auto& [args, message] : cases) {
    auto r = run_selattn(kBench + args);
    EXPECT_EQ(r.exit_code, 1) << args;
    EXPECT_NE(r.err.find("selattn: error: " + message), std::string::npos) << args << ": " << r.err;
    EXPECT_TRUE(r.out.empty()) << args << ": " << r.out;
  }
  const std::vector<std::pair<std::string, std::string>> counts = {
      {"-r 0", "-r/--repetitions: expected >= 1, found 0"},
      {"-r 1 -t -1", "-t/--threads: expected >= 0"},
  };
  for (const auto& [args, message] : counts) {
    auto r = run_selattn("bench -m " + model_dir("tiny-a-f32") + " " + args);
    EXPECT_EQ(r.exit_code, 1) << args;
    EXPECT_NE(r.err.find("selattn: error: " + message), std::string::npos) << args << ": " << r.err;
  }
  auto r = run_selattn(kBench + "--weights q4");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("selattn: error: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("q4"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace selattn::test
