#include "schema/records.h"

#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace ckptdb::internal {

void PutBigEndian64(std::string* out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out->push_back(static_cast<char>(v >> (8 * i)));
}
void PutBigEndian32(std::string* out, uint32_t v) {
  for (int i = 3; i >= 0; --i) out->push_back(static_cast<char>(v >> (8 * i)));
}
void PutBigEndian16(std::string* out, uint16_t v) {
  out->push_back(static_cast<char>(v >> 8));
  out->push_back(static_cast<char>(v));
}
uint64_t GetBigEndian64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
uint32_t GetBigEndian32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
uint16_t GetBigEndian16(const char* p) {
  return static_cast<uint16_t>((static_cast<uint8_t>(p[0]) << 8) |
                               static_cast<uint8_t>(p[1]));
}

std::string StepKey(int64_t step) {
  std::string k = kStepKeyPrefix;
  PutBigEndian64(&k, static_cast<uint64_t>(step));
  return k;
}

bool ValidRunName(absl::string_view run) {
  if (run.empty() || run.size() > 128) return false;
  for (char c : run) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' &&
        c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

bool ValidStoredRunName(absl::string_view run) {
  if (ValidRunName(run)) return true;
  return run.size() >= 2 && run[0] == kPartialRunMark &&
         ValidRunName(run.substr(1));
}

std::string PartialRunName(absl::string_view run, int process) {
  return absl::StrCat(std::string(1, kPartialRunMark), "p", process, ".", run);
}

bool IsPartialRunOf(absl::string_view name, absl::string_view run) {
  if (name.empty() || name[0] != kPartialRunMark) return false;
  const size_t dot = name.find('.');
  return dot != absl::string_view::npos && name.substr(dot + 1) == run;
}

std::string NamingKey(absl::string_view run) {
  return run.empty() ? std::string(kNamingKey)
                     : absl::StrCat(kRunNamingKeyPrefix, run);
}

std::string StepKey(absl::string_view run, int64_t step) {
  if (run.empty()) return StepKey(step);
  std::string k = absl::StrCat(kRunStepKeyPrefix, run, "/");
  PutBigEndian64(&k, static_cast<uint64_t>(step));
  return k;
}

bool ParseRunStepKey(absl::string_view key, std::string* run, int64_t* step) {
  if (ParseStepKey(key, step)) {
    run->clear();
    return true;
  }
  if (!absl::StartsWith(key, kRunStepKeyPrefix)) return false;
  const absl::string_view rest = key.substr(sizeof(kRunStepKeyPrefix) - 1);
  const size_t slash = rest.find('/');
  if (slash == absl::string_view::npos || rest.size() != slash + 1 + 8 ||
      !ValidStoredRunName(rest.substr(0, slash))) {
    return false;
  }
  *run = std::string(rest.substr(0, slash));
  *step = static_cast<int64_t>(GetBigEndian64(rest.data() + slash + 1));
  return true;
}

bool ParseStepKey(absl::string_view key, int64_t* step) {
  const size_t plen = sizeof(kStepKeyPrefix) - 1;
  if (key.size() != plen + 8 || !absl::StartsWith(key, kStepKeyPrefix)) {
    return false;
  }
  *step = static_cast<int64_t>(GetBigEndian64(key.data() + plen));
  return true;
}

std::string SegmentKey(uint64_t segment) {
  std::string k = kSegmentKeyPrefix;
  PutBigEndian64(&k, segment);
  return k;
}

std::string SegmentStatKey(uint64_t segment) {
  std::string k = kSegmentStatKeyPrefix;
  PutBigEndian64(&k, segment);
  return k;
}

bool ParseSegmentKey(absl::string_view key, absl::string_view prefix,
                     uint64_t* segment) {
  if (key.size() != prefix.size() + 8 || !absl::StartsWith(key, prefix)) {
    return false;
  }
  *segment = GetBigEndian64(key.data() + prefix.size());
  return true;
}

std::string ChunkIndexKey(const Hash128& hash) {
  std::string k;
  k.reserve(16);
  PutBigEndian64(&k, hash.hi);
  PutBigEndian64(&k, hash.lo);
  return k;
}

bool ParseChunkIndexKey(absl::string_view key, Hash128* hash) {
  if (key.size() != 16) return false;
  hash->hi = GetBigEndian64(key.data());
  hash->lo = GetBigEndian64(key.data() + 8);
  return true;
}

std::string ChunkKey(uint64_t segment, uint32_t ordinal) {
  std::string k;
  k.reserve(kChunkKeySize);
  PutBigEndian64(&k, segment);
  PutBigEndian32(&k, ordinal);
  return k;
}

bool ParseChunkKey(absl::string_view key, uint64_t* segment,
                   uint32_t* ordinal) {
  if (key.size() != kChunkKeySize) return false;
  *segment = GetBigEndian64(key.data());
  *ordinal = GetBigEndian32(key.data() + 8);
  return true;
}

std::string NodeKey(uint16_t item, uint32_t index) {
  std::string k = "n";
  PutBigEndian16(&k, item);
  PutBigEndian32(&k, index);
  return k;
}

std::string NodeKeyPrefix(uint16_t item) {
  std::string k = "n";
  PutBigEndian16(&k, item);
  return k;
}

bool ParseNodeKey(absl::string_view key, uint16_t* item, uint32_t* index) {
  if (key.size() != kNodeKeySize || key[0] != 'n') return false;
  *item = GetBigEndian16(key.data() + 1);
  *index = GetBigEndian32(key.data() + 3);
  return true;
}

std::string SlotColumnFamilyName(uint64_t n) {
  return absl::StrCat(kSlotCfPrefix, n);
}

bool ParseSlotColumnFamilyName(absl::string_view name, uint64_t* number) {
  if (absl::StartsWith(name, kSlotCfPrefix)) {
    return absl::SimpleAtoi(name.substr(sizeof(kSlotCfPrefix) - 1), number);
  }
  if (absl::StartsWith(name, kStepCfPrefix)) {
    std::vector<absl::string_view> parts =
        absl::StrSplit(name.substr(sizeof(kStepCfPrefix) - 1), '-');
    int64_t step;
    return parts.size() == 2 && absl::SimpleAtoi(parts[0], &step) &&
           absl::SimpleAtoi(parts[1], number);
  }
  return false;
}

std::string SealBytes(absl::string_view key, absl::string_view body) {
  std::string out;
  out.reserve(body.size() + kTrailerSize);
  out.append(body.data(), body.size());
  const uint64_t sum = Hash64(body, Hash64(key));
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>(sum >> (8 * i)));
  return out;
}

std::string SealRecord(absl::string_view key,
                       const flatbuffers::FlatBufferBuilder& fbb) {
  return SealBytes(
      key,
      absl::string_view(reinterpret_cast<const char*>(fbb.GetBufferPointer()),
                        fbb.GetSize()));
}

void RecordBuffer::Assign(absl::string_view bytes) {
  words_.resize((bytes.size() + 7) / 8 + 1);
  if (!bytes.empty()) std::memcpy(words_.data(), bytes.data(), bytes.size());
  size_ = bytes.size();
}

absl::Status UnsealRecord(absl::string_view key, absl::string_view value,
                          absl::string_view what, RecordBuffer* buf) {
  if (value.size() < kTrailerSize + 8) {
    return absl::DataLossError(
        absl::StrCat(what, ": record is truncated (", value.size(), " bytes)"));
  }
  const absl::string_view body = value.substr(0, value.size() - kTrailerSize);
  uint64_t stored = 0;
  for (int i = 7; i >= 0; --i) {
    stored = (stored << 8) |
             static_cast<uint8_t>(value[value.size() - kTrailerSize + i]);
  }
  if (Hash64(body, Hash64(key)) != stored) {
    return absl::DataLossError(
        absl::StrCat(what, ": record checksum mismatch (corrupt bytes)"));
  }
  buf->Assign(body);
  return absl::OkStatus();
}

}  // namespace ckptdb::internal
