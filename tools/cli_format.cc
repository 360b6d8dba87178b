// numpy's array printing (numpy/core/arrayprint.py, default options,
// legacy=False), ported for the `show` subcommand: FloatingFormat's
// fillFormat decides between positional and scientific notation and the
// padding from the elements shown; _formatArray lays the elements out and
// wraps lines at 75 columns.
#include "tools/cli_format.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <complex>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <limits>
#include <memory>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ckptdb::cli {
namespace {

// ---- decimal digits ---------------------------------------------------------

// |v| = d.ddd x 10^exp; `digits` has no leading or trailing zeros ("0" for
// zero).
struct Digits {
  std::string digits = "0";
  int exp = 0;
};

// Parses printf/to_chars output ("1.2345e-05", "0.00123", "12.5").
Digits ParseDecimal(absl::string_view s) {
  std::string mant(s);
  int e10 = 0;
  if (size_t e = mant.find_first_of("eE"); e != std::string::npos) {
    e10 = std::atoi(mant.c_str() + e + 1);
    mant.resize(e);
  }
  size_t point = mant.find('.');
  std::string all;
  int int_len;
  if (point == std::string::npos) {
    all = mant;
    int_len = static_cast<int>(mant.size());
  } else {
    all = mant.substr(0, point) + mant.substr(point + 1);
    int_len = static_cast<int>(point);
  }
  const size_t first = all.find_first_not_of('0');
  Digits d;
  if (first == std::string::npos) return d;
  const size_t last = all.find_last_not_of('0');
  d.digits = all.substr(first, last - first + 1);
  d.exp = int_len - 1 - static_cast<int>(first) + e10;
  return d;
}

// Rounds `v` (finite) to a value of `dtype` and returns its bits, for
// round-trip checks of the 16-bit formats.
uint16_t ToHalfBits(double v, DType dtype) {
  uint16_t out;
  CastElements(DType::kFloat64, &v, dtype, &out, 1);
  return out;
}

// The fewest significant digits that read back as the same `dtype` value.
Digits ShortestDigits(double v, DType dtype) {
  v = std::fabs(v);
  if (v == 0) return Digits();
  char buf[64];
  if (dtype == DType::kFloat64) {
    auto r =
        std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific);
    return ParseDecimal(absl::string_view(buf, r.ptr - buf));
  }
  if (dtype == DType::kFloat32) {
    auto r = std::to_chars(buf, buf + sizeof(buf), static_cast<float>(v),
                           std::chars_format::scientific);
    return ParseDecimal(absl::string_view(buf, r.ptr - buf));
  }
  const uint16_t want = ToHalfBits(v, dtype);
  for (int p = 1; p <= 17; ++p) {
    std::snprintf(buf, sizeof(buf), "%.*e", p - 1, v);
    if (ToHalfBits(std::strtod(buf, nullptr), dtype) == want) {
      return ParseDecimal(buf);
    }
  }
  std::snprintf(buf, sizeof(buf), "%.16e", v);
  return ParseDecimal(buf);
}

// Integer and fractional digits of a Digits, positionally.
void Positional(const Digits& d, std::string* int_part, std::string* frac) {
  if (d.digits == "0") {
    *int_part = "0";
    frac->clear();
  } else if (d.exp >= 0) {
    const size_t n = static_cast<size_t>(d.exp) + 1;
    std::string digits = d.digits;
    if (digits.size() < n) digits.append(n - digits.size(), '0');
    *int_part = digits.substr(0, n);
    *frac = digits.substr(n);
  } else {
    *int_part = "0";
    *frac = std::string(-d.exp - 1, '0') + d.digits;
  }
}

std::string SignOf(double v, bool sign_plus) {
  if (std::signbit(v)) return "-";
  return sign_plus ? "+" : "";
}

// numpy's dragon4_positional(x, precision, min_digits, unique=True,
// fractional=True, trim='.', sign, pad_left, pad_right).
std::string Dragon4Positional(double v, DType dtype, int precision,
                              int min_digits, bool sign_plus, int pad_left,
                              int pad_right) {
  std::string ip, frac;
  const Digits shortest = ShortestDigits(v, dtype);
  Positional(shortest, &ip, &frac);
  if (min_digits >= 0 &&
      shortest.exp + 1 > static_cast<int>(shortest.digits.size())) {
    // With min_digits given, numpy's Dragon4 prints every integer digit
    // exactly (np.float32(99999992) prints 99999992., not the shortest
    // 99999990.); such a value has no fractional part.
    char buf[512];
    std::snprintf(buf, sizeof(buf), "%.0f", std::fabs(v));
    ip = buf;
    frac.clear();
  }
  if (static_cast<int>(frac.size()) > precision) {
    char buf[512];
    std::snprintf(buf, sizeof(buf), "%.*f", precision, std::fabs(v));
    Positional(ParseDecimal(buf), &ip, &frac);
  }
  if (static_cast<int>(frac.size()) < min_digits) {
    // As in Dragon4Scientific: the exact value's further digits.
    char buf[512];
    std::snprintf(buf, sizeof(buf), "%.*f", min_digits, std::fabs(v));
    std::string ip2, frac2;
    Positional(ParseDecimal(buf), &ip2, &frac2);
    if (ip2 == ip) frac = frac2;
    if (static_cast<int>(frac.size()) < min_digits) {
      frac.append(min_digits - frac.size(), '0');
    }
  }
  std::string left = SignOf(v, sign_plus) + ip;
  if (static_cast<int>(left.size()) < pad_left) {
    left.insert(0, pad_left - left.size(), ' ');
  }
  if (static_cast<int>(frac.size()) < pad_right) {
    frac.append(pad_right - frac.size(), ' ');
  }
  return absl::StrCat(left, ".", frac);
}

// numpy's dragon4_scientific(x, precision, min_digits, unique=True, trim,
// sign, pad_left, exp_digits).
std::string Dragon4Scientific(double v, DType dtype, int precision,
                              int min_digits, bool sign_plus, int pad_left,
                              int exp_digits) {
  Digits d = ShortestDigits(v, dtype);
  if (static_cast<int>(d.digits.size()) - 1 > precision) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.*e", precision, std::fabs(v));
    d = ParseDecimal(buf);
  }
  if (static_cast<int>(d.digits.size()) - 1 < min_digits) {
    // More digits than needed to identify the value: numpy prints the
    // exact value's next digits (rounded), not zeros.
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.*e", min_digits, std::fabs(v));
    const Digits exact = ParseDecimal(buf);
    if (exact.exp == d.exp) d = exact;
  }
  std::string frac = d.digits.substr(1);
  if (static_cast<int>(frac.size()) < min_digits) {
    frac.append(min_digits - frac.size(), '0');
  }
  std::string left = SignOf(v, sign_plus) + d.digits.substr(0, 1);
  if (static_cast<int>(left.size()) < pad_left) {
    left.insert(0, pad_left - left.size(), ' ');
  }
  std::string e = absl::StrCat(std::abs(d.exp));
  const int width = std::max(exp_digits, 2);
  if (static_cast<int>(e.size()) < width) e.insert(0, width - e.size(), '0');
  return absl::StrCat(left, ".", frac, "e", d.exp < 0 ? "-" : "+", e);
}

// numpy's FloatingFormat (floatmode 'maxprec', precision 8).
class FloatFormat {
 public:
  FloatFormat(const std::vector<double>& values, DType dtype, bool sign_plus)
      : dtype_(dtype), sign_plus_(sign_plus) {
    std::vector<double> finite;
    bool neg_inf = false;
    bool non_finite = false;
    for (double v : values) {
      if (std::isfinite(v)) {
        finite.push_back(v);
      } else {
        non_finite = true;
        if (std::isinf(v) && v < 0) neg_inf = true;
      }
    }
    double max_val = 0, min_val = std::numeric_limits<double>::infinity();
    bool any_non_zero = false;
    for (double v : finite) {
      if (v == 0) continue;
      any_non_zero = true;
      max_val = std::max(max_val, std::fabs(v));
      min_val = std::min(min_val, std::fabs(v));
    }
    if (any_non_zero &&
        (max_val >= 1e8 || min_val < 0.0001 || max_val / min_val > 1000.)) {
      exp_format_ = true;
    }
    if (finite.empty()) {
      pad_left_ = pad_right_ = 0;
      exp_size_ = -1;
      min_digits_ = 0;
    } else if (exp_format_) {
      size_t max_int = 0, max_frac = 0, max_exp = 0;
      for (double v : finite) {
        const std::string s =
            Dragon4Scientific(v, dtype_, kPrecision, 0, sign_plus_, 0, -1);
        const size_t point = s.find('.');
        const size_t e = s.find('e');
        max_int = std::max(max_int, point);
        max_frac = std::max(max_frac, e - point - 1);
        max_exp = std::max(max_exp, s.size() - e - 1);
      }
      exp_size_ = static_cast<int>(max_exp) - 1;
      precision_ = static_cast<int>(max_frac);
      min_digits_ = precision_;
      pad_left_ = static_cast<int>(max_int);
      pad_right_ = exp_size_ + 2 + precision_;
    } else {
      size_t max_int = 0, max_frac = 0;
      for (double v : finite) {
        const std::string s =
            Dragon4Positional(v, dtype_, kPrecision, 0, sign_plus_, 0, 0);
        const size_t point = s.find('.');
        max_int = std::max(max_int, point);
        max_frac = std::max(max_frac, s.size() - point - 1);
      }
      pad_left_ = static_cast<int>(max_int);
      pad_right_ = static_cast<int>(max_frac);
      exp_size_ = -1;
      min_digits_ = 0;
    }
    if (non_finite) {
      const int nanlen = 3;
      const int inflen = 3 + ((sign_plus_ || neg_inf) ? 1 : 0);
      const int offset = pad_right_ + 1;
      pad_left_ = std::max({pad_left_, nanlen - offset, inflen - offset});
    }
  }

  std::string operator()(double v) const {
    if (!std::isfinite(v)) {
      std::string ret;
      if (std::isnan(v)) {
        ret = absl::StrCat(sign_plus_ ? "+" : "", "nan");
      } else {
        ret = absl::StrCat(v < 0 ? "-" : (sign_plus_ ? "+" : ""), "inf");
      }
      const int pad = pad_left_ + pad_right_ + 1 - static_cast<int>(ret.size());
      return std::string(std::max(0, pad), ' ') + ret;
    }
    if (exp_format_) {
      return Dragon4Scientific(v, dtype_, precision_, min_digits_, sign_plus_,
                               pad_left_, exp_size_);
    }
    return Dragon4Positional(v, dtype_, kPrecision, min_digits_, sign_plus_,
                             pad_left_, pad_right_);
  }

 private:
  static constexpr int kPrecision = 8;
  DType dtype_;
  bool sign_plus_;
  bool exp_format_ = false;
  int precision_ = kPrecision;
  int min_digits_ = 0;
  int pad_left_ = 0;
  int pad_right_ = 0;
  int exp_size_ = -1;
};

// ---- element access ---------------------------------------------------------

double FloatAt(const Array& a, int64_t i) {
  double out;
  CastElements(a.dtype(),
               static_cast<const char*>(a.data()) + i * DTypeSize(a.dtype()),
               DType::kFloat64, &out, 1);
  return out;
}

std::complex<double> ComplexAt(const Array& a, int64_t i) {
  std::complex<double> out;
  CastElements(a.dtype(),
               static_cast<const char*>(a.data()) + i * DTypeSize(a.dtype()),
               DType::kComplex128, &out, 1);
  return out;
}

std::string IntAt(const Array& a, int64_t i) {
  const char* p = static_cast<const char*>(a.data()) + i * DTypeSize(a.dtype());
  if (a.dtype() == DType::kUInt64) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return absl::StrCat(v);
  }
  int64_t v;
  CastElements(a.dtype(), p, DType::kInt64, &v, 1);
  return absl::StrCat(v);
}

DType PartDType(DType complex) {
  return complex == DType::kComplex64 ? DType::kFloat32 : DType::kFloat64;
}

// numpy's _formatArray.
class ArrayLayout {
 public:
  ArrayLayout(const Array& a, const ReprOptions& o, bool summarize,
              std::function<std::string(int64_t)> format)
      : a_(a), o_(o), summarize_(summarize), format_(std::move(format)) {
    strides_.assign(a.rank(), 1);
    for (int k = a.rank() - 2; k >= 0; --k) {
      strides_[k] = strides_[k + 1] * a.shape()[k + 1];
    }
  }

  std::string Format(const std::string& hanging_indent, int width) {
    return Recurse(0, 0, hanging_indent, width);
  }

 private:
  static void ExtendLine(std::string* s, std::string* line,
                         const std::string& word, int line_width,
                         const std::string& next_line_prefix) {
    bool needs_wrap = static_cast<int>(line->size() + word.size()) > line_width;
    if (line->size() <= next_line_prefix.size()) needs_wrap = false;
    if (needs_wrap) {
      size_t end = line->find_last_not_of(' ');
      s->append(*line, 0, end == std::string::npos ? 0 : end + 1);
      s->push_back('\n');
      *line = next_line_prefix;
    }
    *line += word;
  }

  std::string Recurse(int axis, int64_t offset,
                      const std::string& hanging_indent, int curr_width) {
    const int axes_left = a_.rank() - axis;
    if (axes_left == 0) return format_(offset);
    const std::string next_hanging = hanging_indent + " ";
    const int next_width = curr_width - 1;
    const int64_t len = a_.shape()[axis];
    const bool show_summary = summarize_ && 2 * o_.edgeitems < len;
    const int64_t leading = show_summary ? o_.edgeitems : 0;
    const int64_t trailing = show_summary ? o_.edgeitems : len;
    const int64_t stride = strides_[axis];
    std::string s;
    if (axes_left == 1) {
      const int elem_width = curr_width - 1;
      std::string line = hanging_indent;
      for (int64_t i = 0; i < leading; ++i) {
        ExtendLine(
            &s, &line,
            Recurse(axis + 1, offset + i * stride, next_hanging, next_width),
            elem_width, hanging_indent);
        line += ", ";
      }
      if (show_summary) {
        ExtendLine(&s, &line, "...", elem_width, hanging_indent);
        line += ", ";
      }
      for (int64_t i = trailing; i > 1; --i) {
        ExtendLine(&s, &line,
                   Recurse(axis + 1, offset + (len - i) * stride, next_hanging,
                           next_width),
                   elem_width, hanging_indent);
        line += ", ";
      }
      ExtendLine(&s, &line,
                 Recurse(axis + 1, offset + (len - 1) * stride, next_hanging,
                         next_width),
                 elem_width, hanging_indent);
      s += line;
    } else {
      const std::string line_sep = "," + std::string(axes_left - 1, '\n');
      for (int64_t i = 0; i < leading; ++i) {
        s += hanging_indent +
             Recurse(axis + 1, offset + i * stride, next_hanging, next_width) +
             line_sep;
      }
      if (show_summary) s += hanging_indent + "..." + line_sep;
      for (int64_t i = trailing; i > 1; --i) {
        s += hanging_indent +
             Recurse(axis + 1, offset + (len - i) * stride, next_hanging,
                     next_width) +
             line_sep;
      }
      s += hanging_indent + Recurse(axis + 1, offset + (len - 1) * stride,
                                    next_hanging, next_width);
    }
    return "[" + s.substr(hanging_indent.size()) + "]";
  }

  const Array& a_;
  const ReprOptions& o_;
  bool summarize_;
  std::function<std::string(int64_t)> format_;
  std::vector<int64_t> strides_;
};

// Flat indices of the elements numpy shows (_leading_trailing).
std::vector<int64_t> ShownElements(const Array& a, bool summarize, int edge) {
  std::vector<int64_t> out;
  const int rank = a.rank();
  std::vector<std::vector<int64_t>> axes(rank);
  for (int k = 0; k < rank; ++k) {
    const int64_t len = a.shape()[k];
    for (int64_t i = 0; i < len; ++i) {
      if (!summarize || 2 * edge >= len || i < edge || i >= len - edge) {
        axes[k].push_back(i);
      }
    }
    if (axes[k].empty()) return out;
  }
  std::vector<size_t> pos(rank, 0);
  while (true) {
    int64_t flat = 0;
    for (int k = 0; k < rank; ++k) flat = flat * a.shape()[k] + axes[k][pos[k]];
    out.push_back(flat);
    int k = rank - 1;
    for (; k >= 0; --k) {
      if (++pos[k] < axes[k].size()) break;
      pos[k] = 0;
    }
    if (k < 0) break;
  }
  return out;
}

}  // namespace

std::string HumanBytes(uint64_t bytes) {
  if (bytes < 1024) return absl::StrCat(bytes, " B");
  const char* units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(bytes) / 1024;
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return absl::StrFormat("%.1f %s", v, units[u]);
}

std::string FormatTimeUtc(int64_t unix_ns) {
  const time_t secs = static_cast<time_t>(unix_ns / 1000000000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[64];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string FormatTimeIso(int64_t unix_ns) {
  const time_t secs = static_cast<time_t>(unix_ns / 1000000000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[64];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  return absl::StrFormat("%s.%09dZ", buf,
                         static_cast<int>(unix_ns % 1000000000));
}

std::string PyFloatRepr(double v, DType dtype) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  const Digits d = ShortestDigits(v, dtype);
  const std::string sign = std::signbit(v) ? "-" : "";
  const int decpt = d.exp + 1;
  if (d.digits != "0" && (decpt <= -4 || decpt > 16)) {
    std::string mant = d.digits.substr(0, 1);
    if (d.digits.size() > 1) absl::StrAppend(&mant, ".", d.digits.substr(1));
    return absl::StrFormat("%s%se%c%02d", sign, mant, d.exp < 0 ? '-' : '+',
                           std::abs(d.exp));
  }
  std::string ip, frac;
  Positional(d, &ip, &frac);
  return absl::StrCat(sign, ip, ".", frac.empty() ? "0" : frac);
}

std::string PyScalarRepr(const Tree& t) {
  switch (t.kind()) {
    case Tree::Kind::kNone:
      return "None";
    case Tree::Kind::kBool:
      return t.bool_value() ? "True" : "False";
    case Tree::Kind::kInt:
      return absl::StrCat(t.int_value());
    case Tree::Kind::kFloat:
      return PyFloatRepr(t.float_value());
    case Tree::Kind::kString: {
      // Python's repr: single quotes unless the text has one and no double
      // quote.
      const std::string& s = t.string_value();
      const bool dq =
          s.find('\'') != std::string::npos && s.find('"') == std::string::npos;
      const char q = dq ? '"' : '\'';
      std::string out(1, q);
      for (char ch : s) {
        const unsigned char c = static_cast<unsigned char>(ch);
        if (ch == q || ch == '\\') {
          out.push_back('\\');
          out.push_back(ch);
        } else if (ch == '\n') {
          out += "\\n";
        } else if (ch == '\t') {
          out += "\\t";
        } else if (ch == '\r') {
          out += "\\r";
        } else if (c < 0x20 || c == 0x7f) {
          absl::StrAppendFormat(&out, "\\x%02x", c);
        } else {
          out.push_back(ch);
        }
      }
      out.push_back(q);
      return out;
    }
    case Tree::Kind::kPlaceholder:
      return "PLACEHOLDER";
    default:
      return std::string(TreeKindName(t.kind()));
  }
}

std::string NumpyRepr(const Array& a, const ReprOptions& o) {
  const int64_t n = a.num_elements();
  const DType dt = a.dtype();
  const bool implied = dt == DType::kFloat64 || dt == DType::kInt64 ||
                       dt == DType::kBool || dt == DType::kComplex128;
  const bool skip_dtype = implied && n > 0;
  const std::string prefix = "array(";
  const std::string suffix = skip_dtype ? ")" : ",";
  std::string lst;
  if (n == 0) {
    lst = a.rank() == 1 ? "[]"
                        : absl::StrCat("[], shape=", ShapeToString(a.shape()));
  } else {
    const bool summarize = n > o.threshold;
    const std::vector<int64_t> shown = ShownElements(a, summarize, o.edgeitems);
    std::function<std::string(int64_t)> format;
    if (dt == DType::kBool) {
      const bool scalar = a.rank() == 0;
      format = [&a, scalar](int64_t i) -> std::string {
        const bool v = a.data_as<uint8_t>()[i] != 0;
        return v ? (scalar ? "True" : " True") : "False";
      };
    } else if (IsIntegerDType(dt)) {
      size_t width = 0;
      for (int64_t i : shown) width = std::max(width, IntAt(a, i).size());
      format = [&a, width](int64_t i) {
        std::string s = IntAt(a, i);
        if (s.size() < width) s.insert(0, width - s.size(), ' ');
        return s;
      };
    } else if (IsComplexDType(dt)) {
      std::vector<double> re, im;
      for (int64_t i : shown) {
        const std::complex<double> c = ComplexAt(a, i);
        re.push_back(c.real());
        im.push_back(c.imag());
      }
      auto rf = std::make_shared<FloatFormat>(re, PartDType(dt), false);
      auto imf = std::make_shared<FloatFormat>(im, PartDType(dt), true);
      format = [&a, rf, imf](int64_t i) {
        const std::complex<double> c = ComplexAt(a, i);
        std::string r = (*rf)(c.real());
        std::string im_s = (*imf)(c.imag());
        const size_t sp = im_s.find_last_not_of(' ') + 1;
        im_s.insert(sp, "j");
        return r + im_s;
      };
    } else {
      std::vector<double> vals;
      for (int64_t i : shown) vals.push_back(FloatAt(a, i));
      auto ff = std::make_shared<FloatFormat>(vals, dt, false);
      format = [&a, ff](int64_t i) { return (*ff)(FloatAt(a, i)); };
    }
    ArrayLayout layout(a, o, summarize, format);
    lst = layout.Format(std::string(prefix.size() + 1, ' '),
                        o.linewidth - static_cast<int>(suffix.size()));
  }
  std::string arr_str = prefix + lst + suffix;
  if (skip_dtype) return arr_str;
  const std::string dtype_str = absl::StrCat("dtype=", DTypeName(dt), ")");
  const size_t nl = arr_str.rfind('\n');
  const size_t last_line_len =
      arr_str.size() - (nl == std::string::npos ? 0 : nl + 1);
  std::string spacer = " ";
  if (static_cast<int>(last_line_len + dtype_str.size() + 1) > o.linewidth) {
    spacer = "\n" + std::string(prefix.size(), ' ');
  }
  return arr_str + spacer + dtype_str;
}

std::string PyComplexRepr(double re, double im) {
  // Python prints each part with repr() less a trailing ".0", and leaves
  // out a real part of +0.
  auto part = [](double v) {
    std::string s = PyFloatRepr(v);
    if (absl::EndsWith(s, ".0")) s.resize(s.size() - 2);
    return s;
  };
  if (re == 0 && !std::signbit(re)) return part(im) + "j";
  const std::string imag = part(im);
  return absl::StrCat("(", part(re), imag[0] == '-' ? "" : "+", imag, "j)");
}

ArrayStats ComputeStats(const Array& a) {
  ArrayStats st;
  const int64_t n = a.num_elements();
  st.count = n;
  const DType dt = a.dtype();
  const char* base = static_cast<const char*>(a.data());
  const size_t elem = DTypeSize(dt);
  constexpr int64_t kBlock = 1 << 14;
  if (IsComplexDType(dt)) {
    // Counts and the mean: complex numbers have no order.
    st.complex = true;
    std::vector<std::complex<double>> buf(kBlock);
    std::complex<long double> sum = 0;
    int64_t used = 0;
    for (int64_t i = 0; i < n; i += kBlock) {
      const int64_t m = std::min(kBlock, n - i);
      CastElements(dt, base + i * elem, DType::kComplex128, buf.data(), m);
      for (int64_t k = 0; k < m; ++k) {
        const auto& c = buf[k];
        if (std::isnan(c.real()) || std::isnan(c.imag())) {
          ++st.nan_count;
          continue;
        }
        if (std::isinf(c.real()) || std::isinf(c.imag())) ++st.inf_count;
        sum += std::complex<long double>(c.real(), c.imag());
        ++used;
      }
    }
    if (used > 0) {
      st.has_mean = true;
      st.mean = static_cast<double>(sum.real() / used);
      st.mean_imag = static_cast<double>(sum.imag() / used);
    }
    return st;
  }
  if (IsFloatingDType(dt)) {
    std::vector<double> buf(kBlock);
    double sum = 0, comp = 0;  // Neumaier summation
    int64_t used = 0;
    for (int64_t i = 0; i < n; i += kBlock) {
      const int64_t m = std::min(kBlock, n - i);
      CastElements(dt, base + i * elem, DType::kFloat64, buf.data(), m);
      for (int64_t k = 0; k < m; ++k) {
        const double v = buf[k];
        if (std::isnan(v)) {
          ++st.nan_count;
          continue;
        }
        if (std::isinf(v)) ++st.inf_count;
        if (!st.has_min_max) {
          st.min = st.max = v;
          st.has_min_max = true;
        } else {
          st.min = std::min(st.min, v);
          st.max = std::max(st.max, v);
        }
        const double t = sum + v;
        if (std::isfinite(t)) {
          comp +=
              std::fabs(sum) >= std::fabs(v) ? (sum - t) + v : (v - t) + sum;
        }
        sum = t;
        ++used;
      }
    }
    if (st.has_min_max) {
      st.min_repr = PyFloatRepr(st.min, dt);
      st.max_repr = PyFloatRepr(st.max, dt);
    }
    if (used > 0) {
      st.has_mean = true;
      st.mean = (std::isfinite(sum) ? sum + comp : sum) / used;
    }
    return st;
  }
  // Integers and bool: exact min and max.
  if (n == 0) return st;
  long double sum = 0;
  if (dt == DType::kUInt64) {
    const uint64_t* p = a.data_as<uint64_t>();
    uint64_t mn = p[0], mx = p[0];
    for (int64_t i = 0; i < n; ++i) {
      mn = std::min(mn, p[i]);
      mx = std::max(mx, p[i]);
      sum += p[i];
    }
    st.min = static_cast<double>(mn);
    st.max = static_cast<double>(mx);
    st.min_repr = absl::StrCat(mn);
    st.max_repr = absl::StrCat(mx);
    st.integer = true;
  } else {
    std::vector<int64_t> buf(kBlock);
    int64_t mn = std::numeric_limits<int64_t>::max();
    int64_t mx = std::numeric_limits<int64_t>::min();
    for (int64_t i = 0; i < n; i += kBlock) {
      const int64_t m = std::min(kBlock, n - i);
      CastElements(dt, base + i * elem, DType::kInt64, buf.data(), m);
      for (int64_t k = 0; k < m; ++k) {
        mn = std::min(mn, buf[k]);
        mx = std::max(mx, buf[k]);
        sum += buf[k];
      }
    }
    st.min = static_cast<double>(mn);
    st.max = static_cast<double>(mx);
    if (dt == DType::kBool) {
      st.min_repr = mn ? "True" : "False";
      st.max_repr = mx ? "True" : "False";
    } else {
      st.min_repr = absl::StrCat(mn);
      st.max_repr = absl::StrCat(mx);
      st.integer = true;
    }
  }
  st.has_min_max = true;
  st.has_mean = true;
  st.mean = static_cast<double>(sum / n);
  return st;
}

size_t DisplayWidth(const std::string& utf8) {
  size_t n = 0;
  for (char c : utf8) {
    if ((static_cast<unsigned char>(c) & 0xc0) != 0x80) ++n;
  }
  return n;
}

namespace {

std::string PadTo(const std::string& s, size_t w) {
  const size_t n = DisplayWidth(s);
  return n >= w ? s : s + std::string(w - n, ' ');
}

std::string RightTo(const std::string& s, size_t w) {
  const size_t n = DisplayWidth(s);
  return n >= w ? s : std::string(w - n, ' ') + s;
}

}  // namespace

// Formats rows as aligned columns; `right[i]` right-aligns column i.
std::string Table(const std::vector<std::vector<std::string>>& rows,
                  const std::vector<bool>& right) {
  std::vector<size_t> w;
  for (const auto& r : rows) {
    if (w.size() < r.size()) w.resize(r.size(), 0);
    for (size_t i = 0; i < r.size(); ++i) {
      w[i] = std::max(w[i], DisplayWidth(r[i]));
    }
  }
  std::string out;
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      if (i > 0) line += "  ";
      const bool rt = i < right.size() && right[i];
      line += rt ? RightTo(r[i], w[i]) : PadTo(r[i], w[i]);
    }
    line.erase(line.find_last_not_of(' ') + 1);
    absl::StrAppend(&out, line, "\n");
  }
  return out;
}

}  // namespace ckptdb::cli
