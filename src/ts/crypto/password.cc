#include "ts/crypto/password.h"

#include <argon2.h>
#include <sys/mman.h>

#include <charconv>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>

#include "ts/crypto/encoding.h"
#include "ts/crypto/random.h"

namespace ts::crypto {
namespace {

constexpr uint32_t kMaxMemoryKib = 256 * 1024;
constexpr uint32_t kMaxIterations = 16;
constexpr uint32_t kMaxParallelism = 16;

// Reads "<name>=<digits>" at the front of `s`, advancing it. False on anything else.
bool ReadParam(std::string_view& s, std::string_view name, uint32_t max, uint32_t& value) {
  if (s.substr(0, name.size()) != name || s.size() <= name.size() || s[name.size()] != '=') {
    return false;
  }
  s.remove_prefix(name.size() + 1);
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end == s.data() || value == 0 || value > max) return false;
  s.remove_prefix(static_cast<size_t>(end - s.data()));
  return true;
}

// The PHC string format's base64: the standard alphabet without padding. Written and read with
// the url-safe codec (encoding.h, strict: no padding, canonical trailing bits) by swapping the
// two characters the alphabets differ in; a '-' or '_' in a stored hash is refused first.
void AppendPhcBase64(std::string_view data, std::string& out) {
  const size_t start = out.size();
  AppendBase64Url(data, out);
  for (size_t i = start; i < out.size(); ++i) {
    if (out[i] == '-') out[i] = '+';
    if (out[i] == '_') out[i] = '/';
  }
}

std::optional<std::string> PhcBase64Decode(std::string_view text) {
  if (text.find_first_of("-_") != std::string_view::npos) return std::nullopt;
  std::string url(text);
  for (char& c : url) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return Base64UrlDecode(url);
}

struct EncodedHash {
  uint32_t memory_kib = 0;
  uint32_t iterations = 0;
  uint32_t parallelism = 0;
  std::string salt;
  std::string hash;
};

// Parses "$argon2id$v=19$m=<m>,t=<t>,p=<p>$<salt>$<hash>" (unpadded standard base64), checking
// the algorithm, version and cost bounds before libargon2 sees any of it. libargon2's own parser
// is not exported, and its high-level verify cannot take our allocator.
std::optional<EncodedHash> ParseEncoded(std::string_view encoded) {
  constexpr std::string_view kPrefix = "$argon2id$v=19$";
  if (encoded.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  std::string_view s = encoded.substr(kPrefix.size());
  EncodedHash parsed;
  if (!ReadParam(s, "m", kMaxMemoryKib, parsed.memory_kib) || s.empty() || s[0] != ',') {
    return std::nullopt;
  }
  s.remove_prefix(1);
  if (!ReadParam(s, "t", kMaxIterations, parsed.iterations) || s.empty() || s[0] != ',') {
    return std::nullopt;
  }
  s.remove_prefix(1);
  if (!ReadParam(s, "p", kMaxParallelism, parsed.parallelism) || s.empty() || s[0] != '$') {
    return std::nullopt;
  }
  s.remove_prefix(1);
  const size_t dollar = s.find('$');
  if (dollar == std::string_view::npos) return std::nullopt;
  std::optional<std::string> salt = PhcBase64Decode(s.substr(0, dollar));
  std::optional<std::string> hash = PhcBase64Decode(s.substr(dollar + 1));
  if (!salt || !hash) return std::nullopt;
  parsed.salt = std::move(*salt);
  parsed.hash = std::move(*hash);
  return parsed;
}

// argon2's work area (19 MiB with the default parameters) gets its own mapping, unmapped when
// the hash is done, so it goes back to the kernel at once. From malloc it would sit at the top of
// a worker thread's arena after the first one, where malloc_trim cannot return it
// (docs/design/memory.md). MADV_HUGEPAGE lets the kernel fault it in 2 MiB at a time: with 4 KiB
// pages the 4,864 faults cost about 40 % more CPU per hash; with it, within a loaded machine's
// noise (the kernel's zeroing of 19 MiB is what is left).
int MapWorkArea(uint8_t** memory, size_t bytes) {
  void* area = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (area == MAP_FAILED) {
    *memory = nullptr;  // libargon2 reports ARGON2_MEMORY_ALLOCATION_ERROR
    return ARGON2_MEMORY_ALLOCATION_ERROR;
  }
  static_cast<void>(madvise(area, bytes, MADV_HUGEPAGE));  // a hint: 4 KiB pages work too
  *memory = static_cast<uint8_t*>(area);
  return ARGON2_OK;
}

void UnmapWorkArea(uint8_t* memory, size_t bytes) { munmap(memory, bytes); }

// A context for argon2id v1.3 whose work area comes from MapWorkArea. `out` receives the hash.
argon2_context MakeContext(std::string_view password, std::string_view salt, uint32_t memory_kib,
                           uint32_t iterations, uint32_t parallelism, std::string& out) {
  argon2_context context{};
  context.out = reinterpret_cast<uint8_t*>(out.data());
  context.outlen = static_cast<uint32_t>(out.size());
  // libargon2 writes to the password only with ARGON2_FLAG_CLEAR_PASSWORD, which is not set.
  context.pwd = reinterpret_cast<uint8_t*>(const_cast<char*>(password.data()));
  context.pwdlen = static_cast<uint32_t>(password.size());
  context.salt = reinterpret_cast<uint8_t*>(const_cast<char*>(salt.data()));
  context.saltlen = static_cast<uint32_t>(salt.size());
  context.t_cost = iterations;
  context.m_cost = memory_kib;
  context.lanes = parallelism;
  context.threads = parallelism;
  context.version = ARGON2_VERSION_13;
  context.allocate_cbk = MapWorkArea;
  context.free_cbk = UnmapWorkArea;
  context.flags = ARGON2_DEFAULT_FLAGS;
  return context;
}

// A hash of kDummyPassword made once with the default parameters (libargon2, random salt), so
// DummyVerify costs what a real verification costs without hashing anything at start-up. The
// password is public on purpose: this hash belongs to no account.
constexpr char kDummyPassword[] = "tessera-dummy-password";
constexpr char kDummyEncoded[] =
    "$argon2id$v=19$m=19456,t=2,p=1$EUIMpWDwiK8M7D9Jo06JCQ$X7PlbUNetWb2xhtazPmT8SHdboWVSQP2xWE+"
    "eG1npCM";

}  // namespace

StatusOr<std::string> HashPassword(std::string_view password) {
  return HashPasswordWithSaltForTest(password, RandomBytes(kArgon2SaltSize));
}

StatusOr<std::string> HashPasswordWithSaltForTest(std::string_view password,
                                                  std::string_view salt) {
  if (password.size() > std::numeric_limits<uint32_t>::max()) {
    return InternalError("argon2id hashing failed: password is too long");
  }
  std::string hash(kArgon2HashSize, '\0');
  argon2_context context =
      MakeContext(password, salt, kArgon2MemoryKib, kArgon2Iterations, kArgon2Parallelism, hash);
  const int rc = argon2id_ctx(&context);
  if (rc != ARGON2_OK) {
    return InternalError(std::string("argon2id hashing failed: ") + argon2_error_message(rc));
  }
  // The PHC string libargon2's argon2id_hash_encoded writes (its encoder is not exported).
  std::string encoded = "$argon2id$v=19$m=" + std::to_string(kArgon2MemoryKib) +
                        ",t=" + std::to_string(kArgon2Iterations) +
                        ",p=" + std::to_string(kArgon2Parallelism) + "$";
  AppendPhcBase64(salt, encoded);
  encoded.push_back('$');
  AppendPhcBase64(hash, encoded);
  return encoded;
}

bool VerifyPassword(std::string_view password, std::string_view encoded) {
  std::optional<EncodedHash> parsed = ParseEncoded(encoded);
  if (!parsed || password.size() > std::numeric_limits<uint32_t>::max()) return false;
  // libargon2 validates the lengths (salt >= 8 bytes, hash >= 4) and costs in argon2_ctx.
  std::string computed(parsed->hash.size(), '\0');
  argon2_context context = MakeContext(password, parsed->salt, parsed->memory_kib,
                                       parsed->iterations, parsed->parallelism, computed);
  // argon2id_verify_ctx hashes into `computed` and compares it with the stored hash in constant
  // time (argon2_compare).
  return argon2id_verify_ctx(&context, parsed->hash.data()) == ARGON2_OK;
}

void DummyVerify() {
  // Same parse, same allocation, same argon2 passes and the same final comparison as a real
  // VerifyPassword; the result is irrelevant.
  static_cast<void>(VerifyPassword(kDummyPassword, kDummyEncoded));
}

std::string_view DummyHashForTest() { return kDummyEncoded; }

}  // namespace ts::crypto
