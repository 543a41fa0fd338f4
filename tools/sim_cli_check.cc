// The sweep check (sim_cli_check.h). Everything is least squares on a
// handful of points; doubles are plenty.
#include "tools/sim_cli_check.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_format.h"

namespace elara::tools {
namespace {

// L = a * f(N) + b over the points.
LineFit FitAgainst(std::span<const SizePoint> points, double (*f)(double)) {
  std::vector<double> x, y;
  for (const SizePoint& p : points) {
    x.push_back(f(static_cast<double>(p.nodes)));
    y.push_back(p.ldh);
  }
  return FitLine(x, y);
}

double Log2(double n) { return std::log2(n); }
double Sqrt(double n) { return std::sqrt(n); }
double Identity(double n) { return n; }

// Rule 1: the lowest reliability, if below the bar.
bool ReliabilityFails(std::span<const SizePoint> points, double min_reliability,
                      CheckOutcome* out) {
  size_t worst = 0;
  for (size_t i = 1; i < points.size(); ++i) {
    if (points[i].min_reliability < points[worst].min_reliability) worst = i;
  }
  if (points[worst].min_reliability >= min_reliability) return false;
  out->reliability_failed = true;
  out->worst_point = worst;
  out->reason = absl::StrFormat(
      "reliability %.6f < %g (--min-reliability) at N=%d",
      points[worst].min_reliability, min_reliability, points[worst].nodes);
  return true;
}

// Rule 3: exponent of the power law through the points.
double PowerLawExponent(std::span<const SizePoint> points) {
  std::vector<double> x, y;
  for (const SizePoint& p : points) {
    x.push_back(std::log(static_cast<double>(p.nodes)));
    y.push_back(std::log(std::max(p.ldh, 1.0)));  // LDH >= 1 hop
  }
  return FitLine(x, y).slope;
}

}  // namespace

LineFit FitLine(std::span<const double> x, std::span<const double> y) {
  const double n = static_cast<double>(x.size());
  double mean_x = 0, mean_y = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    mean_x += x[i] / n;
    mean_y += y[i] / n;
  }
  double sxx = 0, sxy = 0, syy = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    sxx += (x[i] - mean_x) * (x[i] - mean_x);
    sxy += (x[i] - mean_x) * (y[i] - mean_y);
    syy += (y[i] - mean_y) * (y[i] - mean_y);
  }
  LineFit fit;
  fit.slope = sxx > 0 ? sxy / sxx : 0.0;
  fit.intercept = mean_y - fit.slope * mean_x;
  for (size_t i = 0; i < x.size(); ++i) {
    const double r = y[i] - (fit.slope * x[i] + fit.intercept);
    fit.sse += r * r;
  }
  fit.r2 = syy > 0 ? 1.0 - fit.sse / syy : 1.0;
  return fit;
}

LineFit FitLdhLog2(std::span<const SizePoint> points) {
  return FitAgainst(points, &Log2);
}

absl::Status CheckSizesJudgeable(std::span<const uint32_t> nodes) {
  for (size_t i = 1; i < nodes.size(); ++i) {
    if (nodes[i] <= nodes[i - 1]) {
      return absl::InvalidArgumentError(
          "--nodes: sizes must be distinct (they are sorted ascending)");
    }
  }
  if (nodes.size() < kMinCheckSizes ||
      static_cast<double>(nodes.back()) <
          kMinCheckSpan * static_cast<double>(nodes.front())) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--check: needs at least %d sizes in --nodes spanning at least %gx "
        "(e.g. --nodes 256,1024,4096) to judge how LDH grows",
        kMinCheckSizes, kMinCheckSpan));
  }
  return absl::OkStatus();
}

absl::StatusOr<CheckOutcome> CheckSweep(std::span<const SizePoint> points,
                                        double min_reliability) {
  std::vector<uint32_t> nodes;
  for (const SizePoint& p : points) nodes.push_back(p.nodes);
  absl::Status judgeable = CheckSizesJudgeable(nodes);
  if (!judgeable.ok()) return judgeable;

  CheckOutcome out;
  out.worst_point = points.size() - 1;
  out.shape_judged = points.size() >= kMinShapeSizes;
  out.power_law_exponent = PowerLawExponent(points);
  out.sse_log = FitAgainst(points, &Log2).sse;
  out.sse_sqrt = FitAgainst(points, &Sqrt).sse;
  out.sse_linear = FitAgainst(points, &Identity).sse;
  out.rms_log_hops =
      std::sqrt(out.sse_log / static_cast<double>(points.size()));
  if (ReliabilityFails(points, min_reliability, &out)) return out;

  double ldh_min = points[0].ldh, ldh_max = points[0].ldh;
  for (const SizePoint& p : points) {
    ldh_min = std::min(ldh_min, p.ldh);
    ldh_max = std::max(ldh_max, p.ldh);
  }
  if (ldh_max - ldh_min <= kFlatRangeHops) {
    out.flat = true;
    out.passed = true;
    out.reason = absl::StrFormat(
        "reliability >= %g at every size; LDH flat (%.2f..%.2f hops)",
        min_reliability, ldh_min, ldh_max);
    return out;
  }
  if (out.power_law_exponent > kMaxPowerLawExponent) {
    out.reason = absl::StrFormat(
        "LDH grows like N^%.2f (power-law exponent > %g): faster than log N",
        out.power_law_exponent, kMaxPowerLawExponent);
    return out;
  }
  const bool sqrt_better = out.sse_sqrt < kShapeSseRatio * out.sse_log;
  const bool linear_better = out.sse_linear < kShapeSseRatio * out.sse_log;
  if (out.shape_judged && (sqrt_better || linear_better) &&
      out.rms_log_hops > kNoiseHops) {
    out.reason = absl::StrFormat(
        "LDH fits %s better than log2(N) (squared error %.3g vs %.3g; the "
        "log fit misses by %.2f hops RMS > %g): faster than log N",
        out.sse_linear < out.sse_sqrt ? "N" : "sqrt(N)",
        std::min(out.sse_sqrt, out.sse_linear), out.sse_log, out.rms_log_hops,
        kNoiseHops);
    return out;
  }
  out.passed = true;
  out.reason = absl::StrFormat(
      "reliability >= %g at every size; LDH grows like log N (exponent %.2f, "
      "log fit RMS %.2f hops%s)",
      min_reliability, out.power_law_exponent, out.rms_log_hops,
      out.shape_judged ? ""
                       : absl::StrFormat("; shape not judged: %d sizes, %d "
                                         "needed to tell sqrt(N) + a constant",
                                         points.size(), kMinShapeSizes));
  return out;
}

}  // namespace elara::tools
