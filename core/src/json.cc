// Message::to_json: a msgpack body as JSON text.
#include <cmath>
#include <cstdio>
#include <string>

#include "herald/internal/text.hpp"
#include "herald/message.hpp"

namespace herald::internal {
namespace {

void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (unsigned char c : s) {
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

void append_json(std::string& out, const msgpack::object& o) {
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
        append_json(out, o.via.array.ptr[i]);
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
        } else {
          std::string text;
          append_json(text, key);
          append_json_string(out, text);
        }
        out.push_back(':');
        append_json(out, o.via.map.ptr[i].val);
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
