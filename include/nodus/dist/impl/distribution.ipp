// nodus/dist/impl/distribution.ipp: the non-template helpers of dist/distribution.hpp. Included
// by that header in header-only mode, by nodus/impl/src.hpp otherwise.
#pragma once

#include <memory>
#include <span>
#include <string>

#include "nodus/dist/distribution.hpp"

namespace nodus::dist {

NODUS_DECL void send_reply_error(distribution& d, const node_name& peer, std::uint64_t call_id,
                                 const error& e) {
  struct owner_t {
    frame_header header;
    std::string reason;
  };
  auto o = std::make_shared<owner_t>();
  o->reason = e.reason();
  o->header.reply_error(call_id, static_cast<std::uint64_t>(e.code().value()), o->reason.size());
  const std::span<const std::byte> parts[] = {o->header.view(),
                                              std::as_bytes(std::span(o->reason))};
  (void)d.send(peer, parts, std::move(o), admission::forced);
}

}  // namespace nodus::dist
