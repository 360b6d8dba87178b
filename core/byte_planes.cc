#include "core/byte_planes.h"

// ZSTD_c_literalCompressionMode (an experimental parameter, accepted by the
// shared library) lets the literal-only context keep Huffman coding.
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"

namespace ckptdb::internal {
namespace {

constexpr int kMaxWidth = 8;
// A plane is compressed only when the sample predicts it shrinks below this
// fraction of its size: zstd gains nothing on noise and costs time.
constexpr double kCompressBelow = 0.85;
// The sample: this many windows of this many bytes, spread over the chunk.
constexpr size_t kSampleWindows = 16;
constexpr size_t kSampleWindowBytes = 1024;
// zstd's frame and table overhead per compressed plane, roughly.
constexpr double kPlaneOverheadBytes = 64;
// Planes predicted at most this fraction (mostly zeros: runs that matches
// code well) use zstd's level 1; the others (skewed bytes without
// repeats) a context that barely searches for matches and Huffman-codes
// the literals: 3-3.5x faster on such planes at an equal or smaller size
// (docs/design.md, "Delta and compressed chunks").
constexpr double kMatchesBelow = 0.25;
// What a run of equal bytes costs zstd's level 1, in bytes, roughly.
constexpr double kBytesPerRun = 3;
constexpr int kLiteralsLevel = -100;

// Per-thread zstd contexts and buffers (reused: fresh memory is slow to
// fault in on the machines this runs on).
struct ThreadState {
  ThreadState() {
    ZSTD_CCtx_setParameter(literals.get(), ZSTD_c_compressionLevel,
                           kLiteralsLevel);
    ZSTD_CCtx_setParameter(literals.get(), ZSTD_c_literalCompressionMode,
                           ZSTD_ps_enable);
  }
  std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> cctx{ZSTD_createCCtx(),
                                                          ZSTD_freeCCtx};
  std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> literals{ZSTD_createCCtx(),
                                                              ZSTD_freeCCtx};
  std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> dctx{ZSTD_createDCtx(),
                                                          ZSTD_freeDCtx};
  std::string planes;      // the planes of one chunk, plane after plane
  std::string compressed;  // one plane's zstd frame
};
ThreadState& State() {
  thread_local ThreadState state;
  return state;
}

template <typename W>
W Load(const char* p) {
  W w;
  std::memcpy(&w, p, sizeof(W));
  return w;
}

template <typename W>
W Zigzag(W d) {
  using S = std::make_signed_t<W>;
  return static_cast<W>(d << 1) ^
         static_cast<W>(static_cast<S>(d) >> (8 * sizeof(W) - 1));
}

template <typename W>
W Unzigzag(W z) {
  return static_cast<W>(z >> 1) ^ static_cast<W>(W{0} - (z & 1));
}

// Elements [begin, end) of `bytes` (minus `base`) into planes of
// `plane_len` bytes each: plane k at planes + k * plane_len.
template <typename W>
void Split(const char* bytes, const char* base, size_t begin, size_t end,
           size_t plane_len, uint8_t* planes) {
  for (size_t i = begin; i < end; ++i) {
    W w = Load<W>(bytes + i * sizeof(W));
    if (base != nullptr) w = Zigzag<W>(w - Load<W>(base + i * sizeof(W)));
    for (size_t k = 0; k < sizeof(W); ++k) {
      planes[k * plane_len + i] = static_cast<uint8_t>(w >> (8 * k));
    }
  }
}

#if defined(__SSE2__)
// SSE2 (every x86-64) versions of Split and Join for 2- and 4-byte
// elements, 16 elements per step; they return how many elements they did
// (the scalar loop does the rest). 4-10x the scalar loops' speed: the
// transposition is the bulk of coding a chunk once zstd only sees the
// planes that compress.
inline __m128i Load(const void* p) {
  return _mm_loadu_si128(static_cast<const __m128i*>(p));
}
inline void Store(void* p, __m128i v) {
  _mm_storeu_si128(static_cast<__m128i*>(p), v);
}

size_t Split4(const char* bytes, const char* base, size_t n, size_t plane_len,
              uint8_t* planes) {
  const __m128i ff = _mm_set1_epi32(0xff);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m128i w[4];
    for (int q = 0; q < 4; ++q) {
      w[q] = Load(bytes + (i + 4 * q) * 4);
      if (base != nullptr) {
        const __m128i d = _mm_sub_epi32(w[q], Load(base + (i + 4 * q) * 4));
        w[q] = _mm_xor_si128(_mm_slli_epi32(d, 1), _mm_srai_epi32(d, 31));
      }
    }
    for (int k = 0; k < 4; ++k) {
      __m128i b[4];
      for (int q = 0; q < 4; ++q) {
        b[q] = _mm_and_si128(_mm_srli_epi32(w[q], 8 * k), ff);
      }
      Store(planes + k * plane_len + i,
            _mm_packus_epi16(_mm_packs_epi32(b[0], b[1]),
                             _mm_packs_epi32(b[2], b[3])));
    }
  }
  return i;
}

size_t Join4(const uint8_t* const* planes, const char* base, size_t n,
             char* dest) {
  const __m128i one = _mm_set1_epi32(1);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m128i p0 = Load(planes[0] + i), p1 = Load(planes[1] + i);
    const __m128i p2 = Load(planes[2] + i), p3 = Load(planes[3] + i);
    const __m128i a_lo = _mm_unpacklo_epi8(p0, p1);
    const __m128i a_hi = _mm_unpackhi_epi8(p0, p1);
    const __m128i b_lo = _mm_unpacklo_epi8(p2, p3);
    const __m128i b_hi = _mm_unpackhi_epi8(p2, p3);
    __m128i w[4] = {
        _mm_unpacklo_epi16(a_lo, b_lo), _mm_unpackhi_epi16(a_lo, b_lo),
        _mm_unpacklo_epi16(a_hi, b_hi), _mm_unpackhi_epi16(a_hi, b_hi)};
    for (int q = 0; q < 4; ++q) {
      if (base != nullptr) {
        const __m128i d = _mm_xor_si128(
            _mm_srli_epi32(w[q], 1),
            _mm_sub_epi32(_mm_setzero_si128(), _mm_and_si128(w[q], one)));
        w[q] = _mm_add_epi32(Load(base + (i + 4 * q) * 4), d);
      }
      Store(dest + (i + 4 * q) * 4, w[q]);
    }
  }
  return i;
}

size_t Split2(const char* bytes, const char* base, size_t n, size_t plane_len,
              uint8_t* planes) {
  const __m128i ff = _mm_set1_epi16(0xff);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m128i w[2];
    for (int q = 0; q < 2; ++q) {
      w[q] = Load(bytes + (i + 8 * q) * 2);
      if (base != nullptr) {
        const __m128i d = _mm_sub_epi16(w[q], Load(base + (i + 8 * q) * 2));
        w[q] = _mm_xor_si128(_mm_slli_epi16(d, 1), _mm_srai_epi16(d, 15));
      }
    }
    Store(planes + i,
          _mm_packus_epi16(_mm_and_si128(w[0], ff), _mm_and_si128(w[1], ff)));
    Store(planes + plane_len + i,
          _mm_packus_epi16(_mm_srli_epi16(w[0], 8), _mm_srli_epi16(w[1], 8)));
  }
  return i;
}

size_t Join2(const uint8_t* const* planes, const char* base, size_t n,
             char* dest) {
  const __m128i one = _mm_set1_epi16(1);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m128i p0 = Load(planes[0] + i), p1 = Load(planes[1] + i);
    __m128i w[2] = {_mm_unpacklo_epi8(p0, p1), _mm_unpackhi_epi8(p0, p1)};
    for (int q = 0; q < 2; ++q) {
      if (base != nullptr) {
        const __m128i d = _mm_xor_si128(
            _mm_srli_epi16(w[q], 1),
            _mm_sub_epi16(_mm_setzero_si128(), _mm_and_si128(w[q], one)));
        w[q] = _mm_add_epi16(Load(base + (i + 8 * q) * 2), d);
      }
      Store(dest + (i + 8 * q) * 2, w[q]);
    }
  }
  return i;
}
#else
size_t Split4(const char*, const char*, size_t, size_t, uint8_t*) { return 0; }
size_t Join4(const uint8_t* const*, const char*, size_t, char*) { return 0; }
size_t Split2(const char*, const char*, size_t, size_t, uint8_t*) { return 0; }
size_t Join2(const uint8_t* const*, const char*, size_t, char*) { return 0; }
#endif

void SplitAny(int width, const char* bytes, const char* base, size_t begin,
              size_t end, size_t plane_len, uint8_t* planes) {
  switch (width) {
    case 1:
      return Split<uint8_t>(bytes, base, begin, end, plane_len, planes);
    case 2:
      if (begin == 0) begin = Split2(bytes, base, end, plane_len, planes);
      return Split<uint16_t>(bytes, base, begin, end, plane_len, planes);
    case 4:
      if (begin == 0) begin = Split4(bytes, base, end, plane_len, planes);
      return Split<uint32_t>(bytes, base, begin, end, plane_len, planes);
    default:
      return Split<uint64_t>(bytes, base, begin, end, plane_len, planes);
  }
}

template <typename W>
void Join(const uint8_t* const* planes, const char* base, size_t begin,
          size_t n, char* dest) {
  for (size_t i = begin; i < n; ++i) {
    W w = 0;
    for (size_t k = 0; k < sizeof(W); ++k) {
      w |= static_cast<W>(static_cast<W>(planes[k][i]) << (8 * k));
    }
    if (base != nullptr) {
      w = static_cast<W>(Load<W>(base + i * sizeof(W)) + Unzigzag<W>(w));
    }
    std::memcpy(dest + i * sizeof(W), &w, sizeof(W));
  }
}

void JoinAny(int width, const uint8_t* const* planes, const char* base,
             size_t n, char* dest) {
  switch (width) {
    case 1:
      return Join<uint8_t>(planes, base, 0, n, dest);
    case 2:
      return Join<uint16_t>(planes, base, Join2(planes, base, n, dest), n,
                            dest);
    case 4:
      return Join<uint32_t>(planes, base, Join4(planes, base, n, dest), n,
                            dest);
    default:
      return Join<uint64_t>(planes, base, 0, n, dest);
  }
}

// Order-0 entropy, in bits per byte, of a histogram of `total` bytes.
double Entropy(const std::array<uint32_t, 256>& counts, size_t total) {
  double h = 0;
  for (uint32_t c : counts) {
    if (c == 0) continue;
    const double p = static_cast<double>(c) / static_cast<double>(total);
    h -= p * std::log2(p);
  }
  return h;
}

bool ValidWidth(int width) {
  return width == 1 || width == 2 || width == 4 || width == 8;
}

}  // namespace

int PlaneWidth(size_t dtype_size) {
  if (dtype_size == 2 || dtype_size == 4 || dtype_size == 8) {
    return static_cast<int>(dtype_size);
  }
  if (dtype_size == 16) return 8;  // complex128: by component
  return 1;
}

PlanePlan PlanPlanes(absl::string_view bytes, absl::string_view base,
                     int width) {
  PlanePlan plan;
  plan.width = width;
  plan.transform =
      base.empty() ? PlaneTransform::kNone : PlaneTransform::kDifference;
  plan.codecs.assign(width, PlaneCodec::kStored);
  plan.plane_fractions.assign(width, 1.0);
  plan.plane_matches.assign(width, true);
  const size_t n = bytes.size() / width;
  if (!ValidWidth(width) || n == 0 || bytes.size() % width != 0 ||
      (!base.empty() && base.size() != bytes.size())) {
    return plan;
  }
  // Windows of whole elements, evenly spaced (the whole chunk if small).
  const size_t window = std::min(n, kSampleWindowBytes / width);
  const size_t windows = std::min(kSampleWindows, n / window);
  std::array<std::array<uint32_t, 256>, kMaxWidth> counts{};
  std::array<uint32_t, kMaxWidth> repeats{};  // bytes equal to the previous
  std::array<uint8_t, kSampleWindowBytes> planes;
  size_t sampled = 0;
  for (size_t w = 0; w < windows; ++w) {
    const size_t begin = windows == 1 ? 0 : w * (n - window) / (windows - 1);
    const char* b = base.empty() ? nullptr : base.data() + begin * width;
    SplitAny(width, bytes.data() + begin * width, b, 0, window, window,
             planes.data());
    for (int k = 0; k < width; ++k) {
      const uint8_t* p = planes.data() + k * window;
      ++counts[k][p[0]];
      for (size_t i = 1; i < window; ++i) {
        ++counts[k][p[i]];
        repeats[k] += p[i] == p[i - 1] ? 1 : 0;
      }
    }
    sampled += window;
  }
  double predicted = 0;
  for (int k = 0; k < width; ++k) {
    // Order-0 entropy misses runs (counters, masks, sorted ids), which
    // matches code in a few bytes each.
    const double overhead = kPlaneOverheadBytes / static_cast<double>(n);
    const double entropy = Entropy(counts[k], sampled) / 8 + overhead;
    const double runs =
        kBytesPerRun * (1 - static_cast<double>(repeats[k]) /
                                static_cast<double>(sampled - windows)) +
        overhead;
    const double fraction = std::min(entropy, runs);
    plan.plane_matches[k] = runs < entropy || fraction <= kMatchesBelow;
    plan.plane_fractions[k] = std::min(fraction, 1.0);
    if (fraction < kCompressBelow) {
      plan.codecs[k] = PlaneCodec::kZstd;
      predicted += fraction;
    } else {
      predicted += 1;
    }
  }
  plan.predicted_fraction = predicted / width;
  return plan;
}

bool EncodePlanes(absl::string_view bytes, absl::string_view base,
                  const PlanePlan& plan, int zstd_level, size_t max_bytes,
                  CodedPlanes* out) {
  const int width = plan.width;
  if (!ValidWidth(width) || bytes.empty() || bytes.size() % width != 0 ||
      plan.codecs.size() != static_cast<size_t>(width)) {
    return false;
  }
  const bool diff = plan.transform == PlaneTransform::kDifference;
  if (diff && base.size() != bytes.size()) return false;
  ThreadState& st = State();
  const size_t n = bytes.size() / width;
  st.planes.resize(bytes.size());
  auto* planes = reinterpret_cast<uint8_t*>(st.planes.data());
  SplitAny(width, bytes.data(), diff ? base.data() : nullptr, 0, n, n, planes);
  out->width = width;
  out->transform = plan.transform;
  out->codecs.assign(width, PlaneCodec::kStored);
  out->sizes.assign(width, 0);
  out->data.clear();
  const size_t bound = ZSTD_compressBound(n);
  for (int k = 0; k < width; ++k) {
    const char* plane = reinterpret_cast<const char*>(planes + k * n);
    size_t size = n;
    if (plan.codecs[k] == PlaneCodec::kZstd) {
      if (st.compressed.size() < bound) st.compressed.resize(bound);
      const bool matches = k >= static_cast<int>(plan.plane_matches.size()) ||
                           plan.plane_matches[k];
      size_t r;
      if (matches) {
        r = ZSTD_compressCCtx(st.cctx.get(), st.compressed.data(), bound, plane,
                              n, zstd_level);
      } else {
        r = ZSTD_compress2(st.literals.get(), st.compressed.data(), bound,
                           plane, n);
      }
      if (!ZSTD_isError(r) && r < n) {
        out->codecs[k] = PlaneCodec::kZstd;
        plane = st.compressed.data();
        size = r;
      }
    }
    if (out->data.size() + size > max_bytes) return false;
    out->data.append(plane, size);
    out->sizes[k] = static_cast<uint32_t>(size);
  }
  return true;
}

absl::Status DecodePlanes(const PlanesView& planes, absl::string_view base,
                          absl::string_view what, char* dest, size_t size) {
  auto corrupt = [&](absl::string_view why) {
    return absl::DataLossError(
        absl::StrCat(what, ": invalid coded chunk (", why, ")"));
  };
  const int width = planes.width;
  if (!ValidWidth(width)) return corrupt(absl::StrCat("width ", width));
  if (size % width != 0) return corrupt("size not a multiple of the width");
  const bool diff = planes.transform == PlaneTransform::kDifference;
  if (!diff && planes.transform != PlaneTransform::kNone) {
    return corrupt("unknown transform");
  }
  if (diff && base.size() != size) return corrupt("no base of its size");
  if (planes.codecs.size() != static_cast<size_t>(width) ||
      planes.sizes.size() != static_cast<size_t>(width)) {
    return corrupt("plane count differs from the width");
  }
  ThreadState& st = State();
  const size_t n = size / width;
  st.planes.resize(size);
  std::array<const uint8_t*, kMaxWidth> ptrs{};
  size_t offset = 0;
  for (int k = 0; k < width; ++k) {
    const size_t stored = planes.sizes[k];
    if (stored > planes.data.size() - offset) {
      return corrupt("plane sizes exceed the data");
    }
    const char* src = planes.data.data() + offset;
    offset += stored;
    if (planes.codecs[k] == static_cast<uint8_t>(PlaneCodec::kStored)) {
      if (stored != n) return corrupt("stored plane of the wrong size");
      ptrs[k] = reinterpret_cast<const uint8_t*>(src);
      continue;
    }
    if (planes.codecs[k] != static_cast<uint8_t>(PlaneCodec::kZstd)) {
      return corrupt("unknown plane codec");
    }
    char* plane = st.planes.data() + k * n;
    const size_t r = ZSTD_decompressDCtx(st.dctx.get(), plane, n, src, stored);
    if (ZSTD_isError(r) || r != n) return corrupt("bad zstd plane");
    ptrs[k] = reinterpret_cast<const uint8_t*>(plane);
  }
  if (offset != planes.data.size()) return corrupt("trailing plane data");
  JoinAny(width, ptrs.data(), diff ? base.data() : nullptr, n, dest);
  return absl::OkStatus();
}

}  // namespace ckptdb::internal
