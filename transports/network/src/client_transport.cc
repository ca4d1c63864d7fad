#include <utility>

#include "herald/hub.hpp"
#include "herald/internal/text.hpp"
#include "herald/network/client.hpp"

namespace herald::network {
namespace {

class ClientTransport final : public internal::Transport {
 public:
  ClientTransport(std::shared_ptr<NetworkClient> client, std::string who, std::string far_side)
      : client_(std::move(client)), who_(std::move(who)), far_side_(std::move(far_side)) {}
  ~ClientTransport() override { client_->stop(/*detach_if_self=*/true); }

  void open() override { client_->start(); }
  void close() override { client_->stop(/*detach_if_self=*/false); }

  absl::Status join(std::string_view channel, bool echo) override {
    return client_->request(NetworkClient::Request::join, channel, echo, {}, nullptr);
  }
  absl::Status leave(std::string_view channel, bool echo) override {
    return client_->request(NetworkClient::Request::leave, channel, echo, {}, nullptr);
  }
  absl::Status publish(const internal::EnvelopePtr& envelope) override {
    return client_->publish(envelope);
  }
  std::size_t max_message_bytes() const override { return client_->max_message_bytes(); }
  absl::Status update_profile(const Message& profile, bool echo) override {
    return client_->request(NetworkClient::Request::profile, {}, echo, profile, nullptr);
  }
  absl::StatusOr<std::vector<Member>> get_members(std::string_view channel) override {
    if (client_->on_io_thread()) {
      return absl::FailedPreconditionError(internal::cat(
          who_, ": get_members cannot wait for the ", far_side_,
          " from a listener running on the connection's I/O thread; use Dispatch::queued or "
          "call it from another thread"));
    }
    std::vector<Member> members;
    absl::Status status =
        client_->request(NetworkClient::Request::members, channel, false, {}, &members);
    if (!status.ok()) return status;
    return members;
  }
  void resume_input() override { client_->resume_input(); }
  void add_stats(Stats& stats) const override { client_->add_stats(stats); }

 private:
  std::shared_ptr<NetworkClient> client_;
  std::string who_;
  std::string far_side_;
};

}  // namespace

std::unique_ptr<internal::Transport> make_client_transport(std::shared_ptr<NetworkClient> client,
                                                           std::string who, std::string far_side) {
  return std::make_unique<ClientTransport>(std::move(client), std::move(who), std::move(far_side));
}

}  // namespace herald::network
