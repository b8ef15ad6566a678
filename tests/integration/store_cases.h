// What the store tests share: a sample saga and a temporary directory per test.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include "sagas/instance.h"

namespace store_test {

namespace fs = std::filesystem;
using sagas::Json;
using sagas::SagaState;

inline sagas::Instance sample(const std::string& id, SagaState st = SagaState::running, sagas::TimeMs t = 1000) {
  sagas::Instance inst;
  inst.id = id;
  inst.saga = "shop";
  inst.version = 2;
  inst.state = st;
  inst.input = *Json::parse(R"({"order": "o-1", "n": [1, 2.5, null]})");
  inst.steps.resize(2);
  inst.steps[0].state = sagas::StepState::succeeded;
  inst.steps[0].attempts = 2;
  inst.steps[0].request = *Json::parse(R"({"x": 1})");
  inst.steps[0].reply = *Json::parse(R"({"r": "ok"})");
  inst.steps[1].state = sagas::StepState::running;
  inst.steps[1].timer_at = 5000;
  inst.steps[1].timer_kind = sagas::TimerKind::retry_backoff;
  inst.steps[1].timer_for = sagas::CommandKind::compensate;
  inst.steps[1].error = "attempt 1 timed out";
  inst.stage = 1;
  inst.created_at = t;
  inst.updated_at = t;
  inst.deadline_at = 99999;
  return inst;
}

// A temporary directory per test.
class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::replace(name.begin(), name.end(), '/', '_');
    dir_ = fs::temp_directory_path() / ("sagactl-store-" + std::to_string(::getpid()) + "-" + name);
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "state.db").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
  std::string path_;
};

}  // namespace store_test
