// Fuzzes what herald does with a msgpack body from a peer: walk_msgpack (the
// bounded validator every decoder uses), Message::from_msgpack, to_json and
// as<T>. The walker never reports an offset past the input; what it accepts
// msgpack-c unpacks to the same length (they agree on where a value ends),
// packs back to a value the walker accepts, and from_msgpack accepts exactly
// when the value fills the input; to_json is valid JSON; a value as<T>
// decodes to encodes and decodes back to itself; a scalar read directly
// from the bytes is what msgpack-c's conversion makes of it.
#include <algorithm>
#include <cstdio>
#include <map>
#include <msgpack.hpp>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "fuzz_check.hpp"
#include "herald/internal/msgpack_walk.hpp"
#include "herald/message.hpp"

namespace {

using herald::Message;

// msgpack-c 4.1's pack_double converts a double in [2^64, 2^64 + ulp] to
// uint64_t before checking it fits (undefined behaviour, UBSan stops there):
// values that hold one are not packed again here. Not herald's code; herald
// never packs a double it did not get from its caller.
bool packable(double d) { return !(d >= 18446744073709551615.0); }

bool packable(const std::optional<std::vector<double>>& v) {
  return !v || std::all_of(v->begin(), v->end(), [](double d) { return packable(d); });
}

bool packable(const msgpack::object& o) {
  switch (o.type) {
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64:
      return packable(o.via.f64);
    case msgpack::type::ARRAY:
      for (std::uint32_t i = 0; i < o.via.array.size; ++i) {
        if (!packable(o.via.array.ptr[i])) return false;
      }
      return true;
    case msgpack::type::MAP:
      for (std::uint32_t i = 0; i < o.via.map.size; ++i) {
        if (!packable(o.via.map.ptr[i].key) || !packable(o.via.map.ptr[i].val)) return false;
      }
      return true;
    default:
      return true;
  }
}

// Equal, a NaN being the same as a NaN.
bool same(double a, double b) { return a == b || (a != a && b != b); }
bool same(const std::optional<std::vector<double>>& a,
          const std::optional<std::vector<double>>& b) {
  if (!a || !b) return !a && !b;
  return std::equal(a->begin(), a->end(), b->begin(), b->end(),
                    [](double x, double y) { return same(x, y); });
}
template <class T>
bool same(const T& a, const T& b) {
  return a == b;
}

template <class T>
void round_trips(const Message& m) {
  std::optional<T> value = m.template try_as<T>();
  if (!value) return;
  if constexpr (std::is_same_v<T, double> ||
                std::is_same_v<T, std::optional<std::vector<double>>>) {
    if (!packable(*value)) return;  // a uint64 near 2^64 as a double
  }
  std::optional<T> again = Message::of(*value).template try_as<T>();
  FUZZ_CHECK(again.has_value());
  FUZZ_CHECK(same(*again, *value));
}

// as<T>() reads scalars straight from the bytes (message_decode.hpp): what
// it accepts, msgpack-c's own conversion accepts too, with the same value.
template <class T>
void direct_agrees(const Message& m, const msgpack::object& o) {
  T direct{};
  if (!herald::internal::decode_direct(m.bytes(), direct)) return;
  T generic{};
  try {
    o.convert(generic);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "direct decoding took what msgpack-c refuses: %s\n", e.what());
    FUZZ_CHECK(false);
  }
  if constexpr (std::is_floating_point_v<T>) {
    FUZZ_CHECK(same(static_cast<double>(direct), static_cast<double>(generic)));
  } else {
    FUZZ_CHECK(direct == generic);
  }
}

void check_direct(const Message& m, const msgpack::object& o) {
  direct_agrees<bool>(m, o);
  direct_agrees<std::int8_t>(m, o);
  direct_agrees<std::uint8_t>(m, o);
  direct_agrees<std::int32_t>(m, o);
  direct_agrees<std::uint32_t>(m, o);
  direct_agrees<std::int64_t>(m, o);
  direct_agrees<std::uint64_t>(m, o);
  direct_agrees<float>(m, o);
  direct_agrees<double>(m, o);
  direct_agrees<std::string>(m, o);
  direct_agrees<std::string_view>(m, o);
}

// One as<T> per input (`pick`): a refused decode throws, and exceptions are
// slow; across inputs every type is tried.
void check_message(const Message& m, unsigned pick) {
  const std::string json = m.to_json();
  FUZZ_CHECK(!nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false).is_discarded());
  switch (pick % 9) {
    case 0:
      return round_trips<std::int64_t>(m);
    case 1:
      return round_trips<std::uint64_t>(m);
    case 2:
      return round_trips<double>(m);
    case 3:
      return round_trips<bool>(m);
    case 4:
      return round_trips<std::string>(m);
    case 5:
      return round_trips<herald::Bytes>(m);
    case 6:
      return round_trips<std::vector<std::string>>(m);
    case 7:
      return round_trips<std::map<std::string, std::int64_t>>(m);
    default:
      return round_trips<std::optional<std::vector<double>>>(m);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto bytes = std::span<const std::byte>(reinterpret_cast<const std::byte*>(data), size);
  const herald::internal::MsgpackWalkResult walked = herald::internal::walk_msgpack(bytes);
  FUZZ_CHECK(walked.offset <= size);
  const absl::StatusOr<Message> whole = Message::from_msgpack(bytes);
  FUZZ_CHECK(whole.ok() == (walked.error.empty() && walked.offset == size && size > 0));
  if (!walked.error.empty()) return 0;
  FUZZ_CHECK(walked.offset > 0);

  std::size_t unpacked = 0;
  msgpack::object_handle handle;
  try {
    handle = msgpack::unpack(reinterpret_cast<const char*>(data), walked.offset, unpacked);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "msgpack-c refuses what the walker accepts: %s\n", e.what());
    FUZZ_CHECK(false);
  }
  FUZZ_CHECK(unpacked == walked.offset);
  const bool can_pack = packable(handle.get());
  if (can_pack) {
    msgpack::sbuffer packed;
    msgpack::pack(packed, handle.get());
    const herald::internal::MsgpackWalkResult repacked =
        herald::internal::walk_msgpack(std::span<const std::byte>(
            reinterpret_cast<const std::byte*>(packed.data()), packed.size()));
    FUZZ_CHECK(repacked.error.empty() && repacked.offset == packed.size());
  }

  const absl::StatusOr<Message> value = Message::from_msgpack(bytes.first(walked.offset));
  FUZZ_CHECK(value.ok());
  FUZZ_CHECK(value->bytes().size() == walked.offset);
  check_direct(*value, handle.get());
  if (can_pack) check_message(*value, static_cast<unsigned>(size));
  return 0;
}
