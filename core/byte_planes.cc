#include "core/byte_planes.h"

#include <zstd.h>

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
constexpr double kCompressBelow = 15.0 / 16.0;
// The sample: this many windows of this many bytes, spread over the chunk.
constexpr size_t kSampleWindows = 16;
constexpr size_t kSampleWindowBytes = 1024;
// zstd's frame and table overhead per compressed plane, roughly.
constexpr double kPlaneOverheadBytes = 64;

// Per-thread zstd contexts and buffers (reused: fresh memory is slow to
// fault in on the machines this runs on).
struct ThreadState {
  std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> cctx{ZSTD_createCCtx(),
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

void SplitAny(int width, const char* bytes, const char* base, size_t begin,
              size_t end, size_t plane_len, uint8_t* planes) {
  switch (width) {
    case 1:
      return Split<uint8_t>(bytes, base, begin, end, plane_len, planes);
    case 2:
      return Split<uint16_t>(bytes, base, begin, end, plane_len, planes);
    case 4:
      return Split<uint32_t>(bytes, base, begin, end, plane_len, planes);
    default:
      return Split<uint64_t>(bytes, base, begin, end, plane_len, planes);
  }
}

template <typename W>
void Join(const uint8_t* const* planes, const char* base, size_t n,
          char* dest) {
  for (size_t i = 0; i < n; ++i) {
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
      return Join<uint8_t>(planes, base, n, dest);
    case 2:
      return Join<uint16_t>(planes, base, n, dest);
    case 4:
      return Join<uint32_t>(planes, base, n, dest);
    default:
      return Join<uint64_t>(planes, base, n, dest);
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
  const size_t n = bytes.size() / width;
  if (!ValidWidth(width) || n == 0 || bytes.size() % width != 0 ||
      (!base.empty() && base.size() != bytes.size())) {
    return plan;
  }
  // Windows of whole elements, evenly spaced (the whole chunk if small).
  const size_t window = std::min(n, kSampleWindowBytes / width);
  const size_t windows = std::min(kSampleWindows, n / window);
  std::array<std::array<uint32_t, 256>, kMaxWidth> counts{};
  std::array<uint8_t, kSampleWindowBytes> planes;
  size_t sampled = 0;
  for (size_t w = 0; w < windows; ++w) {
    const size_t begin = windows == 1 ? 0 : w * (n - window) / (windows - 1);
    const char* b = base.empty() ? nullptr : base.data() + begin * width;
    SplitAny(width, bytes.data() + begin * width, b, 0, window, window,
             planes.data());
    for (int k = 0; k < width; ++k) {
      for (size_t i = 0; i < window; ++i) ++counts[k][planes[k * window + i]];
    }
    sampled += window;
  }
  double predicted = 0;
  for (int k = 0; k < width; ++k) {
    const double fraction = Entropy(counts[k], sampled) / 8 +
                            kPlaneOverheadBytes / static_cast<double>(n);
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
      const size_t r = ZSTD_compressCCtx(st.cctx.get(), st.compressed.data(),
                                         bound, plane, n, zstd_level);
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
