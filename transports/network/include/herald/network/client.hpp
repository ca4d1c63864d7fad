// herald/network/client.hpp — NetworkClient: what a network client (zmq://,
// ws://) implements, and the one internal::Transport adapter over it.
//
// Core talks to every transport through internal::Transport. A network client
// is one I/O thread with a connection to a far side (a broker, a hub); the
// adapter maps the Transport calls onto it the same way for all of them:
// open() / close() start and stop the I/O thread, join / leave / profile /
// members are requests answered by the far side, and get_members is refused on
// the I/O thread itself (it would wait for its own reply).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "herald/internal/transport.hpp"

namespace herald::network {

class NetworkClient {
 public:
  enum class Request : std::uint8_t { join, leave, profile, members };

  virtual ~NetworkClient() = default;
  // Transport::open(): starts (or restarts) the I/O thread; never waits for it.
  virtual void start() = 0;
  // Transport::close() (`detach_if_self` false) and the transport's
  // destruction (true: from the I/O thread itself, the thread is left to end
  // on its own).
  virtual void stop(bool detach_if_self) = 0;
  // join / leave / profile / members: answered by the far side. From the I/O
  // thread the request goes out in order and OK comes back without a wait.
  virtual absl::Status request(Request kind, std::string_view channel, bool echo,
                               const Message& profile, std::vector<Member>* members_out) = 0;
  virtual absl::Status publish(const internal::EnvelopePtr& envelope) = 0;
  virtual std::size_t max_message_bytes() const = 0;
  virtual bool on_io_thread() const = 0;
  virtual void resume_input() = 0;
  virtual void add_stats(Stats& stats) const = 0;
};

// The Transport a Connection uses a network client through. `who` names the
// client in errors ("herald ws", "herald zmq"), `far_side` what it talks to
// ("hub", "broker").
std::unique_ptr<internal::Transport> make_client_transport(std::shared_ptr<NetworkClient> client,
                                                           std::string who, std::string far_side);

}  // namespace herald::network
