// nodus/config.hpp: header-only (the default) or separate compilation, the Asio way.
//
// Header-only: every non-template function is `inline` and its definition is included by the
// header that declares it, so a program needs nothing but the headers.
//
// Separate compilation: define NODUS_SEPARATE_COMPILATION for every TU of the program, and
// compile <nodus/impl/src.hpp> once in one of them (or link the CMake target nodus::compiled /
// the meson dependency nodus_compiled_dep, which do both). The headers then only declare those
// functions, and the network stack, the node's lifecycle and the option parser are compiled once.
// Define ASIO_SEPARATE_COMPILATION as well (nodus::compiled and nodus_compiled_dep do, unless
// NODUS_COMPILED_ASIO=OFF / -Dcompiled_asio=false) and that TU compiles Asio's own non-template
// code too (<asio/impl/src.hpp>; NODUS_NO_ASIO_SRC leaves it to another TU of yours).
//
// Every non-template function of nodus is declared NODUS_DECL, and its body lives in an `.ipp`
// file under an `impl/` folder of its layer (nodus/<layer>/impl/X.ipp), included at the end of
// the declaring header in header-only mode, and by nodus/impl/src.hpp otherwise.
#pragma once

#if defined(NODUS_SEPARATE_COMPILATION)
#if defined(NODUS_HEADER_ONLY)
#error "nodus: NODUS_HEADER_ONLY and NODUS_SEPARATE_COMPILATION are both defined; pick one"
#endif
#define NODUS_DECL
#else
#if !defined(NODUS_HEADER_ONLY)
#define NODUS_HEADER_ONLY 1
#endif
#define NODUS_DECL inline
#endif
