// File: core/time.h
//
// Time in ELARA is a signed 64-bit count of microseconds, in two strong
// types: `Timestamp` (a point on some clock) and `Duration` (a difference).
// The core never reads a clock: drivers pass `now` into every call. The
// simulator's clock starts above zero; the node runtime uses the monotonic
// clock. Arithmetic saturates at `Infinite()` so that "never" stays never.
//
// Thread-safety: value types, freely copyable.
#ifndef ELARA_CORE_TIME_H_
#define ELARA_CORE_TIME_H_

#include <cstdint>
#include <limits>
#include <string>

namespace elara {

class Duration {
 public:
  constexpr Duration() = default;
  static constexpr Duration Zero() { return Duration(0); }
  static constexpr Duration Infinite() {
    return Duration(std::numeric_limits<int64_t>::max());
  }
  static constexpr Duration Micros(int64_t us) { return Duration(us); }
  static constexpr Duration Millis(int64_t ms) { return Duration(ms * 1000); }
  static constexpr Duration Seconds(int64_t s) {
    return Duration(s * 1000 * 1000);
  }

  constexpr int64_t ToMicros() const { return us_; }
  constexpr int64_t ToMillis() const { return us_ / 1000; }
  constexpr bool IsInfinite() const { return *this == Infinite(); }

  constexpr Duration operator+(Duration d) const {
    if (IsInfinite() || d.IsInfinite()) return Infinite();
    return Duration(us_ + d.us_);
  }
  constexpr Duration operator-(Duration d) const {
    return Duration(us_ - d.us_);
  }
  constexpr Duration operator*(int64_t k) const {
    if (IsInfinite()) return Infinite();
    return Duration(us_ * k);
  }
  constexpr Duration operator/(int64_t k) const { return Duration(us_ / k); }
  constexpr auto operator<=>(const Duration&) const = default;

  std::string ToString() const;

 private:
  constexpr explicit Duration(int64_t us) : us_(us) {}
  int64_t us_ = 0;
};

class Timestamp {
 public:
  constexpr Timestamp() = default;
  static constexpr Timestamp Zero() { return Timestamp(0); }
  static constexpr Timestamp Infinite() {
    return Timestamp(std::numeric_limits<int64_t>::max());
  }
  static constexpr Timestamp FromMicros(int64_t us) { return Timestamp(us); }

  constexpr int64_t ToMicros() const { return us_; }
  constexpr bool IsInfinite() const { return *this == Infinite(); }

  constexpr Timestamp operator+(Duration d) const {
    if (IsInfinite() || d.IsInfinite()) return Infinite();
    return Timestamp(us_ + d.ToMicros());
  }
  constexpr Timestamp operator-(Duration d) const {
    return Timestamp(us_ - d.ToMicros());
  }
  constexpr Duration operator-(Timestamp t) const {
    return Duration::Micros(us_ - t.us_);
  }
  constexpr auto operator<=>(const Timestamp&) const = default;

  std::string ToString() const;

 private:
  constexpr explicit Timestamp(int64_t us) : us_(us) {}
  int64_t us_ = 0;
};

// The earlier of two times, by value. For the deadline minimums computed
// after every engine call: std::min returns a reference, and on the
// results of calls GCC then keeps both in memory and selects an address.
constexpr Timestamp Earlier(Timestamp a, Timestamp b) { return b < a ? b : a; }

}  // namespace elara

#endif  // ELARA_CORE_TIME_H_
