// File: core/thin_vector.h
//
// ThinVector<T>: a vector of trivially copyable T whose object is one
// pointer (8 bytes, where a std::vector takes 24). The size and capacity
// live in the heap block, in front of the elements; an empty ThinVector
// that never held anything (or was Reset) owns no block at all.
//
// For the small, mostly empty lists a node keeps (Membership's contacts,
// NEIGHBOR requests and last shuffle sample): a million idle nodes hold
// such lists empty, and their 16 bytes of size and capacity each were 48
// bytes a node.
//
// Guarantees:
//   1. Same contents and order as a std::vector<T> under the same
//      push_back, erase and clear calls.
//   2. Grows by doubling from 1 (as libstdc++'s std::vector); reserve(n)
//      allocates exactly n when n exceeds the capacity. clear() keeps the
//      block; Reset() frees it.
//   3. HeapBytes(): the block's bytes (header and capacity() elements);
//      0 without a block.
//
// Thread-safety: none (one owner's state).
#ifndef ELARA_CORE_THIN_VECTOR_H_
#define ELARA_CORE_THIN_VECTOR_H_

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <type_traits>
#include <utility>

namespace elara {

template <typename T>
class ThinVector {
  static_assert(std::is_trivially_copyable_v<T>);
  static_assert(alignof(T) <= alignof(std::max_align_t));

 public:
  ThinVector() = default;
  ThinVector(const ThinVector&) = delete;
  ThinVector& operator=(const ThinVector&) = delete;
  ~ThinVector() { Reset(); }

  size_t size() const { return block_ == nullptr ? 0 : block_->size; }
  bool empty() const { return size() == 0; }
  size_t capacity() const { return block_ == nullptr ? 0 : block_->capacity; }

  T* data() { return block_ == nullptr ? nullptr : Items(block_); }
  const T* data() const { return block_ == nullptr ? nullptr : Items(block_); }
  T* begin() { return data(); }
  T* end() { return data() + size(); }
  const T* begin() const { return data(); }
  const T* end() const { return data() + size(); }
  T& operator[](size_t i) {
    assert(i < size());
    return data()[i];
  }
  const T& operator[](size_t i) const {
    assert(i < size());
    return data()[i];
  }
  const T& back() const { return (*this)[size() - 1]; }

  // `item` may be one of this vector's own elements (copied before the
  // block is reallocated).
  void push_back(const T& item) {
    const T copy = item;
    const size_t n = size();
    if (n == capacity()) Reallocate(n == 0 ? 1 : 2 * n);
    std::memcpy(static_cast<void*>(Items(block_) + n), &copy, sizeof(T));
    block_->size = static_cast<uint32_t>(n + 1);
  }
  // Removes the element at `position`, shifting the later ones down.
  // Returns the iterator to the element that followed it.
  T* erase(T* position) {
    assert(position >= begin() && position < end());
    T* const last = end();
    std::memmove(static_cast<void*>(position), position + 1,
                 static_cast<size_t>(last - position - 1) * sizeof(T));
    --block_->size;
    return position;
  }
  void clear() {
    if (block_ != nullptr) block_->size = 0;
  }
  void reserve(size_t capacity) {
    if (capacity > this->capacity()) Reallocate(capacity);
  }
  // Frees the block (as swapping with an empty std::vector).
  void Reset() {
    ::operator delete(static_cast<void*>(block_));
    block_ = nullptr;
  }
  size_t HeapBytes() const {
    return block_ == nullptr ? 0 : BlockBytes(block_->capacity);
  }

 private:
  struct Header {
    uint32_t size;
    uint32_t capacity;
  };
  // Elements start at the first multiple of alignof(T) after the header.
  static constexpr size_t kItemsOffset =
      (sizeof(Header) + alignof(T) - 1) / alignof(T) * alignof(T);
  static size_t BlockBytes(size_t capacity) {
    return kItemsOffset + capacity * sizeof(T);
  }
  static T* Items(Header* block) {
    return reinterpret_cast<T*>(reinterpret_cast<char*>(block) + kItemsOffset);
  }
  static const T* Items(const Header* block) {
    return reinterpret_cast<const T*>(reinterpret_cast<const char*>(block) +
                                      kItemsOffset);
  }
  // REQUIRES: capacity >= size(), capacity < 2^32.
  void Reallocate(size_t capacity) {
    assert(capacity >= size() && capacity <= UINT32_MAX);
    Header* block = static_cast<Header*>(::operator new(BlockBytes(capacity)));
    const size_t n = size();
    block->size = static_cast<uint32_t>(n);
    block->capacity = static_cast<uint32_t>(capacity);
    if (n > 0) {
      std::memcpy(static_cast<void*>(Items(block)), Items(block_),
                  n * sizeof(T));
    }
    ::operator delete(static_cast<void*>(block_));
    block_ = block;
  }

  Header* block_ = nullptr;
};

}  // namespace elara

#endif  // ELARA_CORE_THIN_VECTOR_H_
