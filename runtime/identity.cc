// Key files are tiny, so they are read whole (bounded at kMaxFileBytes) and
// parsed line by line. The mode is checked on the open descriptor (fstat),
// not on the path, so the file checked is the file read.
#include "runtime/identity.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/curve25519.h>
#include <openssl/mem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace elara::runtime {
namespace {

constexpr size_t kMaxFileBytes = 4096;
constexpr char kSeedKey[] = "ed25519_seed";
constexpr char kPublicKey[] = "ed25519_public";

absl::string_view ToAbsl(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

uint64_t LoadLittleEndian64(const uint8_t* bytes) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | bytes[i];
  return value;
}

// Closes a descriptor on scope exit.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() {
    if (fd_ >= 0) close(fd_);
  }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;

 private:
  int fd_;
};

absl::Status FileError(int error, std::string_view what,
                       const std::string& path) {
  return absl::ErrnoToStatus(
      error, absl::StrCat("identity file ", path, ": ", ToAbsl(what)));
}

absl::Status CheckMode(const struct stat& st, const std::string& path) {
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("identity file ", path, ": not a regular file"));
  }
  const unsigned mode = st.st_mode & 07777;
  if ((mode & 0066) != 0) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "identity file %s has mode %04o: it is readable or writable by group "
        "or others; a private key must not be (fix: chmod 600 %s)",
        path, mode, path));
  }
  return absl::OkStatus();
}

absl::Status WriteAll(int fd, std::string_view text, const std::string& path) {
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return FileError(errno, "write", path);
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

// Makes the new directory entry durable too (best effort: a failure to open
// the directory is not an error of the key file itself).
void SyncParentDirectory(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : path.substr(0, slash);
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  fsync(fd);
  close(fd);
}

// Creates `path` exclusively. Returns AlreadyExists when it exists.
absl::Status CreateIdentityFile(const std::string& path,
                                const Identity& identity) {
  const int fd =
      open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return absl::AlreadyExistsError(path);
    return FileError(errno, "create", path);
  }
  FdCloser closer(fd);
  // The umask may only remove bits; make sure nothing else is set.
  if (fchmod(fd, 0600) != 0) return FileError(errno, "fchmod", path);
  absl::Status status = WriteAll(fd, FormatIdentityFile(identity), path);
  if (!status.ok()) return status;
  if (fsync(fd) != 0) return FileError(errno, "fsync", path);
  SyncParentDirectory(path);
  return absl::OkStatus();
}

bool ParseHex32(std::string_view text, std::array<uint8_t, 32>* out) {
  if (text.size() != 64) return false;
  for (char c : text) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return false;
  }
  const std::string bytes = absl::HexStringToBytes(ToAbsl(text));
  if (bytes.size() != 32) return false;
  std::memcpy(out->data(), bytes.data(), 32);
  return true;
}

}  // namespace

NodeId NodeIdFromPublicKey(
    std::span<const uint8_t, kEd25519PublicKeyBytes> public_key) {
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(public_key.data(), public_key.size(), digest);
  uint64_t id = LoadLittleEndian64(digest);
  if (id == 0) id = LoadLittleEndian64(digest + 8);
  if (id == 0) id = 1;  // 2^-128: keep the invariant regardless
  return NodeId(id);
}

Identity Identity::FromSeed(std::span<const uint8_t, kEd25519SeedBytes> seed) {
  Identity identity;
  std::memcpy(identity.seed.data(), seed.data(), seed.size());
  ED25519_keypair_from_seed(identity.public_key.data(),
                            identity.private_key.data(), seed.data());
  identity.node_id = NodeIdFromPublicKey(identity.public_key);
  return identity;
}

Identity Identity::Generate() {
  std::array<uint8_t, kEd25519SeedBytes> seed;
  RAND_bytes(seed.data(), seed.size());
  Identity identity = FromSeed(seed);
  OPENSSL_cleanse(seed.data(), seed.size());
  return identity;
}

uint64_t Identity::EngineSeed() const {
  static constexpr char kDomain[] = "elara engine seed";
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  SHA256_Update(&ctx, kDomain, sizeof(kDomain) - 1);
  SHA256_Update(&ctx, seed.data(), seed.size());
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256_Final(digest, &ctx);
  return LoadLittleEndian64(digest);
}

std::string FormatIdentityFile(const Identity& identity) {
  const auto hex = [](const std::array<uint8_t, 32>& bytes) {
    return absl::BytesToHexString(absl::string_view(
        reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  };
  return absl::StrCat(
      "# ELARA node identity (Ed25519). Keep it private: mode 0600.\n",
      "# node_id = ", ToString(identity.node_id), "\n", kSeedKey, " = ",
      hex(identity.seed), "\n", kPublicKey, " = ", hex(identity.public_key),
      "\n");
}

absl::StatusOr<Identity> ParseIdentityFile(std::string_view text,
                                           std::string_view path) {
  const auto malformed = [&](int line, std::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "identity file ", ToAbsl(path), ": malformed",
        line > 0 ? absl::StrCat(" at line ", line) : "", ": ", ToAbsl(why)));
  };
  std::array<uint8_t, 32> seed{}, public_key{};
  bool has_seed = false, has_public = false;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(ToAbsl(text), '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    const size_t equals = line.find('=');
    if (equals == absl::string_view::npos) {
      return malformed(line_number, "expected 'key = value'");
    }
    const absl::string_view key =
        absl::StripAsciiWhitespace(line.substr(0, equals));
    const absl::string_view value =
        absl::StripAsciiWhitespace(line.substr(equals + 1));
    std::array<uint8_t, 32>* target = nullptr;
    bool* seen = nullptr;
    if (key == kSeedKey) {
      target = &seed;
      seen = &has_seed;
    } else if (key == kPublicKey) {
      target = &public_key;
      seen = &has_public;
    } else {
      return malformed(line_number, absl::StrCat("unknown key '", key,
                                                 "' (allowed: ", kSeedKey, ", ",
                                                 kPublicKey, ")"));
    }
    if (*seen) {
      return malformed(line_number, absl::StrCat("duplicate key '", key, "'"));
    }
    if (!ParseHex32(std::string_view(value.data(), value.size()), target)) {
      return malformed(line_number,
                       absl::StrCat(key, ": expected 64 hex digits"));
    }
    *seen = true;
  }
  if (!has_seed) return malformed(0, absl::StrCat("missing ", kSeedKey));
  if (!has_public) return malformed(0, absl::StrCat("missing ", kPublicKey));
  Identity identity = Identity::FromSeed(seed);
  OPENSSL_cleanse(seed.data(), seed.size());
  if (identity.public_key != public_key) {
    return malformed(0, absl::StrCat(kPublicKey, " does not match ", kSeedKey));
  }
  return identity;
}

absl::StatusOr<Identity> LoadIdentityFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return FileError(errno, "open", path);
  FdCloser closer(fd);
  struct stat st;
  if (fstat(fd, &st) != 0) return FileError(errno, "fstat", path);
  absl::Status status = CheckMode(st, path);
  if (!status.ok()) return status;
  if (st.st_size > static_cast<off_t>(kMaxFileBytes)) {
    return absl::InvalidArgumentError(absl::StrCat("identity file ", path,
                                                   ": malformed: larger than ",
                                                   kMaxFileBytes, " bytes"));
  }
  std::string text(kMaxFileBytes + 1, '\0');
  size_t size = 0;
  while (size < text.size()) {
    const ssize_t n = read(fd, text.data() + size, text.size() - size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return FileError(errno, "read", path);
    if (n == 0) break;
    size += static_cast<size_t>(n);
  }
  if (size > kMaxFileBytes) {
    return absl::InvalidArgumentError(absl::StrCat("identity file ", path,
                                                   ": malformed: larger than ",
                                                   kMaxFileBytes, " bytes"));
  }
  text.resize(size);
  absl::StatusOr<Identity> identity = ParseIdentityFile(text, path);
  OPENSSL_cleanse(text.data(), text.size());
  return identity;
}

absl::StatusOr<Identity> LoadOrCreateIdentityFile(const std::string& path,
                                                  bool* created) {
  if (created != nullptr) *created = false;
  if (access(path.c_str(), F_OK) != 0 && errno == ENOENT) {
    const Identity identity = Identity::Generate();
    absl::Status status = CreateIdentityFile(path, identity);
    if (status.ok()) {
      if (created != nullptr) *created = true;
      return identity;
    }
    // Another process created it between access() and open(): load theirs.
    if (!absl::IsAlreadyExists(status)) return status;
  }
  return LoadIdentityFile(path);
}

}  // namespace elara::runtime
