// Message::to_json: a msgpack body as JSON text.
#include <cmath>
#include <cstdio>
#include <string>

#include "herald/internal/names.hpp"
#include "herald/internal/text.hpp"
#include "herald/message.hpp"

namespace herald::internal {
namespace {

// How many bytes the UTF-8 sequence starting at s[i] takes, or 0 when s[i]
// does not start a well-formed one.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  const auto lead = static_cast<unsigned char>(s[i]);
  const std::size_t n = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 0;
  if (n == 0 || i + n > s.size() || !is_valid_utf8(s.substr(i, n))) return 0;
  return n;
}

// JSON text is UTF-8 (RFC 8259 §8.1): a str that is not (msgpack does not
// check) gets U+FFFD for each byte that does not belong to a well-formed
// sequence, so the output is always JSON any parser accepts.
void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const std::size_t n = utf8_sequence(s, i);
      if (n == 0) {
        out += "\\ufffd";
      } else {
        out.append(s.substr(i, n));
        i += n - 1;
      }
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

// `in_key`: `o` is (inside) a map key that is not a str, written as JSON text
// that the outermost such key then quotes once. Its own non-str keys are not
// quoted again: quoting at every level of keys within keys would double the
// escapes per level (an 80-byte body of nested map keys made gigabytes).
void append_json(std::string& out, const msgpack::object& o, bool in_key = false) {
  switch (o.type) {
    case msgpack::type::NIL:
      out += "null";
      break;
    case msgpack::type::BOOLEAN:
      out += o.via.boolean ? "true" : "false";
      break;
    case msgpack::type::POSITIVE_INTEGER:
      out += internal::cat(o.via.u64);
      break;
    case msgpack::type::NEGATIVE_INTEGER:
      out += internal::cat(o.via.i64);
      break;
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64:
      if (std::isfinite(o.via.f64)) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.17g", o.via.f64);
        out += buf;
      } else {
        out += "null";  // JSON has no NaN / Infinity
      }
      break;
    case msgpack::type::STR:
      append_json_string(out, {o.via.str.ptr, o.via.str.size});
      break;
    case msgpack::type::BIN:
      append_json_string(out, base64(std::string_view(o.via.bin.ptr, o.via.bin.size)));
      break;
    case msgpack::type::EXT:
      out += internal::cat("{\"$ext\":", static_cast<int>(o.via.ext.type()), ",\"data\":");
      append_json_string(out, base64(std::string_view(o.via.ext.data(), o.via.ext.size)));
      out.push_back('}');
      break;
    case msgpack::type::ARRAY:
      out.push_back('[');
      for (std::uint32_t i = 0; i < o.via.array.size; ++i) {
        if (i > 0) out.push_back(',');
        append_json(out, o.via.array.ptr[i], in_key);
      }
      out.push_back(']');
      break;
    case msgpack::type::MAP:
      out.push_back('{');
      for (std::uint32_t i = 0; i < o.via.map.size; ++i) {
        if (i > 0) out.push_back(',');
        const msgpack::object& key = o.via.map.ptr[i].key;
        if (key.type == msgpack::type::STR) {
          append_json_string(out, {key.via.str.ptr, key.via.str.size});
        } else if (in_key) {
          append_json(out, key, true);
        } else {
          std::string text;
          append_json(text, key, true);
          append_json_string(out, text);
        }
        out.push_back(':');
        append_json(out, o.via.map.ptr[i].val, in_key);
      }
      out.push_back('}');
      break;
  }
}

}  // namespace

}  // namespace herald::internal

namespace herald {

std::string Message::to_json() const {
  msgpack::object_handle handle = internal::unpack_for_decode(bytes(), "JSON");
  std::string out;
  internal::append_json(out, handle.get());
  return out;
}

}  // namespace herald
