#include "db/writer_claims.h"

#include <filesystem>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "db/rocks_util.h"

namespace ckptdb::internal {
namespace {

struct Claims {
  absl::Mutex mu;
  std::set<std::string> paths ABSL_GUARDED_BY(mu);
};

Claims& GetClaims() {
  static Claims* claims = new Claims;  // never destroyed
  return *claims;
}

std::string ClaimKey(const std::string& path) {
  std::error_code ec;
  std::string key =
      std::filesystem::absolute(path, ec).lexically_normal().string();
  if (ec) key = path;
  while (key.size() > 1 && key.back() == '/') key.pop_back();
  return key;
}

}  // namespace

absl::StatusOr<std::string> ClaimWriter(const std::string& path) {
  std::string key = ClaimKey(path);
  Claims& claims = GetClaims();
  absl::MutexLock l(&claims.mu);
  if (!claims.paths.insert(key).second) {
    return absl::FailedPreconditionError(
        absl::StrCat("database '", path,
                     "' is busy: another writer in this process has it open"));
  }
  return key;
}

bool AnotherWriterHolds(const std::string& path, const std::string& own_claim) {
  if (own_claim.empty()) {
    Claims& claims = GetClaims();
    absl::MutexLock l(&claims.mu);
    if (claims.paths.count(ClaimKey(path)) > 0) return true;
  }
  return DbLockHeldByAnotherProcess(path);
}

void ReleaseWriter(const std::string& claim) {
  if (claim.empty()) return;
  Claims& claims = GetClaims();
  absl::MutexLock l(&claims.mu);
  claims.paths.erase(claim);
}

}  // namespace ckptdb::internal
