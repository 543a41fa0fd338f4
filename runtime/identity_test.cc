// Identity: NodeId derivation, key file round trip, creation mode, refusal
// of group/other-accessible files and of malformed files.
#include "runtime/identity.h"

#include <openssl/curve25519.h>
#include <openssl/sha.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"

namespace elara::runtime {
namespace {

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name, "-", getpid());
}

void WriteFile(const std::string& path, const std::string& text, mode_t mode) {
  unlink(path.c_str());
  std::ofstream(path) << text;
  ASSERT_EQ(chmod(path.c_str(), mode), 0);
}

mode_t ModeOf(const std::string& path) {
  struct stat st;
  EXPECT_EQ(stat(path.c_str(), &st), 0);
  return st.st_mode & 07777;
}

TEST(IdentityTest, NodeIdIsFirstEightBytesOfSha256LittleEndian) {
  std::array<uint8_t, 32> public_key{};
  for (size_t i = 0; i < public_key.size(); ++i) public_key[i] = i;
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(public_key.data(), public_key.size(), digest);
  uint64_t expected = 0;
  for (int i = 7; i >= 0; --i) expected = (expected << 8) | digest[i];
  EXPECT_EQ(NodeIdFromPublicKey(public_key).value(), expected);
}

TEST(IdentityTest, FromSeedIsDeterministicAndSigns) {
  std::array<uint8_t, 32> seed{};
  seed[0] = 7;
  const Identity a = Identity::FromSeed(seed);
  const Identity b = Identity::FromSeed(seed);
  EXPECT_EQ(a.public_key, b.public_key);
  EXPECT_EQ(a.node_id, b.node_id);
  EXPECT_EQ(a.EngineSeed(), b.EngineSeed());
  EXPECT_NE(a.node_id.value(), 0u);
  const uint8_t message[] = {1, 2, 3};
  uint8_t signature[64];
  ASSERT_EQ(
      ED25519_sign(signature, message, sizeof(message), a.private_key.data()),
      1);
  EXPECT_EQ(
      ED25519_verify(message, sizeof(message), signature, a.public_key.data()),
      1);
}

TEST(IdentityTest, GenerateGivesDistinctIdentities) {
  const Identity a = Identity::Generate();
  const Identity b = Identity::Generate();
  EXPECT_NE(a.public_key, b.public_key);
  EXPECT_NE(a.node_id, b.node_id);
  EXPECT_NE(a.EngineSeed(), b.EngineSeed());
}

TEST(IdentityTest, FileRoundTrip) {
  const Identity a = Identity::Generate();
  absl::StatusOr<Identity> b = ParseIdentityFile(FormatIdentityFile(a), "x");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->seed, a.seed);
  EXPECT_EQ(b->public_key, a.public_key);
  EXPECT_EQ(b->private_key, a.private_key);
  EXPECT_EQ(b->node_id, a.node_id);
}

TEST(IdentityTest, CreatesMissingFileWithMode0600AndReloadsIt) {
  const std::string path = TempPath("identity-create");
  unlink(path.c_str());
  const mode_t old_umask = umask(0);  // a permissive umask must not matter
  bool created = false;
  absl::StatusOr<Identity> first = LoadOrCreateIdentityFile(path, &created);
  umask(old_umask);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(created);
  EXPECT_EQ(ModeOf(path), 0600u);
  absl::StatusOr<Identity> second = LoadOrCreateIdentityFile(path, &created);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(created);
  EXPECT_EQ(second->node_id, first->node_id);
  EXPECT_EQ(second->public_key, first->public_key);
  unlink(path.c_str());
}

TEST(IdentityTest, RefusesFileReadableByOthersNamingFileAndMode) {
  const std::string path = TempPath("identity-644");
  WriteFile(path, FormatIdentityFile(Identity::Generate()), 0644);
  absl::StatusOr<Identity> identity = LoadOrCreateIdentityFile(path);
  ASSERT_FALSE(identity.ok());
  const std::string message(identity.status().message());
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("0644"), std::string::npos) << message;
  EXPECT_EQ(identity.status().code(), absl::StatusCode::kPermissionDenied);
  // Group-writable only is refused too; 0400 is fine.
  ASSERT_EQ(chmod(path.c_str(), 0620), 0);
  EXPECT_FALSE(LoadIdentityFile(path).ok());
  ASSERT_EQ(chmod(path.c_str(), 0400), 0);
  EXPECT_TRUE(LoadIdentityFile(path).ok());
  unlink(path.c_str());
}

TEST(IdentityTest, MalformedFilesAreClearErrors) {
  const Identity identity = Identity::Generate();
  const std::string good = FormatIdentityFile(identity);
  struct Case {
    std::string text;
    std::string expect;
  };
  const std::string seed_hex =
      good.substr(good.find("ed25519_seed = ") + 15, 64);
  const Case cases[] = {
      {"", "missing ed25519_seed"},
      {"garbage\n", "line 1"},
      {absl::StrCat(good, "colour = blue\n"), "unknown key 'colour'"},
      {absl::StrReplaceAll(good, {{seed_hex, "zz"}}), "64 hex digits"},
      {absl::StrReplaceAll(good, {{seed_hex, std::string(64, '0')}}),
       "does not match"},
      {absl::StrCat(good, "ed25519_seed = ", seed_hex, "\n"), "duplicate"},
  };
  const std::string path = TempPath("identity-bad");
  for (const Case& c : cases) {
    WriteFile(path, c.text, 0600);
    absl::StatusOr<Identity> loaded = LoadIdentityFile(path);
    ASSERT_FALSE(loaded.ok()) << c.text;
    const std::string message(loaded.status().message());
    EXPECT_NE(message.find(c.expect), std::string::npos) << message;
    EXPECT_NE(message.find(path), std::string::npos) << message;
    EXPECT_NE(message.find("malformed"), std::string::npos) << message;
  }
  // Oversized files are refused before parsing.
  WriteFile(path, std::string(10000, '#'), 0600);
  EXPECT_FALSE(LoadIdentityFile(path).ok());
  unlink(path.c_str());
}

TEST(IdentityTest, MissingDirectoryIsAnError) {
  absl::StatusOr<Identity> identity =
      LoadOrCreateIdentityFile("/nonexistent-elara-dir/key");
  ASSERT_FALSE(identity.ok());
  EXPECT_NE(identity.status().message().find("/nonexistent-elara-dir/key"),
            std::string::npos);
}

}  // namespace
}  // namespace elara::runtime
