/// @file
/// spindle/net/buffer.hpp: MutableBuffer and ConstBuffer, the (pointer, size) views that the socket
/// calls read into and write from.
#pragma once

#include <cstddef>
#include <ranges>
#include <string_view>
#include <type_traits>

#include "spindle/detail/export.hpp"

SPINDLE_API_BEGIN

namespace spindle::net {

namespace detail {
// ByteLike is a one-byte element type a buffer can be made of: char, signed/unsigned char,
// std::byte, char8_t.
template <class T>
concept ByteLike = std::is_same_v<T, char> || std::is_same_v<T, unsigned char> ||
    std::is_same_v<T, signed char> || std::is_same_v<T, std::byte> || std::is_same_v<T, char8_t>;
// ByteRange is a contiguous, sized range of ByteLike elements (std::string, std::vector<char>,
// std::array<std::byte, N>, std::span<char>, a char array, ...).
template <class R>
concept ByteRange = std::ranges::contiguous_range<R> && std::ranges::sized_range<R> &&
    ByteLike<std::remove_cv_t<std::ranges::range_value_t<R>>>;
// WritableByteRange is a ByteRange whose elements can be assigned (not const).
template <class R>
concept WritableByteRange =
    ByteRange<R> && !std::is_const_v<std::remove_reference_t<std::ranges::range_reference_t<R>>>;
// NonArrayByteRange is a ByteRange that is not a built-in array (those convert as C strings).
template <class R>
concept NonArrayByteRange = ByteRange<R> && !std::is_array_v<std::remove_cvref_t<R>>;
}  // namespace detail

/// MutableBuffer is a view of `size` writable bytes at `data`, the destination of a read. It
/// converts implicitly from any contiguous, sized range of non-const bytes (std::string,
/// std::vector<char>, std::array<std::byte, N>, std::span<char>, char[N], ...), covering all of it,
/// and from (pointer, size). It does not own the memory. Never throws.
struct MutableBuffer {
  /// The viewed bytes: `size` bytes starting at `data`.
  ///@{
  void* data = nullptr;
  std::size_t size = 0;
  ///@}

  /// MutableBuffer makes an empty buffer.
  constexpr MutableBuffer() noexcept = default;
  /// MutableBuffer views `n` bytes at `p`.
  constexpr MutableBuffer(void* p, std::size_t n) noexcept : data(p), size(n) {}
  /// MutableBuffer views all of a writable byte range.
  template <class R>
  requires detail::WritableByteRange<R>
  constexpr MutableBuffer(R&& r) noexcept  // NOLINT(google-explicit-constructor)
      : data(std::ranges::data(r)), size(std::ranges::size(r)) {}
};

/// ConstBuffer is a view of `size` bytes at `data`, the source of a write. It converts implicitly
/// from std::string_view and C strings (without the terminating NUL), from any contiguous, sized
/// range of bytes (std::string, std::vector<char>, std::span<const std::byte>, ...), covering all
/// of it, from a MutableBuffer, and from (pointer, size). A char array converts up to its first NUL
/// but never past its end (so "abc" is 3 bytes, and a char[4096] without a NUL is 4096 bytes, never
/// an overread): pass {array, size} to write raw bytes, NULs included, from one. It does not own
/// the memory. Never throws.
struct ConstBuffer {
  /// The viewed bytes: `size` bytes starting at `data`.
  ///@{
  const void* data = nullptr;
  std::size_t size = 0;
  ///@}

  /// ConstBuffer makes an empty buffer.
  constexpr ConstBuffer() noexcept = default;
  /// ConstBuffer views `n` bytes at `p`.
  constexpr ConstBuffer(const void* p, std::size_t n) noexcept : data(p), size(n) {}
  /// ConstBuffer views the characters of `s`.
  constexpr ConstBuffer(std::string_view s) noexcept  // NOLINT(google-explicit-constructor)
      : data(s.data()), size(s.size()) {}
  /// ConstBuffer views a NUL-terminated string through a pointer, without the NUL.
  template <class P>
  requires std::is_same_v < std::remove_cvref_t<P>,
  const char* > || std::is_same_v<std::remove_cvref_t<P>, char*> constexpr ConstBuffer(
                       P&& s) noexcept  // NOLINT(google-explicit-constructor)
      : ConstBuffer(std::string_view(s)) {}
  /// ConstBuffer views a char array up to its first NUL, or all of it if it has none ("abc" is 3
  /// bytes).
  template <std::size_t N>
  constexpr ConstBuffer(const char (&s)[N]) noexcept  // NOLINT(google-explicit-constructor)
      : data(s), size(bounded_length(s, N)) {}
  /// ConstBuffer views the bytes of a MutableBuffer.
  constexpr ConstBuffer(MutableBuffer b) noexcept  // NOLINT(google-explicit-constructor)
      : data(b.data), size(b.size) {}
  /// ConstBuffer views all of a byte range (char arrays are covered by the C-string overload).
  template <class R>
  requires detail::NonArrayByteRange<R>
  constexpr ConstBuffer(R&& r) noexcept  // NOLINT(google-explicit-constructor)
      : data(std::ranges::data(r)), size(std::ranges::size(r)) {}

 private:
  static constexpr std::size_t bounded_length(const char* s, std::size_t n) noexcept {
    std::size_t i = 0;
    while (i < n && s[i] != '\0') ++i;
    return i;
  }
};

}  // namespace spindle::net

SPINDLE_API_END
