// spindle/detail/export.hpp: internal. Symbol visibility of the public API. Spindle's objects are
// compiled with -fvisibility=hidden (the top-level CMakeLists.txt), so the shared library exports
// only what the public headers declare: each public header wraps its declarations in
// SPINDLE_API_BEGIN / SPINDLE_API_END, and everything else (the scheduler's private structs, the
// fiber, platform and sys layers) stays out of the dynamic symbol table. Not an API.
#pragma once

// A public header that forward-declares a private type (RuntimeImpl, SocketCore, ...) marks it
// SPINDLE_INTERNAL: a class takes its visibility from its first declaration, and that one sits in
// the SPINDLE_API_BEGIN region.
#if defined(__GNUC__) || defined(__clang__)
#define SPINDLE_API_BEGIN _Pragma("GCC visibility push(default)")
#define SPINDLE_API_END _Pragma("GCC visibility pop")
#define SPINDLE_INTERNAL __attribute__((visibility("hidden")))
#else
#define SPINDLE_API_BEGIN
#define SPINDLE_API_END
#define SPINDLE_INTERNAL
#endif
