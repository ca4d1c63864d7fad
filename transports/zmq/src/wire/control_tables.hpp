// The zmq:// control codec's tables, shared by its encoder and decoder
// (control_encode.cc, control_decode.cc).
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "control.hpp"

namespace herald::zmq_wire::control_tables {

inline constexpr std::array<std::pair<Command, std::string_view>, 15> kNames = {{
    {Command::hello, "hello"},
    {Command::join, "join"},
    {Command::leave, "leave"},
    {Command::profile, "profile"},
    {Command::members, "members"},
    {Command::stats, "stats"},
    {Command::ping, "ping"},
    {Command::bye, "bye"},
    {Command::stalled, "stalled"},
    {Command::welcome, "welcome"},
    {Command::refused, "refused"},
    {Command::ok, "ok"},
    {Command::error, "error"},
    {Command::unknown_session, "unknown-session"},
    {Command::pong, "pong"},
}};

// The stats reply's counters, by name, in the order they are sent.
inline constexpr std::array<std::pair<std::string_view, std::uint64_t BrokerCounts::*>, 16>
    kCounters = {{
        {"sessions", &BrokerCounts::sessions},
        {"channels", &BrokerCounts::channels},
        {"messages_in", &BrokerCounts::messages_in},
        {"messages_out", &BrokerCounts::messages_out},
        {"memberships", &BrokerCounts::memberships},
        {"profile_bytes", &BrokerCounts::profile_bytes},
        {"refused_sessions", &BrokerCounts::refused_sessions},
        {"refused_channels", &BrokerCounts::refused_channels},
        {"refused_memberships", &BrokerCounts::refused_memberships},
        {"refused_profiles", &BrokerCounts::refused_profiles},
        {"forged_dropped", &BrokerCounts::forged_dropped},
        {"malformed_dropped", &BrokerCounts::malformed_dropped},
        {"messages_waited", &BrokerCounts::messages_waited},
        {"holds", &BrokerCounts::holds},
        {"dropped_stalled", &BrokerCounts::dropped_stalled},
        {"closed_stalled", &BrokerCounts::closed_stalled},
    }};

inline constexpr auto kMaxCode = static_cast<std::uint64_t>(absl::StatusCode::kUnauthenticated);

}  // namespace herald::zmq_wire::control_tables
