// cmake/nodus_compiled.cpp: the one TU of the nodus::compiled library (CMake) and of
// nodus_compiled_dep (meson): nodus's non-template code, compiled once. See nodus/config.hpp.
#include <nodus/impl/src.hpp>
