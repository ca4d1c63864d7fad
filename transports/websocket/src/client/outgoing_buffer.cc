#include "outgoing_buffer.hpp"

#include <algorithm>

namespace herald::ws_transport {

void give_back(std::string& written) {
  if (written.capacity() > kKeepCapacity) {
    std::string().swap(written);
  } else {
    written.clear();
  }
}

bool OutgoingBuffer::take_pending(std::string& out, std::size_t message_limit) {
  if (pending_.size() <= message_limit) {
    out.swap(pending_);
    pending_.clear();  // (keeps the capacity of the buffer written last)
    ends_.clear();
  } else {
    // More than one message: it goes out from the backlog, one piece per
    // write, and senders may fill pending_ meanwhile.
    backlog_.swap(pending_);
    backlog_ends_.swap(ends_);
    pending_.clear();
    ends_.clear();
  }
  return waiters_ > 0;
}

void OutgoingBuffer::take_from_backlog(std::string& out, std::size_t message_limit) {
  const auto first = backlog_ends_.begin() + static_cast<std::ptrdiff_t>(backlog_next_);
  auto it = std::upper_bound(first, backlog_ends_.end(), backlog_offset_ + message_limit);
  if (it == first) ++it;  // one frame over the limit goes alone (the hub refuses it)
  const std::size_t cut = *(it - 1);
  out.assign(backlog_, backlog_offset_, cut - backlog_offset_);
  backlog_offset_ = cut;
  backlog_next_ = static_cast<std::size_t>(it - backlog_ends_.begin());
  if (backlog_next_ == backlog_ends_.size()) clear_backlog();
}

namespace {

// Calls `each(frame_bytes)` for the frames of `from` ending at `frame_ends`,
// the first of which starts at `start`.
template <class Each>
void for_each_frame(const std::string& from, std::size_t start,
                    std::span<const std::size_t> frame_ends, Each&& each) {
  for (std::size_t end : frame_ends) {
    each(std::string_view(from).substr(start, end - start));
    start = end;
  }
}

}  // namespace

std::uint64_t OutgoingBuffer::count(FramePredicate keep) const {
  std::uint64_t n = 0;
  auto count_kept = [&](std::string_view frame) { n += keep(frame) ? 1 : 0; };
  for_each_frame(backlog_, backlog_offset_, std::span(backlog_ends_).subspan(backlog_next_),
                 count_kept);
  for_each_frame(pending_, 0, ends_, count_kept);
  return n;
}

void OutgoingBuffer::keep_only(FramePredicate keep) {
  std::string kept;
  std::vector<std::size_t> ends;
  auto keep_frame = [&](std::string_view frame) {
    if (!keep(frame)) return;
    kept.append(frame);
    ends.push_back(kept.size());
  };
  // The backlog's rest is older than pending_.
  for_each_frame(backlog_, backlog_offset_, std::span(backlog_ends_).subspan(backlog_next_),
                 keep_frame);
  for_each_frame(pending_, 0, ends_, keep_frame);
  clear_backlog();
  pending_.swap(kept);
  ends_.swap(ends);
}

void OutgoingBuffer::clear() {
  pending_.clear();
  ends_.clear();
  clear_backlog();
}

void OutgoingBuffer::clear_backlog() {
  give_back(backlog_);
  backlog_ends_.clear();
  backlog_offset_ = 0;
  backlog_next_ = 0;
}

}  // namespace herald::ws_transport
