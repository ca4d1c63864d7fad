#include "memory_transport.hpp"

#include <atomic>

#include "herald/hub.hpp"
#include "herald/internal/hub_access.hpp"

namespace herald::memory {
namespace {

class MemoryTransport final : public internal::Transport {
 public:
  MemoryTransport(std::shared_ptr<Hub> hub, std::weak_ptr<internal::TransportEvents> events,
                  std::string session)
      : hub_(std::move(hub)), events_(std::move(events)), session_(std::move(session)) {}

  ~MemoryTransport() override { close(); }

  void open() override {
    std::shared_ptr<internal::TransportEvents> events = events_.lock();
    if (!events) return;
    receiver_ = events.get();
    absl::Status status = internal::HubAccess::attach(*hub_, events, session_);
    if (status.ok()) {
      attached_.store(true);
      for (const auto& restore : events->channels_to_restore()) {
        (void)internal::HubAccess::join(*hub_, *receiver_, restore.channel, restore.echo);
      }
      events->transport_connected();
    } else {
      events->transport_refused(status);
    }
  }

  void close() override {
    if (attached_.exchange(false)) internal::HubAccess::detach(*hub_, *receiver_);
  }

  absl::Status join(std::string_view channel, bool echo) override {
    return internal::HubAccess::join(*hub_, *receiver_, channel, echo);
  }
  absl::Status leave(std::string_view channel, bool echo) override {
    return internal::HubAccess::leave(*hub_, *receiver_, channel, echo);
  }
  void cut(const absl::Status&) override { close(); }

  absl::Status publish(const internal::EnvelopePtr& envelope) override {
    // The sender waits on full receivers here, on its own thread: its hub
    // says when one of them has stalled.
    if (internal::t_send_wait) internal::t_send_wait->stall_timeout = hub_->options().stall_timeout;
    internal::HubAccess::route(*hub_, envelope);
    return absl::OkStatus();
  }
  std::size_t max_message_bytes() const override { return hub_->options().max_message_bytes; }
  absl::Status update_profile(const Message&, bool echo) override {
    internal::HubAccess::update_profile(*hub_, *receiver_, echo);
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<Member>> get_members(std::string_view channel) override {
    return hub_->members(channel);
  }

 private:
  std::shared_ptr<Hub> hub_;
  std::weak_ptr<internal::TransportEvents> events_;
  internal::TransportEvents* receiver_ = nullptr;  // the owning connection outlives us
  std::string session_;
  std::atomic<bool> attached_{false};
};

}  // namespace

absl::StatusOr<std::unique_ptr<internal::Transport>> make_transport(
    const internal::Url& url, const Options& options,
    std::weak_ptr<internal::TransportEvents> events) {
  return std::make_unique<MemoryTransport>(Hub::named(url.host), std::move(events),
                                           options.session);
}

}  // namespace herald::memory
