#include "write_queue.hpp"

#include <algorithm>
#include <iterator>
#include <utility>

#include "wire.hpp"

namespace herald::ws_hub {

WriteQueue::~WriteQueue() {
  std::lock_guard lock(mu_);
  set_queued_locked(0);
  kill_locked();
}

void WriteQueue::set_queued_locked(std::size_t bytes) {
  if (limits_.budget != nullptr) {
    if (bytes > queued_bytes_) {
      limits_.budget->bytes.fetch_add(bytes - queued_bytes_, std::memory_order_relaxed);
    } else {
      limits_.budget->bytes.fetch_sub(queued_bytes_ - bytes, std::memory_order_relaxed);
    }
  }
  queued_bytes_ = bytes;
}

void WriteQueue::kill_locked() {
  dead_ = true;
  if (counted_open_) {
    counted_open_ = false;
    limits_.budget->open_queues.fetch_sub(1, std::memory_order_relaxed);
  }
}

bool WriteQueue::over_budget_locked(std::size_t bytes) const {
  const QueueBudget* budget = limits_.budget;
  if (budget == nullptr ||
      budget->bytes.load(std::memory_order_relaxed) + bytes <= budget->max_bytes) {
    return false;
  }
  const std::size_t open = std::max<std::size_t>(1, budget->open_queues.load());
  return queued_bytes_ + bytes > budget->max_bytes / open;
}

WriteQueue::Pushed WriteQueue::push(Outgoing out, std::size_t bytes, bool force) {
  std::lock_guard lock(mu_);
  Pushed pushed;
  if (dead_) return pushed;
  const bool over_bound =
      queue_.size() + 1 > limits_.max_frames || queued_bytes_ + bytes > limits_.max_bytes;
  if (!force && (over_bound || over_budget_locked(bytes))) {
    pushed.over_budget = !over_bound;
    pushed.cut = queue_.size() + 1;
    queue_.clear();
    set_queued_locked(0);
    kill_locked();
    return pushed;
  }
  out.size = bytes;
  queue_.push_back(std::move(out));
  set_queued_locked(queued_bytes_ + bytes);
  pushed.depth = queue_.size();
  pushed.bytes = queued_bytes_;
  if (!writing_ && write_ready_) {
    writing_ = true;
    pushed.start_writer = true;
  }
  return pushed;
}

std::pair<std::size_t, std::size_t> WriteQueue::load() const {
  std::lock_guard lock(mu_);
  return {queue_.size(), queued_bytes_};
}

void WriteQueue::push_uncounted(Outgoing out) {
  std::lock_guard lock(mu_);
  queue_.push_back(std::move(out));
}

void WriteQueue::clear() {
  std::lock_guard lock(mu_);
  queue_.clear();
}

bool WriteQueue::open() {
  std::lock_guard lock(mu_);
  write_ready_ = true;
  if (!dead_ && !counted_open_ && limits_.budget != nullptr) {
    counted_open_ = true;
    limits_.budget->open_queues.fetch_add(1, std::memory_order_relaxed);
  }
  if (writing_ || queue_.empty()) return false;
  writing_ = true;
  return true;
}

bool WriteQueue::close() {
  std::lock_guard lock(mu_);
  kill_locked();  // what is queued still goes out (a slow consumer's queue is gone already)
  write_ready_ = true;
  if (writing_) return false;
  writing_ = true;
  return true;
}

std::size_t WriteQueue::discard() {
  std::vector<Outgoing> dropped;
  {
    std::lock_guard lock(mu_);
    kill_locked();
    dropped.swap(queue_);
    set_queued_locked(0);
  }
  std::size_t messages = 0;
  for (const Outgoing& o : dropped) messages += o.envelope ? 1 : 0;
  return messages;
}

void WriteQueue::write_failed() {
  std::lock_guard lock(mu_);
  writing_ = false;
  kill_locked();
}

bool WriteQueue::has_more() const {
  std::lock_guard lock(mu_);
  return !queue_.empty();
}

std::size_t WriteQueue::take_message(std::string& out, std::size_t message_limit) {
  {
    std::lock_guard lock(mu_);
    batch_.swap(queue_);
    queue_.clear();
    set_queued_locked(0);
    if (batch_.empty()) writing_ = false;
  }
  out.clear();
  if (batch_.empty()) return 0;
  std::size_t frames = 0;
  for (Outgoing& o : batch_) {
    const std::size_t before = out.size();
    if (o.envelope) {
      ws_wire::append_message(out, *o.envelope);
    } else {
      out.append(o.bytes);
    }
    if (frames > 0 && out.size() > message_limit) {
      out.resize(before);  // this frame and the rest go back to the front of the queue
      std::lock_guard lock(mu_);
      std::vector<Outgoing> rest(std::make_move_iterator(batch_.begin() + frames),
                                 std::make_move_iterator(batch_.end()));
      std::size_t rest_bytes = queued_bytes_;  // what came in meanwhile
      for (const Outgoing& r : rest) rest_bytes += r.size;
      set_queued_locked(rest_bytes);
      for (auto& q : queue_) rest.push_back(std::move(q));
      queue_.swap(rest);
      break;
    }
    ++frames;
  }
  batch_.clear();
  return frames;
}

}  // namespace herald::ws_hub
