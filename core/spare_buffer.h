// File: core/spare_buffer.h
//
// Spare vector storage shared by every engine on a thread. An engine's
// per-call queues (outbox frames and events, transmits and events waiting
// to be polled) are empty between calls almost always; keeping their
// capacity per engine cost ~1 KiB per engine (a simulated million engines:
// ~1 GB of empty vectors). Instead, a queue that becomes empty parks its
// storage here (ParkStorage) and a queue that needs storage again borrows
// it back (BorrowStorage), so a thread holds one warm buffer per element
// type and an idle engine holds none.
//
// Guarantees: both calls only move storage between *empty* vectors, so
// no element is ever lost, reordered or shared; behaviour is the same as
// with plain vectors, only allocation differs.
//
// Thread-safety: the spare is thread_local; a vector must be used by one
// thread at a time (as every engine is).
#ifndef ELARA_CORE_SPARE_BUFFER_H_
#define ELARA_CORE_SPARE_BUFFER_H_

#include <vector>

namespace elara {

template <typename T>
std::vector<T>& SpareStorage() {
  static thread_local std::vector<T> spare;
  return spare;
}

// BorrowStorage's work once *v has no storage: takes the spare's, if any
// (swapping with a spare that has none changes nothing).
template <typename T>
void BorrowSpareStorage(std::vector<T>* v) {
  v->swap(SpareStorage<T>());
}

// If *v has no storage, takes the thread's spare (empty) storage. Inline
// test, as in ParkStorage: the outbox calls it for every frame queued, and
// all but a call's first find storage there (as one function, GCC kept it
// out of line: a call per frame).
template <typename T>
inline void BorrowStorage(std::vector<T>* v) {
  if (v->capacity() != 0) return;
  BorrowSpareStorage(v);
}

// ParkStorage's work once there is storage to hand back. Usually the spare
// has none (*v borrowed it), so a swap is all it takes; the free is for the
// rest.
template <typename T>
void ParkBorrowedStorage(std::vector<T>* v) {
  v->clear();
  std::vector<T>& spare = SpareStorage<T>();
  if (v->capacity() > spare.capacity()) v->swap(spare);
  if (v->capacity() != 0) std::vector<T>().swap(*v);
}

// Empties *v and leaves it without storage: the larger of its storage and
// the spare's becomes the spare, the other is freed. The test is kept apart
// from the work so that it is inlined: most calls (an engine call that
// queued no event, say) have nothing to park, and as one function GCC kept
// it out of line, paying a call and a frame for a test (~25 instructions).
//
// The usual case, a spare without storage (*v borrowed it), is a swap
// inline: no capacity compare, and no test after it of what *v holds.
template <typename T>
inline void ParkStorage(std::vector<T>* v) {
  if (v->capacity() == 0) return;  // nothing borrowed: nothing to hand back
  std::vector<T>& spare = SpareStorage<T>();
  if (spare.capacity() == 0) {
    v->clear();
    v->swap(spare);  // *v gets the spare's none
    return;
  }
  ParkBorrowedStorage(v);
}

}  // namespace elara

#endif  // ELARA_CORE_SPARE_BUFFER_H_
