// File: json_writer.h
// A small streaming JSON writer for responses and token payloads on the hot path: no DOM, one
// string buffer, correct escaping (RFC 8259 §7). Not thread-safe; one writer per document.
//
//   JsonWriter w;
//   w.BeginObject();
//   w.Member("accessToken", token);
//   w.Key("scope"); w.BeginArray(); w.String("openid"); w.EndArray();
//   w.EndObject();
//   std::string json = w.Take();
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ts {

class JsonWriter {
 public:
  void BeginObject() { Open('{'); }
  void EndObject() { Close('}'); }
  void BeginArray() { Open('['); }
  void EndArray() { Close(']'); }

  void Key(std::string_view key);
  void String(std::string_view value);
  void Int(int64_t value);
  void Bool(bool value);
  void Null();
  // Inserts already-serialized JSON (trusted: produced by this process).
  void Raw(std::string_view json);

  void Member(std::string_view key, std::string_view value) { Key(key), String(value); }
  void Member(std::string_view key, const char* value) { Key(key), String(value); }
  void Member(std::string_view key, int64_t value) { Key(key), Int(value); }
  void MemberBool(std::string_view key, bool value) { Key(key), Bool(value); }
  void Member(std::string_view key, const std::vector<std::string>& values);

  std::string Take() { return std::move(out_); }

 private:
  void Open(char c);
  void Close(char c);
  void Separate();
  void AppendEscaped(std::string_view s);

  std::string out_;
  // One flag per open container: true once it has a first element.
  std::vector<bool> has_element_;
  bool after_key_ = false;
};

}  // namespace ts
