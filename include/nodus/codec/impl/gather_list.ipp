// nodus/codec/impl/gather_list.ipp: adding pieces to a gather list (see codec/gather_list.hpp).
// Included by that header in header-only mode, by nodus/impl/src.hpp otherwise.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "nodus/codec/gather_list.hpp"

namespace nodus::codec {

NODUS_DECL void gather_list::append(std::span<const std::byte> bytes) {
  if (bytes.empty()) return;
  if (!parts.empty()) {
    std::span<const std::byte>& last = parts.back();
    if (last.data() + last.size() == bytes.data()) {
      last = std::span<const std::byte>{last.data(), last.size() + bytes.size()};
      size += bytes.size();
      return;
    }
  }
  parts.push_back(bytes);
  size += bytes.size();
}

NODUS_DECL void gather_list::append_u64(std::uint64_t v) {
  const std::size_t chunk = slots_used_ / chunk_slots;
  if (chunk == chunks_.size()) chunks_.push_back(std::make_unique<std::uint64_t[]>(chunk_slots));
  std::uint64_t* slot = &chunks_[chunk][slots_used_ % chunk_slots];
  ++slots_used_;
  *slot = v;  // the host is little-endian (checked by the codec)
  append(std::span<const std::byte>{reinterpret_cast<const std::byte*>(slot), sizeof v});
}

NODUS_DECL void gather_list::append_zeros(std::size_t n) {
  assert(n <= sizeof detail::zero_bytes && "nodus::codec::gather_list: at most 16 zero bytes");
  append(std::span<const std::byte>{detail::zero_bytes, n});
}

}  // namespace nodus::codec
