// nodus/cluster/detail/srv_answer.hpp: the SRV records of a DNS response, read from its bytes
// with every length, count and compression pointer checked (dns_srv_strategy gets the bytes from
// the system resolver, res_nsearch, which checks only the header and the question).
//
// The message (RFC 1035 section 4.1): a 12-byte header, then the question, answer, authority and
// additional sections. A resource record (4.1.3) is NAME, TYPE (16 bits), CLASS (16), TTL (32),
// RDLENGTH (16) and RDLENGTH bytes of RDATA; all numbers big-endian (2.3.2). An SRV record (RFC
// 2782, TYPE 33) has the RDATA: Priority (16), Weight (16), Port (16), Target (a domain name).
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <span>
#include <string>
#include <vector>

#include "nodus/core/error.hpp"

namespace nodus::cluster::detail {

// One SRV record's RDATA (RFC 2782).
struct srv_record {
  std::uint16_t priority = 0;
  std::uint16_t weight = 0;
  std::uint16_t port = 0;
  // The target host in text form, labels joined by '.', without the final dot; "" for the root
  // ("."), which RFC 2782 reads as "the service is decidedly not available at this domain".
  std::string target;
  // Each label of target holds only A-Z a-z 0-9 '-' '_' (so target names a host a resolver can
  // look up, and the text has no '.' but between labels).
  bool host_name = false;

  friend bool operator==(const srv_record&, const srv_record&) = default;
};

namespace dns {

inline constexpr std::uint16_t type_srv = 33;  // RFC 2782
inline constexpr std::uint16_t class_in = 1;   // RFC 1035 3.2.4
inline constexpr std::size_t header_size = 12;
inline constexpr std::size_t max_name = 255;  // RFC 1035 2.3.4: octets of a name on the wire
// The smallest question (the root name, QTYPE, QCLASS) and resource record (the root name, TYPE,
// CLASS, TTL, RDLENGTH, no RDATA): what a count in the header can at most claim per byte left.
inline constexpr std::size_t min_question = 1 + 4;
inline constexpr std::size_t min_record = 1 + 10;

inline error malformed(const std::string& what) {
  return error(errc::malformed_frame, "malformed DNS answer: " + what);
}

inline std::uint16_t u16(std::span<const std::uint8_t> m, std::size_t at) {
  return static_cast<std::uint16_t>((m[at] << 8) | m[at + 1]);
}

inline bool host_label_char(std::uint8_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

// A name read from a message: its text, whether every label is host-like, and where the
// message goes on after it (after its first compression pointer, or its final zero label).
struct name_read {
  std::string text;
  bool host_name = true;
  std::size_t next = 0;
};

// read_name(m, at) -> the domain name at offset `at` of message m (RFC 1035 3.1, 4.1.4): labels
// of 1 to 63 bytes up to a zero label, or a two-byte pointer (its top bits 11) to an earlier
// offset where the rest of the name is. Each pointer must point below the offset where the
// labels it ends began, so every jump goes strictly backwards and no pointer chain can loop;
// a name's wire form, pointers followed, is at most 255 bytes. Label types 01 and 10 (RFC 6891's
// obsolete extended labels) are refused.
inline result<name_read> read_name(std::span<const std::uint8_t> m, std::size_t at) {
  name_read out;
  std::size_t pos = at;
  std::size_t floor = at;  // a pointer must point below this: the start of the labels read since
  std::size_t wire = 0;    // the name's length as the uncompressed wire form would be
  bool jumped = false;
  for (;;) {
    if (pos >= m.size()) return malformed("a name runs past the end of the message");
    const std::uint8_t len = m[pos];
    if ((len & 0xC0) == 0xC0) {
      if (pos + 1 >= m.size()) return malformed("a compression pointer is cut off");
      const std::size_t target = static_cast<std::size_t>(u16(m, pos) & 0x3FFF);
      if (target >= floor) {
        return malformed("a compression pointer at offset " + std::to_string(pos) +
                         " points forward or into its own name (to " + std::to_string(target) +
                         "): a loop");
      }
      if (!jumped) out.next = pos + 2;
      jumped = true;
      pos = target;
      floor = target;
      continue;
    }
    if ((len & 0xC0) != 0) {
      return malformed("label type " + std::to_string(len >> 6) + " at offset " +
                       std::to_string(pos) + " (only plain labels and pointers exist)");
    }
    wire += 1 + len;
    if (wire > max_name) return malformed("a name longer than 255 bytes");
    if (len == 0) {
      if (!jumped) out.next = pos + 1;
      return out;
    }
    if (pos + 1 + len > m.size()) return malformed("a label runs past the end of the message");
    if (!out.text.empty()) out.text += '.';
    for (std::size_t i = pos + 1; i < pos + 1 + len; ++i) {
      out.host_name = out.host_name && host_label_char(m[i]);
      out.text += static_cast<char>(m[i]);
    }
    pos += 1 + len;
  }
}

}  // namespace dns

// parse_srv_answer(message) -> the SRV records (class IN) of the answer section of a DNS response,
// in the order given (records of other types, such as the CNAME of an alias, are skipped); an
// empty vector when it has none. Fails (errc::malformed_frame, "malformed DNS answer: ...") on
// anything that does not add up: a message shorter than its header, not a response, truncated
// (TC), counts that more records claim than the bytes can hold, names that run out of the
// message, pointer loops, an RDATA that overruns the message or that its SRV fields do not fill
// exactly. A response with an error RCODE fails with errc::not_connected and the RCODE's name.
// Reads only m: any bytes at all are safe to give it.
inline result<std::vector<srv_record>> parse_srv_answer(std::span<const std::uint8_t> m) {
  using namespace dns;
  if (m.size() < header_size) {
    return malformed("shorter than a DNS header (" + std::to_string(m.size()) + " bytes)");
  }
  // Header (RFC 1035 4.1.1): ID, then QR(1) OPCODE(4) AA(1) TC(1) RD(1) | RA(1) Z(3) RCODE(4),
  // then QDCOUNT, ANCOUNT, NSCOUNT, ARCOUNT.
  const std::uint8_t flags = m[2];
  const std::uint8_t rcode = m[3] & 0x0F;
  if ((flags & 0x80) == 0) return malformed("a query, not a response (QR is 0)");
  if (const int opcode = (flags >> 3) & 0x0F; opcode != 0) {
    return malformed("opcode " + std::to_string(opcode) + ", not a standard query's answer");
  }
  if ((flags & 0x02) != 0) {
    return malformed("truncated (TC set): the records did not fit in the message");
  }
  if (rcode != 0) {
    static constexpr const char* names[] = {
        "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN (no such name)", "NOTIMP", "REFUSED"};
    return error(
        errc::not_connected,
        "the DNS server answered " + (rcode < std::size(names) ? std::string(names[rcode])
                                                               : "RCODE " + std::to_string(rcode)));
  }
  const std::size_t qdcount = u16(m, 4);
  const std::size_t ancount = u16(m, 6);
  const std::size_t nscount = u16(m, 8);
  const std::size_t arcount = u16(m, 10);
  const std::size_t room = m.size() - header_size;
  if (qdcount * min_question + (ancount + nscount + arcount) * min_record > room) {
    return malformed("its header counts " + std::to_string(qdcount) + " questions and " +
                     std::to_string(ancount + nscount + arcount) + " records, more than its " +
                     std::to_string(room) + " bytes can hold");
  }
  std::size_t pos = header_size;
  // Question section (4.1.2): QNAME, QTYPE, QCLASS.
  for (std::size_t i = 0; i < qdcount; ++i) {
    auto name = read_name(m, pos);
    if (!name) return name.error();
    pos = name->next;
    if (pos + 4 > m.size()) return malformed("a question is cut off");
    pos += 4;
  }
  std::vector<srv_record> out;
  // Answer section (4.1.3).
  for (std::size_t i = 0; i < ancount; ++i) {
    auto owner = read_name(m, pos);
    if (!owner) return owner.error();
    pos = owner->next;
    if (pos + 10 > m.size()) return malformed("a record's fixed fields are cut off");
    const std::uint16_t type = u16(m, pos);
    const std::uint16_t klass = u16(m, pos + 2);
    const std::size_t rdlength = u16(m, pos + 8);
    pos += 10;
    if (pos + rdlength > m.size()) {
      return malformed("a record's RDATA (" + std::to_string(rdlength) +
                       " bytes) runs past the end of the message");
    }
    const std::size_t end = pos + rdlength;
    if (type == type_srv && klass == class_in) {
      // RFC 2782: Priority, Weight, Port, then Target, which must end the RDATA exactly.
      if (rdlength < 7) {
        return malformed("an SRV record with " + std::to_string(rdlength) +
                         " bytes of RDATA (7 at least)");
      }
      srv_record r;
      r.priority = u16(m, pos);
      r.weight = u16(m, pos + 2);
      r.port = u16(m, pos + 4);
      // The target is read from the whole message: RFC 2782 forbids compressing it, but servers
      // do (RFC 3597 section 4 asks receivers to accept that).
      auto target = read_name(m, pos + 6);
      if (!target) return target.error();
      if (target->next != end) {
        return malformed("an SRV record's target " +
                         std::string(target->next > end ? "overruns" : "does not fill") +
                         " its RDATA");
      }
      r.target = std::move(target->text);
      r.host_name = target->host_name && !r.target.empty();
      out.push_back(std::move(r));
    }
    pos = end;
  }
  return out;
}

}  // namespace nodus::cluster::detail
