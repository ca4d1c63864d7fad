#include "write_queue.hpp"

#include <iterator>
#include <utility>

#include "wire.hpp"

namespace herald::ws_hub {

WriteQueue::Pushed WriteQueue::push(Outgoing out, std::size_t bytes, bool force) {
  std::lock_guard lock(mu_);
  Pushed pushed;
  if (dead_) return pushed;
  if (!force &&
      (queue_.size() + 1 > limits_.max_frames || queued_bytes_ + bytes > limits_.max_bytes)) {
    dead_ = true;
    pushed.cut = queue_.size() + 1;
    queue_.clear();
    queued_bytes_ = 0;
    return pushed;
  }
  out.size = bytes;
  queue_.push_back(std::move(out));
  queued_bytes_ += bytes;
  pushed.depth = queue_.size();
  if (!writing_ && write_ready_) {
    writing_ = true;
    pushed.start_writer = true;
  }
  return pushed;
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
  if (writing_ || queue_.empty()) return false;
  writing_ = true;
  return true;
}

bool WriteQueue::close() {
  std::lock_guard lock(mu_);
  dead_ = true;  // what is queued still goes out (a slow consumer's queue is gone already)
  write_ready_ = true;
  if (writing_) return false;
  writing_ = true;
  return true;
}

std::size_t WriteQueue::discard() {
  std::vector<Outgoing> dropped;
  {
    std::lock_guard lock(mu_);
    dead_ = true;
    dropped.swap(queue_);
    queued_bytes_ = 0;
  }
  std::size_t messages = 0;
  for (const Outgoing& o : dropped) messages += o.envelope ? 1 : 0;
  return messages;
}

void WriteQueue::write_failed() {
  std::lock_guard lock(mu_);
  writing_ = false;
  dead_ = true;
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
    queued_bytes_ = 0;
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
      for (const Outgoing& r : rest) queued_bytes_ += r.size;
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
