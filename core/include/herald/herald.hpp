// herald/herald.hpp — everything herald offers, in one include.
//
// Start with herald::Realtime (realtime.hpp); see README.md and docs/.
#pragma once

#include "herald/hub.hpp"       // IWYU pragma: export
#include "herald/message.hpp"   // IWYU pragma: export
#include "herald/options.hpp"   // IWYU pragma: export
#include "herald/payload.hpp"   // IWYU pragma: export
#include "herald/realtime.hpp"  // IWYU pragma: export
