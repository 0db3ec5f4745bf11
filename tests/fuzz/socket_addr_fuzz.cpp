// libFuzzer target: net::SocketAddr::parse on any bytes. It either throws std::invalid_argument or
// returns an address whose to_string() parses back to the same address (and the same text).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>

#include "spindle/net/socket_addr.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  spindle::net::SocketAddr a;
  try {
    a = spindle::net::SocketAddr::parse(text);
  } catch (const std::invalid_argument&) {
    return 0;
  }
  const std::string printed = a.to_string();
  const spindle::net::SocketAddr b = spindle::net::SocketAddr::parse(printed);  // must not throw
  if (!(a == b) || b.to_string() != printed) std::abort();
  return 0;
}
