// A detector's own evidence as a struct of its own, carried in a fixed
// number of bytes of a record that every detector shares (Alert,
// HostEvent): put by the detector that fills the record, read back by the
// same detector (its renderer, or its host-stage half). Typed at both ends,
// where shared numbered slots would make every reader know every writer's
// packing.
#pragma once

#include <cstddef>
#include <cstring>
#include <type_traits>

namespace harrier {

template <size_t N>
struct TypedDetail {
  static constexpr size_t kBytes = N;
  alignas(8) unsigned char bytes[N]{};

  template <typename T>
  void put(const T& d) noexcept {
    static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= N, "detail too large");
    std::memcpy(bytes, &d, sizeof d);
  }
  template <typename T>
  T get() const noexcept {
    static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= N, "detail too large");
    T d;
    std::memcpy(&d, bytes, sizeof d);
    return d;
  }
};

}  // namespace harrier
