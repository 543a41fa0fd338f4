// File: runtime/identity.h
//
// A node's identity: an Ed25519 key pair (BoringSSL) and the NodeId derived
// from it, kept in a key file.
//
// NodeId derivation (stable, part of the protocol's contract):
//   node_id = the first 8 bytes, read little-endian, of SHA-256(public key)
// (32-byte raw Ed25519 public key). An id of 0 is never produced: should the
// hash start with 8 zero bytes, the next 8 bytes are used.
//
// Key file format (text, one "key = value" per line, '#' comments):
//   # ELARA node identity (Ed25519). Keep it private: mode 0600.
//   ed25519_seed = <64 hex digits: the 32-byte private seed>
//   ed25519_public = <64 hex digits: the public key>
// The public key is redundant and checked against the one derived from the
// seed, so a damaged file is caught.
//
// Guarantees:
//   - LoadOrCreateIdentityFile creates a missing file with O_CREAT|O_EXCL and
//     mode 0600, writes it whole and fsyncs it (and its directory) before
//     returning; it never overwrites an existing file.
//   - A key file readable or writable by group or others is refused with an
//     error naming the file and its mode; so is a file that is not a regular
//     file.
//   - A malformed file (unknown key, bad hex, wrong length, missing key,
//     mismatched public key) is an error naming the file and the line.
//
// Thread-safety: functions are thread-compatible; Identity is a value type.
#ifndef ELARA_RUNTIME_IDENTITY_H_
#define ELARA_RUNTIME_IDENTITY_H_

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/ids.h"

namespace elara::runtime {

inline constexpr size_t kEd25519SeedBytes = 32;
inline constexpr size_t kEd25519PublicKeyBytes = 32;
inline constexpr size_t kEd25519PrivateKeyBytes = 64;  // seed || public

struct Identity {
  std::array<uint8_t, kEd25519SeedBytes> seed{};
  std::array<uint8_t, kEd25519PublicKeyBytes> public_key{};
  // BoringSSL's private key layout (seed followed by the public key).
  std::array<uint8_t, kEd25519PrivateKeyBytes> private_key{};
  NodeId node_id;

  // A fresh key pair from BoringSSL's RAND_bytes.
  static Identity Generate();
  // The key pair a 32-byte seed determines.
  static Identity FromSeed(std::span<const uint8_t, kEd25519SeedBytes> seed);

  // A seed for the engine's PRNG: the first 8 bytes (LE) of
  // SHA-256("elara engine seed" || private seed). The private key never
  // leaves this process through it (SHA-256 is one-way).
  uint64_t EngineSeed() const;
};

// See the derivation above.
NodeId NodeIdFromPublicKey(
    std::span<const uint8_t, kEd25519PublicKeyBytes> public_key);

// The key file text of `identity`.
std::string FormatIdentityFile(const Identity& identity);
// Parses key file text; `path` only names the file in error messages.
absl::StatusOr<Identity> ParseIdentityFile(std::string_view text,
                                           std::string_view path);

// Reads the key file at `path` after checking its mode.
absl::StatusOr<Identity> LoadIdentityFile(const std::string& path);
// Loads `path`, or when it does not exist creates it with a fresh identity
// (mode 0600). `*created` (optional) tells which happened.
absl::StatusOr<Identity> LoadOrCreateIdentityFile(const std::string& path,
                                                  bool* created = nullptr);

}  // namespace elara::runtime

#endif  // ELARA_RUNTIME_IDENTITY_H_
