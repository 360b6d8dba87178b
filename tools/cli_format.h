// Text formatting for the ckptdb tool: sizes, times, Python's repr of
// scalars, numpy's repr of arrays (summarised when large, as numpy does),
// and array statistics.
#ifndef CKPTDB_TOOLS_CLI_FORMAT_H_
#define CKPTDB_TOOLS_CLI_FORMAT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "ckptdb/array.h"
#include "ckptdb/dtype.h"
#include "ckptdb/tree.h"

namespace ckptdb::cli {

// "512 B", "1.0 KiB", "3.4 MiB", "1.2 GiB".
std::string HumanBytes(uint64_t bytes);
// "2026-11-29 07:41:00" (UTC).
std::string FormatTimeUtc(int64_t unix_ns);
// "2026-11-29T07:41:00.123456789Z".
std::string FormatTimeIso(int64_t unix_ns);

// Python's repr of a float ("0.1", "1.0", "1e-05", "nan", "-inf"), with
// the fewest digits that identify the value as a `dtype` (float16,
// bfloat16, float32 or float64): numpy's repr of its scalars.
std::string PyFloatRepr(double v, DType dtype = DType::kFloat64);
// Python's repr of a scalar leaf: None, True, 4, 0.5, 'text'.
std::string PyScalarRepr(const Tree& t);

struct ReprOptions {
  int linewidth = 75;        // numpy's default
  int64_t threshold = 1000;  // summarise arrays with more elements
  int edgeitems = 3;         // elements kept at each end when summarising
};
// numpy's repr() of an array, with numpy's default print options:
//   array([[0.5 , 1.25],
//          [2.  , 3.  ]], dtype=float32)
// (floats with up to 8 fractional digits, scientific notation when the
// magnitudes call for it, "..." beyond `threshold` elements).
std::string NumpyRepr(const Array& a, const ReprOptions& options = {});

// Statistics of an array's elements. NaNs are counted and otherwise
// ignored (numpy's nanmin, nanmax, nanmean).
struct ArrayStats {
  int64_t count = 0;
  int64_t nan_count = 0;
  int64_t inf_count = 0;
  // False for complex arrays (no order), empty arrays and arrays of only
  // NaNs.
  bool has_min_max = false;
  double min = 0;
  double max = 0;
  std::string min_repr;  // exact, in the array's dtype ("3", "0.1", "True")
  std::string max_repr;
  // Integer dtypes: min_repr and max_repr are exact decimal integers (JSON
  // writes them as such, not through a double).
  bool integer = false;
  bool has_mean = false;
  double mean = 0;
  // Complex arrays: `mean` is the real part, `mean_imag` the imaginary part
  // (numpy's nanmean: elements with a NaN part are left out).
  bool complex = false;
  double mean_imag = 0;
};
// A complex number as Python's repr() prints it: "(1.5-2j)", "2j".
std::string PyComplexRepr(double re, double im);
ArrayStats ComputeStats(const Array& a);

// Number of Unicode code points in UTF-8 text (for column alignment).
size_t DisplayWidth(const std::string& utf8);
// Formats rows as aligned columns; `right[i]` right-aligns column i.
std::string Table(const std::vector<std::vector<std::string>>& rows,
                  const std::vector<bool>& right);

}  // namespace ckptdb::cli

#endif  // CKPTDB_TOOLS_CLI_FORMAT_H_
