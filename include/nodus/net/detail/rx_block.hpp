// nodus/net/detail/rx_block.hpp: the receive buffers of a connection: large virtual reservations
// whose pages the OS commits on first touch, recycled through a small pool.
//
// Why so large: a frame must never move once its first bytes were read (that would copy its
// payload), and a read that ends inside a frame's first bytes does not yet know how long the
// frame is. A block that can hold any frame behind the current read position settles both: a
// frame of up to max_frame_size that starts near the front always fits. Frames handed to the
// owner keep their block alive (a shared reference) for as long as a message refers to them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <sys/mman.h>
#define NODUS_RX_MMAP 1
#endif

namespace nodus::net::detail {

class rx_pool;

// One receive buffer of a fixed capacity. Not thread-safe; shared read-only once frames in it
// were handed out.
class rx_block {
 public:
  explicit rx_block(std::size_t capacity) : capacity_(capacity) {
#ifdef NODUS_RX_MMAP
    // MAP_NORESERVE: address space only; a page costs memory once touched.
    void* p = ::mmap(nullptr, capacity, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    data_ = static_cast<std::byte*>(p);
#else
    data_ = static_cast<std::byte*>(::operator new (capacity, std::align_val_t{64}));
#endif
  }
  rx_block(const rx_block&) = delete;
  rx_block& operator=(const rx_block&) = delete;
  ~rx_block() {
#ifdef NODUS_RX_MMAP
    ::munmap(data_, capacity_);
#else
    ::operator delete (data_, std::align_val_t{64});
#endif
  }

  [[nodiscard]] std::byte* data() noexcept { return data_; }
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }

  // used(n): bytes [0, n) were written; remembered to give memory back on recycling.
  void used(std::size_t n) noexcept {
    if (n > high_) high_ = n;
  }

  // trim(keep): gives the pages beyond keep bytes back to the OS (their contents are lost).
  void trim(std::size_t keep) noexcept {
#ifdef NODUS_RX_MMAP
    constexpr std::size_t page = 4096;
    keep = (keep + page - 1) / page * page;
    if (high_ > keep) {
      ::madvise(data_ + keep, high_ - keep, MADV_DONTNEED);
      high_ = keep;
    }
#else
    (void)keep;
#endif
  }

 private:
  std::byte* data_ = nullptr;
  std::size_t capacity_;
  std::size_t high_ = 0;
};

// A pool of free blocks of one capacity, shared by a connection and the blocks it handed out:
// a block whose last frame is released comes back here (at most `keep` blocks stay).
class rx_pool : public std::enable_shared_from_this<rx_pool> {
 public:
  // Pages kept committed in a recycled block; the rest is given back.
  static constexpr std::size_t resident_bytes = std::size_t{4} << 20;

  explicit rx_pool(std::size_t capacity, std::size_t keep = 2) : capacity_(capacity), keep_(keep) {}

  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }

  // take() -> a block (recycled or new), owned by a shared_ptr that returns it here.
  [[nodiscard]] std::shared_ptr<rx_block> take() {
    std::unique_ptr<rx_block> b;
    {
      std::lock_guard lock(m_);
      if (!free_.empty()) {
        b = std::move(free_.back());
        free_.pop_back();
      }
    }
    if (!b) b = std::make_unique<rx_block>(capacity_);
    return std::shared_ptr<rx_block>(b.release(), [pool = shared_from_this()](rx_block* p) {
      pool->give_back(std::unique_ptr<rx_block>(p));
    });
  }

 private:
  void give_back(std::unique_ptr<rx_block> b) {
    b->trim(resident_bytes);
    std::lock_guard lock(m_);
    if (free_.size() < keep_) free_.push_back(std::move(b));
  }

  std::mutex m_;
  std::vector<std::unique_ptr<rx_block>> free_;
  std::size_t capacity_;
  std::size_t keep_;
};

}  // namespace nodus::net::detail
