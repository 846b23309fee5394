# Finds standalone Asio (headers only) and defines the imported target nodus::asio.
# Debian's libasio-dev ships neither a CMake config nor a pkg-config file, hence the find_path.
# Sets NODUS_ASIO_INCLUDE_DIR, NODUS_ASIO_VERSION ("1.22.1"), NODUS_ASIO_FOUND.
# Used by nodus' own build and installed next to nodusConfig.cmake for consumers. No include
# guard: the imported target is directory-scoped, so each find_package(nodus) scope needs its own.

find_path(NODUS_ASIO_INCLUDE_DIR NAMES asio.hpp
          DOC "Directory holding the standalone Asio header asio.hpp (Debian: libasio-dev)")
mark_as_advanced(NODUS_ASIO_INCLUDE_DIR)

set(NODUS_ASIO_FOUND FALSE)
if(NODUS_ASIO_INCLUDE_DIR AND EXISTS "${NODUS_ASIO_INCLUDE_DIR}/asio/version.hpp")
  set(NODUS_ASIO_FOUND TRUE)
  # asio/version.hpp: "#define ASIO_VERSION 102201 // 1.22.1"
  file(STRINGS "${NODUS_ASIO_INCLUDE_DIR}/asio/version.hpp" _nodus_asio_line
       REGEX "^#define ASIO_VERSION [0-9]+")
  if(_nodus_asio_line MATCHES "ASIO_VERSION ([0-9]+)")
    math(EXPR _nodus_major "${CMAKE_MATCH_1} / 100000")
    math(EXPR _nodus_minor "${CMAKE_MATCH_1} / 100 % 1000")
    math(EXPR _nodus_patch "${CMAKE_MATCH_1} % 100")
    set(NODUS_ASIO_VERSION "${_nodus_major}.${_nodus_minor}.${_nodus_patch}")
  endif()
  unset(_nodus_asio_line)
  unset(_nodus_major)
  unset(_nodus_minor)
  unset(_nodus_patch)
endif()

if(NODUS_ASIO_FOUND AND NOT TARGET nodus::asio)
  add_library(nodus::asio INTERFACE IMPORTED)
  # ASIO_STANDALONE / ASIO_NO_DEPRECATED are usage requirements of nodus::nodus itself.
  set_target_properties(nodus::asio PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${NODUS_ASIO_INCLUDE_DIR}")
endif()
