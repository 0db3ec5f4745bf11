// Fiber-local storage: per-fiber tables hung off the task control block, per-thread tables outside
// fibers, and a registry of keys with generations.
#include <mutex>
#include <new>
#include <vector>

#include "detail/fls_table.hpp"
#include "detail/runtime_impl.hpp"
#include "spindle/fiber_local.hpp"

namespace spindle::detail {

namespace {

struct Registry {
  std::mutex mu;
  std::vector<std::uint32_t> generation;  // per index: the generation of its current (or next) key
  std::vector<std::uint32_t> free;        // released indexes
};

Registry& registry() {
  static Registry* r = new Registry();  // never destroyed: keys may be released at exit
  return *r;
}

// ThreadFls holds the values of code running outside fibers on one OS thread.
struct ThreadFls {
  FlsTable table;
  ~ThreadFls() { table.destroy_all(); }
};
thread_local ThreadFls tls_fls;

FlsTable* current_table(bool create) {
  Worker* w = current_worker();
  if (w == nullptr || w->current == nullptr) return &tls_fls.table;
  TaskCore* t = w->current;
  if (t->fls == nullptr && create) t->fls = new FlsTable();
  return t->fls;
}

}  // namespace

void FlsTable::destroy_all() noexcept {
  // A destructor may itself use fiber-locals (creating new values): repeat a few rounds, like
  // pthread keys.
  for (int round = 0; round < 4; ++round) {
    bool any = false;
    for (std::size_t i = 0; i < entries.size(); ++i) {
      Entry& e = entries[i];
      if (e.value == nullptr) continue;
      void* v = e.value;
      void (*destroy)(void*) = e.destroy;
      e.value = nullptr;
      e.destroy = nullptr;
      destroy(v);  // may grow `entries`: index again on the next iteration
      any = true;
    }
    if (!any) break;
  }
}

void fls_destroy_task(TaskCore* t) noexcept {
  if (t->fls == nullptr) return;
  t->fls->destroy_all();
  delete t->fls;
  t->fls = nullptr;
}

FlsKey fls_key_new() {
  Registry& r = registry();
  std::lock_guard<std::mutex> g(r.mu);
  if (!r.free.empty()) {
    const std::uint32_t index = r.free.back();
    r.free.pop_back();
    return FlsKey{index, r.generation[index]};
  }
  r.generation.push_back(1);
  return FlsKey{static_cast<std::uint32_t>(r.generation.size() - 1), 1};
}

void fls_key_release(FlsKey key) noexcept {
  Registry& r = registry();
  std::lock_guard<std::mutex> g(r.mu);
  ++r.generation[key.index];  // values of the old generation are never returned again
  try {
    r.free.push_back(key.index);
  } catch (...) {
    // Out of memory: the index is simply not reused.
  }
}

void* fls_get(FlsKey key) noexcept {
  FlsTable* table = current_table(false);
  if (table == nullptr || key.index >= table->entries.size()) return nullptr;
  const FlsTable::Entry& e = table->entries[key.index];
  return e.generation == key.generation ? e.value : nullptr;
}

void fls_set(FlsKey key, void* value, void (*destroy)(void*)) {
  FlsTable* table;
  try {
    table = current_table(true);
    if (key.index >= table->entries.size()) table->entries.resize(key.index + 1);
  } catch (...) {
    destroy(value);
    throw;
  }
  FlsTable::Entry& e = table->entries[key.index];
  void* old = e.value;
  void (*old_destroy)(void*) = e.destroy;
  e.value = value;
  e.destroy = destroy;
  e.generation = key.generation;
  if (old != nullptr) old_destroy(old);  // a stale value of a released key, or the replaced one
}

void fls_set_nothrow_clear(FlsKey key) noexcept {
  FlsTable* table = current_table(false);
  if (table == nullptr || key.index >= table->entries.size()) return;
  FlsTable::Entry& e = table->entries[key.index];
  if (e.generation != key.generation || e.value == nullptr) return;
  void* old = e.value;
  void (*old_destroy)(void*) = e.destroy;
  e.value = nullptr;
  e.destroy = nullptr;
  old_destroy(old);
}

}  // namespace spindle::detail
