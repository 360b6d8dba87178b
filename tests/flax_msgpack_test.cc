// core/flax_msgpack: legacy Flax msgpack checkpoints decoded from bytes
// built by hand after docs/reference flax-legacy.md section 1.10.
#include "core/flax_msgpack.h"

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "ckptdb/array.h"
#include "ckptdb/dtype.h"
#include "ckptdb/tree.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ckptdb::flax_msgpack {
namespace {

using ::testing::HasSubstr;

std::string Be(uint64_t v, int n) {
  std::string s;
  for (int i = n - 1; i >= 0; --i) s.push_back(static_cast<char>(v >> (8 * i)));
  return s;
}

std::string Str(const std::string& s) {
  if (s.size() < 32)
    return std::string(1, static_cast<char>(0xa0 | s.size())) + s;
  return "\xd9" + Be(s.size(), 1) + s;
}
std::string Bin(const std::string& s) {
  if (s.size() < 256) return "\xc4" + Be(s.size(), 1) + s;
  if (s.size() < 65536) return "\xc5" + Be(s.size(), 2) + s;
  return "\xc6" + Be(s.size(), 4) + s;
}
std::string Map(int n) { return std::string(1, static_cast<char>(0x80 | n)); }
std::string Arr(int n) { return std::string(1, static_cast<char>(0x90 | n)); }
std::string Int(int64_t v) {
  if (v >= 0 && v < 128) return std::string(1, static_cast<char>(v));
  return "\xd3" + Be(static_cast<uint64_t>(v), 8);
}
std::string F64(double d) {
  uint64_t u;
  std::memcpy(&u, &d, 8);
  return "\xcb" + Be(u, 8);
}
// The smallest ext encoding msgpack-python writes, or a forced header byte.
std::string Ext(int type, const std::string& p, int head = 0) {
  const char t = static_cast<char>(type);
  if (head == 0) {
    switch (p.size()) {
      case 1:
        head = 0xd4;
        break;
      case 2:
        head = 0xd5;
        break;
      case 4:
        head = 0xd6;
        break;
      case 8:
        head = 0xd7;
        break;
      case 16:
        head = 0xd8;
        break;
      default:
        head = p.size() < 256 ? 0xc7 : p.size() < 65536 ? 0xc8 : 0xc9;
    }
  }
  std::string h(1, static_cast<char>(head));
  if (head == 0xc7) h += Be(p.size(), 1);
  if (head == 0xc8) h += Be(p.size(), 2);
  if (head == 0xc9) h += Be(p.size(), 4);
  return h + t + p;
}
std::string NdPayload(const std::vector<int64_t>& shape,
                      const std::string& dtype, const std::string& data) {
  std::string p = Arr(3) + Arr(static_cast<int>(shape.size()));
  for (int64_t d : shape) p += Int(d);
  return p + Str(dtype) + Bin(data);
}
std::string Nd(const std::vector<int64_t>& shape, const std::string& dtype,
               const std::string& data, int head = 0) {
  return Ext(1, NdPayload(shape, dtype, data), head);
}
template <typename T>
std::string Raw(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()),
                     v.size() * sizeof(T));
}

absl::StatusOr<Tree> Dec(const std::string& s, DecodeOptions o = {}) {
  return Decode(std::make_shared<const std::string>(s), o);
}

const Tree& At(const Tree& t, const std::string& key) {
  for (size_t i = 0; i < t.size(); ++i) {
    if (t.keys()[i] == DictKey(key)) return t.children()[i];
  }
  static const Tree* none = new Tree();
  ADD_FAILURE() << "no key " << key;
  return *none;
}

// The reference's worked example, byte for byte.
std::string WorkedExample() {
  std::vector<float> w = {0, 1, 2, 3, 4, 5};
  return Map(5) + Str("params") + Map(1) + Str("w") +
         Nd({2, 3}, "float32", Raw(w)) + Str("step") + Int(7) + Str("lr") +
         Ext(3, NdPayload({}, "float32", Raw(std::vector<float>{0.5f}))) +
         Str("c") + Ext(2, Arr(2) + F64(1) + F64(2)) + Str("0") + Map(1) +
         Str("0") + Str("x");
}

#define ASSERT_DECODES(var, bytes, ...)                 \
  absl::StatusOr<Tree> var = Dec(bytes, ##__VA_ARGS__); \
  ASSERT_TRUE(var.ok()) << var.status()

// The error of decoding `bytes`; it must be InvalidArgument naming a byte.
std::string Err(const std::string& bytes, DecodeOptions o = {}) {
  absl::StatusOr<Tree> t = Dec(bytes, o);
  if (t.ok()) return "decoded";
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(t.status().message()), HasSubstr("byte "));
  return std::string(t.status().message());
}

TEST(FlaxMsgpackTest, WorkedExample) {
  const std::string b = WorkedExample();
  // The ext headers the reference shows: ext8 for w and c, fixext16 for lr.
  EXPECT_NE(b.find("\xc7\x26\x01"), std::string::npos);
  EXPECT_NE(b.find("\xd8\x03"), std::string::npos);
  EXPECT_NE(b.find(std::string("\xc7\x13\x02", 3)), std::string::npos);
  ASSERT_DECODES(t, b);
  ASSERT_EQ(t->kind(), Tree::Kind::kDict);
  std::vector<std::string> keys;
  for (const DictKey& k : t->keys()) keys.push_back(k.str());
  EXPECT_EQ(keys, (std::vector<std::string>{"params", "step", "lr", "c", "0"}));
  const Array& w = At(At(*t, "params"), "w").array();
  EXPECT_EQ(w.dtype(), DType::kFloat32);
  EXPECT_EQ(w.shape(), (Shape{2, 3}));
  EXPECT_EQ(w.data_as<float>()[5], 5.0f);
  EXPECT_EQ(At(*t, "step").int_value(), 7);
  const Array& lr = At(*t, "lr").array();
  EXPECT_EQ(lr.rank(), 0);
  EXPECT_EQ(lr.data_as<float>()[0], 0.5f);
  const Array& c = At(*t, "c").array();
  EXPECT_EQ(c.dtype(), DType::kComplex128);
  EXPECT_EQ(c.rank(), 0);
  EXPECT_EQ(c.data_as<double>()[0], 1.0);
  EXPECT_EQ(c.data_as<double>()[1], 2.0);
  EXPECT_EQ(At(At(*t, "0"), "0").string_value(), "x");
  EXPECT_TRUE(LooksLikeFlaxMsgpack(b));
}

TEST(FlaxMsgpackTest, EveryExtSize) {
  // fixext1/2/4/8 only fit Orbax tuples; fixext16 the npscalar above.
  ASSERT_DECODES(t1, Ext(4, Arr(0)));
  EXPECT_EQ(t1->kind(), Tree::Kind::kTuple);
  EXPECT_EQ(t1->size(), 0u);
  ASSERT_DECODES(t2, Ext(4, Arr(1) + Int(9)));
  EXPECT_EQ((*t2)[0].int_value(), 9);
  ASSERT_DECODES(t4, Ext(4, Arr(3) + Int(1) + Int(2) + Int(3)));
  EXPECT_EQ(t4->size(), 3u);
  ASSERT_DECODES(t8, Ext(4, Arr(7) + std::string(7, '\x01')));
  EXPECT_EQ(t8->size(), 7u);
  std::string small = Raw(std::vector<int16_t>{1, 2, 3});
  for (int head : {0xc7, 0xc8, 0xc9}) {
    ASSERT_DECODES(t, Nd({3}, "int16", small, head));
    EXPECT_EQ(t->array().data_as<int16_t>()[2], 3) << head;
  }
  // ext16 and ext32 as the encoder picks them by size.
  std::vector<int32_t> mid(100, 7), big(20000, 9);
  ASSERT_DECODES(m, Nd({100}, "int32", Raw(mid)));
  EXPECT_EQ(Nd({100}, "int32", Raw(mid))[0], '\xc8');
  EXPECT_EQ(m->array().data_as<int32_t>()[99], 7);
  ASSERT_DECODES(g, Nd({20000}, "int32", Raw(big)));
  EXPECT_EQ(Nd({20000}, "int32", Raw(big))[0], '\xc9');
  EXPECT_EQ(g->array().num_elements(), 20000);
  // A bare top-level array is a legal checkpoint.
  EXPECT_TRUE(LooksLikeFlaxMsgpack(Nd({3}, "int16", small)));
}

TEST(FlaxMsgpackTest, Dtypes) {
  struct Case {
    std::string name;
    DType dtype;
    size_t size;
  };
  for (const Case& c :
       std::vector<Case>{{"bool", DType::kBool, 1},
                         {"int8", DType::kInt8, 1},
                         {"uint8", DType::kUInt8, 1},
                         {"int16", DType::kInt16, 2},
                         {"uint16", DType::kUInt16, 2},
                         {"int32", DType::kInt32, 4},
                         {"uint32", DType::kUInt32, 4},
                         {"int64", DType::kInt64, 8},
                         {"uint64", DType::kUInt64, 8},
                         {"float16", DType::kFloat16, 2},
                         {"bfloat16", DType::kBFloat16, 2},
                         {"float32", DType::kFloat32, 4},
                         {"float64", DType::kFloat64, 8},
                         {"complex64", DType::kComplex64, 8},
                         {"complex128", DType::kComplex128, 16}}) {
    std::string data(3 * c.size, '\0');
    data[c.size] = 1;  // element 1 is "1" in its lowest byte
    ASSERT_DECODES(t, Map(1) + Str("a") + Nd({3}, c.name, data));
    const Array& a = At(*t, "a").array();
    EXPECT_EQ(a.dtype(), c.dtype) << c.name;
    EXPECT_EQ(a.shape(), (Shape{3}));
    EXPECT_EQ(std::string(static_cast<const char*>(a.data()), a.nbytes()),
              data);
  }
  // bfloat16 1.0 is 0x3f80.
  ASSERT_DECODES(bf, Nd({1}, "bfloat16", std::string("\x80\x3f", 2)));
  float f;
  CastElements(DType::kBFloat16, bf->array().data(), DType::kFloat32, &f, 1);
  EXPECT_EQ(f, 1.0f);
}

TEST(FlaxMsgpackTest, ChunkedArray) {
  std::vector<int32_t> a = {0, 1, 2, 3}, b = {4, 5};
  const std::string chunked =
      Map(1) + Str("w") + Map(3) + Str("__msgpack_chunked_array__") + "\xc3" +
      Str("shape") + Map(2) + Str("0") + Int(2) + Str("1") + Int(3) +
      Str("chunks") + Map(2) + Str("0") + Nd({4}, "int32", Raw(a)) + Str("1") +
      Nd({2}, "int32", Raw(b));
  ASSERT_DECODES(t, chunked);
  const Array& w = At(*t, "w").array();
  EXPECT_EQ(w.dtype(), DType::kInt32);
  EXPECT_EQ(w.shape(), (Shape{2, 3}));
  for (int i = 0; i < 6; ++i) EXPECT_EQ(w.data_as<int32_t>()[i], i);
  // Chunks that do not add up to the shape.
  const std::string bad = Map(3) + Str("__msgpack_chunked_array__") + "\xc3" +
                          Str("shape") + Map(1) + Str("0") + Int(5) +
                          Str("chunks") + Map(1) + Str("0") +
                          Nd({4}, "int32", Raw(a));
  EXPECT_THAT(Err(bad), HasSubstr("chunks hold 4 elements"));
  const std::string mixed =
      Map(3) + Str("__msgpack_chunked_array__") + "\xc3" + Str("shape") +
      Map(1) + Str("0") + Int(6) + Str("chunks") + Map(2) + Str("0") +
      Nd({4}, "int32", Raw(a)) + Str("1") + Nd({2}, "float32", Raw(b));
  EXPECT_THAT(Err(mixed), HasSubstr("chunk 1"));
}

TEST(FlaxMsgpackTest, NonArrayLeavesAndContainers) {
  const std::string b = Map(10) + Str("i") + "\xff" + Str("u") + "\xcf" +
                        Be(1ull << 40, 8) + Str("s8") + "\xd0\x80" +
                        Str("f32") + "\xca" + Be(0x3fc00000, 4) + Str("f") +
                        F64(2.5) + Str("b") + "\xc2" + Str("n") + "\xc0" +
                        Str("e") + Map(0) + Str("l") + Arr(2) + Int(1) +
                        Str("two") + "\x05" + Str("str\xc3\xa9");
  ASSERT_DECODES(t, b);
  EXPECT_EQ(At(*t, "i").int_value(), -1);
  EXPECT_EQ(At(*t, "u").int_value(), int64_t{1} << 40);
  EXPECT_EQ(At(*t, "s8").int_value(), -128);
  EXPECT_EQ(At(*t, "f32").float_value(), 1.5);
  EXPECT_EQ(At(*t, "f").float_value(), 2.5);
  EXPECT_EQ(At(*t, "b").kind(), Tree::Kind::kBool);
  EXPECT_EQ(At(*t, "n").kind(), Tree::Kind::kNone);
  EXPECT_EQ(At(*t, "e").kind(), Tree::Kind::kDict);
  EXPECT_EQ(At(*t, "e").size(), 0u);
  EXPECT_EQ(At(*t, "l").kind(), Tree::Kind::kList);
  EXPECT_EQ(At(*t, "l")[1].string_value(), "two");
  EXPECT_TRUE(t->keys()[9].is_int());
  EXPECT_EQ(t->keys()[9].int_value(), 5);
  EXPECT_EQ(t->children()[9].string_value(), "str\xc3\xa9");
}

TEST(FlaxMsgpackTest, BytesAsThePythonPackageStoresThem) {
  ASSERT_DECODES(t, Map(1) + Str("b") + Bin(std::string("x\0y", 3)));
  const Tree& b = At(*t, "b");
  ASSERT_EQ(b.kind(), Tree::Kind::kDict);
  const Array& a = At(b, "__ckptdb_bytes__").array();
  EXPECT_EQ(a.dtype(), DType::kUInt8);
  EXPECT_EQ(a.shape(), (Shape{3}));
  EXPECT_EQ(std::string(static_cast<const char*>(a.data()), 3),
            std::string("x\0y", 3));
}

TEST(FlaxMsgpackTest, DuplicateKeyLastWins) {
  ASSERT_DECODES(t, Map(2) + Str("a") + Int(1) + Str("a") + Int(2));
  ASSERT_EQ(t->size(), 1u);
  EXPECT_EQ(t->children()[0].int_value(), 2);
}

TEST(FlaxMsgpackTest, Lists) {
  const std::string b = Map(2) + Str("opt") + Map(2) + Str("1") + Map(0) +
                        Str("0") + Map(1) + Str("count") + Int(3) +
                        Str("keep") + Map(2) + Str("0") + Int(1) + Str("2") +
                        Int(2);
  ASSERT_DECODES(raw, b);
  EXPECT_EQ(At(*raw, "opt").kind(), Tree::Kind::kDict);
  DecodeOptions o;
  o.lists = true;
  ASSERT_DECODES(t, b, o);
  const Tree& opt = At(*t, "opt");
  ASSERT_EQ(opt.kind(), Tree::Kind::kList);
  EXPECT_EQ(At(opt[0], "count").int_value(), 3);
  EXPECT_EQ(opt[1].kind(), Tree::Kind::kDict);          // {} stays a dict
  EXPECT_EQ(At(*t, "keep").kind(), Tree::Kind::kDict);  // "0","2"
}

TEST(FlaxMsgpackTest, EveryTruncationFails) {
  const std::string b = WorkedExample();
  for (size_t n = 0; n < b.size(); ++n) {
    EXPECT_THAT(Err(b.substr(0, n)), HasSubstr("byte")) << n;
  }
  EXPECT_THAT(Err(b.substr(0, 20)), HasSubstr("truncated"));
  EXPECT_THAT(Err(b + "\x01"), HasSubstr("unexpected bytes after"));
}

TEST(FlaxMsgpackTest, LyingLengths) {
  EXPECT_THAT(Err("\xdf\xff\xff\xff\xff" + Str("a")), HasSubstr("cannot fit"));
  EXPECT_THAT(Err("\xdd\xff\xff\xff\xff\x01"), HasSubstr("cannot fit"));
  EXPECT_THAT(Err("\xdb\xff\xff\xff\xff"
                  "abc"),
              HasSubstr("truncated"));
  EXPECT_THAT(Err("\xc9\xff\xff\xff\xff\x01\x93"), HasSubstr("truncated"));
  // The payload's bin claims more than the ext holds.
  std::string p = NdPayload({2}, "int8", "ab");
  p[p.size() - 3] = 3;  // bin8 length 2 -> 3
  EXPECT_THAT(Err(Ext(1, p)), HasSubstr("truncated"));
  // Shape rank larger than the payload.
  EXPECT_THAT(Err(Ext(1, Arr(3) + "\xdc\xff\xff")), HasSubstr("byte"));
}

TEST(FlaxMsgpackTest, WrongExtPayloads) {
  // The error names the offset of the ext (the key "a" takes bytes 1-2).
  const std::string extra = NdPayload({2}, "int8", "ab") + "\xc0";
  EXPECT_THAT(Err(Map(1) + Str("a") + Ext(1, extra)),
              HasSubstr("byte 3 (at 'a'): ext 1 payload of"));
  EXPECT_THAT(Err(Ext(1, Arr(2) + Arr(0) + Str("int8"))),
              HasSubstr("2 fields, not 3"));
  // fixext16 whose 16 bytes end inside the array data.
  std::string p = NdPayload({}, "float64", std::string(8, '\0'));
  EXPECT_THAT(Err(Ext(3, p.substr(0, 16), 0xd8)), HasSubstr("truncated"));
  EXPECT_THAT(Err(Ext(2, Arr(3) + F64(1) + F64(2) + F64(3))),
              HasSubstr("complex payload has 3 fields"));
  EXPECT_THAT(Err(Ext(2, Arr(2) + F64(1) + Str("x"))),
              HasSubstr("expected an integer"));
  EXPECT_THAT(Err(Ext(3, NdPayload({2}, "int8", "ab"))),
              HasSubstr("numpy scalar with shape (2,)"));
  EXPECT_THAT(Err(Ext(7, "abcd")), HasSubstr("ext type 7 is not a Flax type"));
  EXPECT_THAT(Err(Ext(1, Arr(3) + Arr(1) + Int(-1) + Str("int8") + Bin(""))),
              HasSubstr("negative dimension"));
}

TEST(FlaxMsgpackTest, BadDtypesNameTheLeaf) {
  for (const std::string name : {"float128", "object", "str", "float8_e4m3fn",
                                 "int4", "datetime64[ns]", ""}) {
    const std::string b = Map(1) + Str("p") + Map(1) + Str("w") +
                          Nd({1}, name, std::string(16, '\0'));
    EXPECT_THAT(Err(b), HasSubstr("(at 'p/w'): unsupported dtype '" + name))
        << name;
  }
}

TEST(FlaxMsgpackTest, ShapeByteMismatch) {
  EXPECT_THAT(Err(Nd({2, 3}, "float32", std::string(20, '\0'))),
              HasSubstr("data is 20 bytes; shape (2, 3) of float32 needs 24"));
  EXPECT_THAT(Err(Nd({1ll << 62, 1ll << 62}, "int8", "")),
              HasSubstr("needs more"));
  EXPECT_THAT(Err(Nd({2}, "bool", std::string("\x01\x02", 2))),
              HasSubstr("bool array holds the byte 2"));
}

TEST(FlaxMsgpackTest, DepthLimit) {
  std::string deep(100000, '\x91');
  deep += '\xc0';
  EXPECT_THAT(Err(deep), HasSubstr("nesting deeper than 256"));
  std::string maps;
  for (int i = 0; i < 300; ++i) maps += Map(1) + Str("k");
  EXPECT_THAT(Err(maps + "\xc0"), HasSubstr("nesting deeper"));
  std::string tuples;
  for (int i = 0; i < 300; ++i)
    tuples = Ext(4, Arr(1) + tuples + (i ? "" : "\xc0"));
  EXPECT_THAT(Err(tuples), HasSubstr("nesting deeper"));
  DecodeOptions o;
  o.max_depth = 300;
  std::string ok(299, '\x91');
  ok += '\xc0';
  EXPECT_TRUE(Dec(ok, o).ok());
}

// The limit on values: an array whose count alone passes it is refused
// before any of its values is decoded; values of several containers that
// pass it together, at the first value beyond it.
TEST(FlaxMsgpackTest, ValueLimit) {
  DecodeOptions o;
  o.max_nodes = 10;
  // At byte 0, the array, not byte 10, its tenth nil.
  EXPECT_THAT(Err(Arr(10) + std::string(10, '\xc0'), o),
              HasSubstr("byte 0: more than 10 values in one file"));
  EXPECT_TRUE(Dec(Arr(9) + std::string(9, '\xc0'), o).ok());
  // [[nil x5], [[nil], nil]]: 11 values, and no container's count passes
  // what is left of the limit when it is met (the last nil does).
  const std::string two = Arr(2) + Arr(5) + std::string(5, '\xc0') + Arr(2) +
                          Arr(1) + '\xc0' + '\xc0';
  EXPECT_THAT(Err(two, o),
              HasSubstr("byte 10 (at '1/1'): more than 10 values in one file"));
  o.max_nodes = 11;
  EXPECT_TRUE(Dec(two, o).ok());
}

TEST(FlaxMsgpackTest, UnsupportedValues) {
  EXPECT_THAT(Err(Map(1) + Str("b") + "\xc5\x01\x00xy"),
              HasSubstr("byte 3 (at 'b'): truncated"));
  EXPECT_THAT(Err("\xcf\xff\xff\xff\xff\xff\xff\xff\xff"),
              HasSubstr("does not fit in int64"));
  EXPECT_THAT(Err(Map(1) + "\xc0" + Int(1)), HasSubstr("map key of type"));
  EXPECT_THAT(Err(Str("\xff\xfe")), HasSubstr("not valid UTF-8"));
  EXPECT_THAT(Err("\xc1"), HasSubstr("not a msgpack type byte"));
  EXPECT_THAT(Err(""), HasSubstr("byte 0: truncated"));
}

}  // namespace
}  // namespace ckptdb::flax_msgpack
