/// @file
/// spindle/net/shutdown.hpp: Shutdown, which half of a stream connection (TcpStream, UnixStream)
/// shutdown() closes.
#pragma once

#include <cstdint>

#include "spindle/detail/export.hpp"

SPINDLE_API_BEGIN

namespace spindle::net {

/// Shutdown says which half of a stream connection TcpStream::shutdown / UnixStream::shutdown
/// closes.
enum class Shutdown : std::uint8_t {
  Read,   ///< no more reads (pending and later data is discarded; read returns 0)
  Write,  ///< no more writes: the peer reads end of stream (half-close); reading still works
  Both,   ///< both
};

}  // namespace spindle::net

SPINDLE_API_END
