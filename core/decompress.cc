#include "core/decompress.h"

#include <zlib.h>
#include <zstd.h>

#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

#ifdef CKPTDB_HAVE_BLOSC
#include <blosc.h>
#endif

namespace ckptdb::decompress {
namespace {

absl::Status Loss(absl::string_view what, absl::string_view msg) {
  return absl::DataLossError(absl::StrCat(what, ": ", msg));
}

}  // namespace

absl::StatusOr<std::string> Zstd(absl::string_view in, size_t max_out,
                                 absl::string_view what) {
  std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> ctx(ZSTD_createDCtx(),
                                                         ZSTD_freeDCtx);
  if (ctx == nullptr) return absl::ResourceExhaustedError("ZSTD_createDCtx");
  std::string out;
  ZSTD_inBuffer src{in.data(), in.size(), 0};
  char buf[1 << 16];
  size_t last = 1;
  while (src.pos < src.size) {
    ZSTD_outBuffer dst{buf, sizeof(buf), 0};
    last = ZSTD_decompressStream(ctx.get(), &dst, &src);
    if (ZSTD_isError(last)) {
      return Loss(what, absl::StrCat("zstd: ", ZSTD_getErrorName(last),
                                     " (at compressed byte ", src.pos, ")"));
    }
    if (out.size() + dst.pos > max_out) {
      return Loss(what, absl::StrCat("zstd data decompresses to more than ",
                                     max_out, " bytes"));
    }
    out.append(buf, dst.pos);
    if (dst.pos == 0 && src.pos == src.size) break;
  }
  // Flush whatever the context still holds.
  while (last != 0) {
    ZSTD_outBuffer dst{buf, sizeof(buf), 0};
    last = ZSTD_decompressStream(ctx.get(), &dst, &src);
    if (ZSTD_isError(last)) {
      return Loss(what, absl::StrCat("zstd: ", ZSTD_getErrorName(last)));
    }
    if (out.size() + dst.pos > max_out) {
      return Loss(what, absl::StrCat("zstd data decompresses to more than ",
                                     max_out, " bytes"));
    }
    out.append(buf, dst.pos);
    if (dst.pos == 0) break;
  }
  if (last != 0) return Loss(what, "truncated zstd frame");
  return out;
}

absl::StatusOr<std::string> Zlib(absl::string_view in, bool gzip,
                                 size_t max_out, absl::string_view what) {
  z_stream zs = {};
  if (inflateInit2(&zs, gzip ? 16 + MAX_WBITS : MAX_WBITS) != Z_OK) {
    return absl::ResourceExhaustedError("inflateInit2");
  }
  std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&zs, inflateEnd);
  const char* name = gzip ? "gzip" : "zlib";
  std::string out;
  unsigned char buf[1 << 16];
  size_t consumed = 0;
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    const size_t chunk = std::min<size_t>(in.size() - consumed, 1u << 30);
    zs.next_in =
        reinterpret_cast<Bytef*>(const_cast<char*>(in.data())) + consumed;
    zs.avail_in = static_cast<uInt>(chunk);
    zs.next_out = buf;
    zs.avail_out = sizeof(buf);
    rc = inflate(&zs, Z_NO_FLUSH);
    consumed += chunk - zs.avail_in;
    if (rc != Z_OK && rc != Z_STREAM_END) {
      if (rc == Z_BUF_ERROR && consumed == in.size()) {
        return Loss(what, absl::StrCat("truncated ", name, " stream"));
      }
      return Loss(what,
                  absl::StrCat(name, ": ", zs.msg != nullptr ? zs.msg : "error",
                               " (at compressed byte ", consumed, ")"));
    }
    const size_t produced = sizeof(buf) - zs.avail_out;
    if (out.size() + produced > max_out) {
      return Loss(what, absl::StrCat(name, " data decompresses to more than ",
                                     max_out, " bytes"));
    }
    out.append(reinterpret_cast<const char*>(buf), produced);
    if (rc == Z_OK && produced == 0 && consumed == in.size()) {
      return Loss(what, absl::StrCat("truncated ", name, " stream"));
    }
  }
  if (consumed != in.size()) {
    return Loss(what, absl::StrCat(in.size() - consumed, " bytes after the ",
                                   name, " stream"));
  }
  return out;
}

bool HaveBlosc() {
#ifdef CKPTDB_HAVE_BLOSC
  return true;
#else
  return false;
#endif
}

absl::StatusOr<std::string> Blosc(absl::string_view in, size_t max_out,
                                  absl::string_view what) {
#ifdef CKPTDB_HAVE_BLOSC
  size_t nbytes = 0;
  if (in.size() < 16 ||
      blosc_cbuffer_validate(in.data(), in.size(), &nbytes) != 0) {
    return Loss(what, "not a valid blosc buffer");
  }
  if (nbytes > max_out) {
    return Loss(what, absl::StrCat("blosc data decompresses to ", nbytes,
                                   " bytes, more than ", max_out));
  }
  std::string out(nbytes, '\0');
  const int n = blosc_decompress_ctx(in.data(), out.data(), out.size(), 1);
  if (n < 0 || static_cast<size_t>(n) != nbytes) {
    return Loss(what, "blosc decompression failed");
  }
  return out;
#else
  return absl::UnimplementedError(absl::StrCat(
      what, ": unsupported codec 'blosc' (ckptdb was built without libblosc)"));
#endif
}

}  // namespace ckptdb::decompress
