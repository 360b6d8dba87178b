#include "schema/chunk_codec.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "schema/records.h"

namespace ckptdb::internal {

fb::ChunkRef ToChunkRef(const ChunkLocation& c) {
  return fb::ChunkRef(ToFb(c.hash), c.segment, c.ordinal, c.size, c.stored_size,
                      static_cast<fb::ChunkKind>(c.kind));
}

ChunkLocation FromChunkRef(const fb::ChunkRef& r) {
  ChunkLocation c;
  c.hash = FromFb(r.hash());
  c.segment = r.segment();
  c.ordinal = r.ordinal();
  c.size = r.size();
  c.stored_size = r.stored_size();
  c.kind = static_cast<ChunkKind>(r.kind());
  return c;
}

std::string EncodeChunkEntry(const ChunkEntry& entry) {
  const ChunkLocation& c = entry.location;
  flatbuffers::FlatBufferBuilder fbb(128);
  fb::ChunkRef base;
  if (entry.base) base = ToChunkRef(*entry.base);
  fb::ChunkEntryBuilder b(fbb);
  b.add_format_version(kFormatVersion);
  b.add_segment(c.segment);
  b.add_ordinal(c.ordinal);
  b.add_size(c.size);
  b.add_stored_size(c.stored_size);
  b.add_kind(static_cast<fb::ChunkKind>(c.kind));
  if (entry.base) b.add_base(&base);
  b.add_refcount(entry.refcount);
  fbb.Finish(b.Finish(), kChunkEntryIdent);
  return SealRecord(ChunkIndexKey(c.hash), fbb);
}

absl::StatusOr<ChunkEntry> DecodeChunkEntry(absl::string_view key,
                                            absl::string_view value) {
  Hash128 h;
  if (!ParseChunkIndexKey(key, &h)) {
    return absl::DataLossError(absl::StrCat(
        "chunk index entry with a malformed key of ", key.size(), " bytes"));
  }
  RecordBuffer buf;
  auto decoded = DecodeRecord<fb::ChunkEntry>(
      key, value, kChunkEntryIdent,
      absl::StrCat("chunk index entry ", h.ToHex()), &buf);
  if (!decoded.ok()) return decoded.status();
  const fb::ChunkEntry* e = *decoded;
  if (e->kind() > fb::ChunkKind_MAX ||
      (e->base() != nullptr && e->base()->kind() > fb::ChunkKind_MAX)) {
    const int kind =
        e->kind() > fb::ChunkKind_MAX ? e->kind() : e->base()->kind();
    return absl::DataLossError(absl::StrCat("chunk index entry ", h.ToHex(),
                                            ": unknown chunk kind ", kind));
  }
  ChunkEntry out;
  out.location.hash = h;
  out.location.segment = e->segment();
  out.location.ordinal = e->ordinal();
  out.location.size = e->size();
  out.location.stored_size = e->stored_size();
  out.location.kind = static_cast<ChunkKind>(e->kind());
  if (e->base() != nullptr) out.base = FromChunkRef(*e->base());
  out.refcount = e->refcount();
  return out;
}

bool EncodePatch(absl::string_view bytes, absl::string_view base_bytes,
                 const ChunkLocation& base, uint32_t page, double max_fraction,
                 absl::string_view key, std::string* out) {
  if (bytes.size() != base_bytes.size() || page == 0) return false;
  const size_t n_pages = (bytes.size() + page - 1) / page;
  const size_t max_pages = static_cast<size_t>(max_fraction * n_pages);
  std::vector<uint32_t> pages;
  size_t data_len = 0;
  for (size_t p = 0; p < n_pages; ++p) {
    const size_t off = p * page;
    const size_t len = std::min<size_t>(page, bytes.size() - off);
    if (std::memcmp(bytes.data() + off, base_bytes.data() + off, len) != 0) {
      if (pages.size() == max_pages) return false;
      pages.push_back(static_cast<uint32_t>(p));
      data_len += len;
    }
  }
  thread_local flatbuffers::FlatBufferBuilder fbb(1 << 16);
  fbb.Clear();
  uint8_t* data = nullptr;
  auto data_vec = fbb.CreateUninitializedVector(data_len, &data);
  for (uint32_t p : pages) {
    const size_t off = size_t{p} * page;
    const size_t len = std::min<size_t>(page, bytes.size() - off);
    std::memcpy(data, bytes.data() + off, len);
    data += len;
  }
  auto pages_vec = fbb.CreateVector(pages);
  const fb::ChunkRef base_ref = ToChunkRef(base);
  fb::PatchBuilder b(fbb);
  b.add_format_version(kFormatVersion);
  b.add_base(&base_ref);
  b.add_page_bytes(page);
  b.add_pages(pages_vec);
  b.add_data(data_vec);
  fbb.Finish(b.Finish(), kPatchIdent);
  *out = SealRecord(key, fbb);
  return true;
}

absl::StatusOr<PatchView> DecodePatch(absl::string_view key,
                                      absl::string_view value, uint32_t size,
                                      absl::string_view what,
                                      RecordBuffer* buf) {
  auto decoded = DecodeRecord<fb::Patch>(key, value, kPatchIdent,
                                         absl::StrCat(what, " patch"), buf);
  if (!decoded.ok()) return decoded.status();
  const fb::Patch* p = *decoded;
  if (p->base() == nullptr || p->page_bytes() == 0 || p->pages() == nullptr ||
      p->data() == nullptr || p->base()->size() != size ||
      !IsSelfContained(static_cast<ChunkKind>(p->base()->kind()))) {
    return absl::DataLossError(absl::StrCat(what, ": invalid patch"));
  }
  PatchView out;
  out.base = FromChunkRef(*p->base());
  out.page_bytes = p->page_bytes();
  out.pages = p->pages();
  out.data = absl::string_view(reinterpret_cast<const char*>(p->data()->data()),
                               p->data()->size());
  return out;
}

absl::Status ApplyPatch(const PatchView& patch, absl::string_view what,
                        absl::Span<char> chunk) {
  const uint64_t size = chunk.size();
  size_t data_off = 0;
  for (uint32_t pg : *patch.pages) {
    const uint64_t off = static_cast<uint64_t>(pg) * patch.page_bytes;
    if (off >= size) {
      return absl::DataLossError(
          absl::StrCat(what, ": patch page out of range"));
    }
    const size_t len = std::min<uint64_t>(patch.page_bytes, size - off);
    if (data_off + len > patch.data.size()) {
      return absl::DataLossError(absl::StrCat(what, ": patch data truncated"));
    }
    std::memcpy(chunk.data() + off, patch.data.data() + data_off, len);
    data_off += len;
  }
  return absl::OkStatus();
}

std::string EncodeCoded(const CodedPlanes& planes,
                        const std::optional<ChunkLocation>& base,
                        absl::string_view key) {
  thread_local flatbuffers::FlatBufferBuilder fbb(1 << 16);
  fbb.Clear();
  auto data = fbb.CreateVector(
      reinterpret_cast<const uint8_t*>(planes.data.data()), planes.data.size());
  auto sizes = fbb.CreateVector(planes.sizes);
  std::vector<uint8_t> codecs;
  for (PlaneCodec c : planes.codecs) codecs.push_back(static_cast<uint8_t>(c));
  auto codecs_vec = fbb.CreateVector(codecs);
  fb::ChunkRef base_ref;
  if (base) base_ref = ToChunkRef(*base);
  fb::CodedBuilder b(fbb);
  b.add_format_version(kFormatVersion);
  if (base) b.add_base(&base_ref);
  b.add_width(static_cast<uint8_t>(planes.width));
  b.add_transform(static_cast<uint8_t>(planes.transform));
  b.add_plane_codecs(codecs_vec);
  b.add_plane_sizes(sizes);
  b.add_data(data);
  fbb.Finish(b.Finish(), kCodedIdent);
  return SealRecord(key, fbb);
}

absl::StatusOr<CodedView> DecodeCoded(absl::string_view key,
                                      absl::string_view value, ChunkKind kind,
                                      uint32_t size, absl::string_view what,
                                      RecordBuffer* buf) {
  auto decoded = DecodeRecord<fb::Coded>(
      key, value, kCodedIdent, absl::StrCat(what, " is corrupt: coded chunk"),
      buf);
  if (!decoded.ok()) return decoded.status();
  const fb::Coded* c = *decoded;
  const bool delta = kind == ChunkKind::kDelta;
  const bool diff =
      c->transform() == static_cast<uint8_t>(PlaneTransform::kDifference);
  const bool base_ok =
      delta ? c->base() != nullptr && c->base()->size() == size &&
                  IsSelfContained(static_cast<ChunkKind>(c->base()->kind()))
            : c->base() == nullptr;
  if (!base_ok || delta != diff || c->plane_codecs() == nullptr ||
      c->plane_sizes() == nullptr || c->data() == nullptr) {
    return absl::DataLossError(absl::StrCat(what, ": invalid coded chunk"));
  }
  CodedView out;
  if (delta) out.base = FromChunkRef(*c->base());
  out.planes.width = c->width();
  out.planes.transform = static_cast<PlaneTransform>(c->transform());
  out.planes.codecs =
      absl::MakeConstSpan(c->plane_codecs()->data(), c->plane_codecs()->size());
  out.planes.sizes =
      absl::MakeConstSpan(c->plane_sizes()->data(), c->plane_sizes()->size());
  out.planes.data = absl::string_view(
      reinterpret_cast<const char*>(c->data()->data()), c->data()->size());
  return out;
}

}  // namespace ckptdb::internal
