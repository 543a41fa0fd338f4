#include "sim/trace.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace elara::sim {

absl::StatusOr<std::unique_ptr<TraceWriter>> TraceWriter::Open(
    const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "w");
  if (file == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--trace: cannot open ", path, ": ", std::strerror(errno)));
  }
  return std::unique_ptr<TraceWriter>(new TraceWriter(file));
}

TraceWriter::~TraceWriter() {
  if (file_ != nullptr) std::fclose(file_);
}

void TraceWriter::Write(int64_t time_us, std::string line) {
  if (holding_) {
    held_.emplace_back(time_us, std::move(line));
  } else {
    std::fputs(line.c_str(), file_);
  }
}

void TraceWriter::EndWindow() {
  holding_ = false;
  std::stable_sort(
      held_.begin(), held_.end(),
      [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [time_us, line] : held_) std::fputs(line.c_str(), file_);
  held_.clear();
}

void TraceWriter::Send(int64_t time_us, uint32_t from, uint32_t to,
                       uint64_t bytes, const char* fate) {
  Write(time_us,
        absl::StrFormat("{\"t_us\":%d,\"ev\":\"send\",\"from\":%u,\"to\":%u,"
                        "\"bytes\":%u,\"fate\":\"%s\"}\n",
                        time_us, from, to, bytes, fate));
}

void TraceWriter::Drop(int64_t time_us, uint32_t from, uint32_t to,
                       const char* reason) {
  Write(time_us,
        absl::StrFormat("{\"t_us\":%d,\"ev\":\"drop\",\"from\":%u,\"to\":%u,"
                        "\"reason\":\"%s\"}\n",
                        time_us, from, to, reason));
}

void TraceWriter::Deliver(int64_t time_us, uint32_t node, uint64_t origin,
                          uint64_t sequence, uint32_t hops) {
  Write(time_us,
        absl::StrFormat("{\"t_us\":%d,\"ev\":\"deliver\",\"node\":%u,"
                        "\"origin\":\"%016x\",\"seq\":%u,\"hops\":%u}\n",
                        time_us, node, origin, sequence, hops));
}

absl::Status TraceWriter::Close() {
  if (file_ == nullptr) return absl::OkStatus();
  const bool write_error = std::ferror(file_) != 0;
  const bool close_error = std::fclose(file_) != 0;
  file_ = nullptr;
  if (write_error || close_error) {
    return absl::DataLossError("--trace: write error");
  }
  return absl::OkStatus();
}

}  // namespace elara::sim
