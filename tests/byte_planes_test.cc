#include "core/byte_planes.h"

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ckptdb::internal {
namespace {

using ::testing::HasSubstr;

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

// float32 weights of scale 0.02 and the same after one small update of
// each (about 1e-4, as an Adam step at that learning rate).
std::pair<std::string, std::string> Weights(size_t n) {
  std::mt19937_64 rng(3);
  std::normal_distribution<float> w(0, 0.02f), d(0, 1e-4f);
  std::vector<float> a(n), b(n);
  for (size_t i = 0; i < n; ++i) {
    a[i] = w(rng);
    b[i] = a[i] + d(rng);
  }
  return {std::string(reinterpret_cast<char*>(a.data()), n * 4),
          std::string(reinterpret_cast<char*>(b.data()), n * 4)};
}

std::string RoundTrip(absl::string_view bytes, absl::string_view base,
                      int width, CodedPlanes* coded) {
  const PlanePlan plan = PlanPlanes(bytes, base, width);
  EXPECT_TRUE(EncodePlanes(bytes, base, plan, 1, bytes.size(), coded));
  PlanesView v;
  v.width = coded->width;
  v.transform = coded->transform;
  std::vector<uint8_t> codecs;
  for (PlaneCodec c : coded->codecs) codecs.push_back(static_cast<uint8_t>(c));
  v.codecs = codecs;
  v.sizes = coded->sizes;
  v.data = coded->data;
  std::string out(bytes.size(), '\0');
  absl::Status s = DecodePlanes(v, base, "chunk", out.data(), out.size());
  EXPECT_TRUE(s.ok()) << s;
  return out;
}

TEST(BytePlanesTest, WidthsFollowTheElementSize) {
  EXPECT_EQ(PlaneWidth(1), 1);
  EXPECT_EQ(PlaneWidth(2), 2);
  EXPECT_EQ(PlaneWidth(4), 4);
  EXPECT_EQ(PlaneWidth(8), 8);
  EXPECT_EQ(PlaneWidth(16), 8);
}

TEST(BytePlanesTest, EveryWidthRoundTripsExactlyWithAndWithoutBase) {
  for (int width : {1, 2, 4, 8}) {
    // Wrap-around differences, both signs, all-ones words: exact mod 2^n.
    std::string base = RandomBytes(1 << 16, 1);
    std::string bytes = base;
    std::mt19937_64 rng(width);
    for (size_t i = 0; i < bytes.size(); i += 3) {
      bytes[i] = static_cast<char>(bytes[i] + static_cast<char>(rng() % 5) - 2);
    }
    std::memset(bytes.data(), 0xff, 64);
    std::memset(base.data() + 64, 0xff, 64);
    CodedPlanes coded;
    EXPECT_EQ(RoundTrip(bytes, base, width, &coded), bytes) << width;
    EXPECT_EQ(coded.transform, PlaneTransform::kDifference);
    EXPECT_EQ(RoundTrip(bytes, "", width, &coded), bytes) << width;
    EXPECT_EQ(coded.transform, PlaneTransform::kNone);
  }
}

TEST(BytePlanesTest, ElementCountsThatAreNotWholeVectorsRoundTrip) {
  // The vectorised loops do 16 elements at a time; the rest is scalar.
  for (int width : {1, 2, 4, 8}) {
    for (size_t elements : {1, 15, 17, 1003}) {
      const std::string base = RandomBytes(elements * width, 7);
      std::string bytes = base;
      for (size_t i = 0; i < bytes.size(); i += 5) bytes[i] ^= 0x11;
      CodedPlanes coded;
      EXPECT_EQ(RoundTrip(bytes, base, width, &coded), bytes)
          << width << " x " << elements;
      EXPECT_EQ(RoundTrip(bytes, "", width, &coded), bytes)
          << width << " x " << elements;
    }
  }
}

TEST(BytePlanesTest, SmallFloatUpdatesPredictAndAchieveASaving) {
  auto [before, after] = Weights(1 << 18);  // 1 MiB
  const PlanePlan plan = PlanPlanes(after, before, 4);
  // Sign, exponent and top mantissa planes compress; the lowest is noise.
  EXPECT_EQ(plan.codecs[3], PlaneCodec::kZstd);
  EXPECT_EQ(plan.codecs[0], PlaneCodec::kStored);
  EXPECT_LT(plan.predicted_fraction, 0.8);
  CodedPlanes coded;
  EXPECT_EQ(RoundTrip(after, before, 4, &coded), after);
  EXPECT_LT(coded.data.size(), after.size() * 8 / 10);
  // The prediction is close to what zstd achieves (within 0.1).
  EXPECT_NEAR(plan.predicted_fraction,
              static_cast<double>(coded.data.size()) / after.size(), 0.1);
}

TEST(BytePlanesTest, RandomBytesPredictNoSavingAndAreNotCompressed) {
  std::string a = RandomBytes(1 << 20, 5), b = RandomBytes(1 << 20, 6);
  EXPECT_GT(PlanPlanes(a, b, 4).predicted_fraction, 0.99);
  EXPECT_GT(PlanPlanes(a, "", 4).predicted_fraction, 0.99);
  // A too-small budget fails instead of writing more.
  PlanePlan all_zstd = PlanPlanes(a, "", 4);
  all_zstd.codecs.assign(4, PlaneCodec::kZstd);
  CodedPlanes coded;
  EXPECT_FALSE(EncodePlanes(a, "", all_zstd, 1, a.size() / 2, &coded));
  // A plane zstd cannot shrink is stored.
  ASSERT_TRUE(EncodePlanes(a, "", all_zstd, 1, a.size(), &coded));
  for (PlaneCodec c : coded.codecs) EXPECT_EQ(c, PlaneCodec::kStored);
}

TEST(BytePlanesTest, SizesThatAreNotWholeElementsAreRefused) {
  CodedPlanes coded;
  PlanePlan plan = PlanPlanes("abcdef", "", 4);
  EXPECT_DOUBLE_EQ(plan.predicted_fraction, 1);
  plan.width = 4;
  EXPECT_FALSE(EncodePlanes("abcdef", "", plan, 1, 100, &coded));
}

class DecodeErrorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto [before, after] = Weights(4096);
    base_ = before;
    bytes_ = after;
    ASSERT_TRUE(EncodePlanes(bytes_, base_, PlanPlanes(bytes_, base_, 4), 1,
                             bytes_.size(), &coded_));
    for (PlaneCodec c : coded_.codecs) {
      codecs_.push_back(static_cast<uint8_t>(c));
    }
    view_.width = 4;
    view_.transform = PlaneTransform::kDifference;
    view_.codecs = codecs_;
    view_.sizes = coded_.sizes;
    view_.data = coded_.data;
  }
  absl::Status Decode(const PlanesView& v, absl::string_view base) {
    std::string out(bytes_.size(), '\0');
    return DecodePlanes(v, base, "leaf 'w'", out.data(), out.size());
  }
  std::string base_, bytes_;
  CodedPlanes coded_;
  std::vector<uint8_t> codecs_;
  PlanesView view_;
};

TEST_F(DecodeErrorsTest, EveryInconsistencyIsDataLossNamingTheChunk) {
  ASSERT_TRUE(Decode(view_, base_).ok());
  auto expect_loss = [&](const PlanesView& v, absl::string_view base,
                         absl::string_view why) {
    absl::Status s = Decode(v, base);
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << why << ": " << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr("leaf 'w'")) << why;
    EXPECT_THAT(std::string(s.message()), HasSubstr(why));
  };
  expect_loss(view_, "", "no base of its size");
  PlanesView v = view_;
  v.width = 3;
  expect_loss(v, base_, "width 3");
  v = view_;
  v.transform = static_cast<PlaneTransform>(7);
  expect_loss(v, base_, "unknown transform");
  v = view_;
  v.data = view_.data.substr(0, view_.data.size() - 1);
  expect_loss(v, base_, "plane sizes exceed the data");
  std::string longer = std::string(view_.data) + "x";
  v = view_;
  v.data = longer;
  expect_loss(v, base_, "trailing plane data");
  std::vector<uint8_t> bad = codecs_;
  bad[3] = 9;
  v = view_;
  v.codecs = bad;
  expect_loss(v, base_, "unknown plane codec");
  // A damaged zstd frame (plane 3 is compressed).
  ASSERT_EQ(coded_.codecs[3], PlaneCodec::kZstd);
  std::string damaged = coded_.data;
  damaged[damaged.size() - coded_.sizes[3]] ^= 0x5a;  // the frame's magic
  v = view_;
  v.data = damaged;
  expect_loss(v, base_, "bad zstd plane");
  v = view_;
  v.codecs = absl::MakeConstSpan(codecs_.data(), 3);
  expect_loss(v, base_, "plane count");
}

}  // namespace
}  // namespace ckptdb::internal
