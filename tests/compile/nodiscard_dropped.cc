// Compiled by tests/compile/check_nodiscard.cmake: every line marked DROPPED
// ignores a Status or StatusOr that herald returns, and the compiler must warn
// about each one (herald's public functions are [[nodiscard]]).
#include "herald/herald.hpp"

void dropped(herald::Realtime& rt) {
#ifdef HERALD_DROP
  rt.join("room");                                   // DROPPED
  rt.leave("room");                                  // DROPPED
  rt.send("room", "chat", 1);                        // DROPPED
  rt.broadcast("news", 1);                           // DROPPED
  rt.update_profile(std::string("Luke"));            // DROPPED
  rt.get_members("room");                            // DROPPED
  rt.open();                                         // DROPPED
  herald::Hub::create("x");                          // DROPPED
  herald::Message::from_msgpack({});                 // DROPPED
  herald::verify_session_token("s", "t");            // DROPPED
  herald::WsGateway::start(herald::Hub::named(""));  // DROPPED
  herald::ZmqBroker broker;
  broker.start();  // DROPPED
#else
  // The same calls, their results used: no warning.
  (void)rt.join("room");
  if (!rt.send("room", "chat", 1).ok()) return;
  auto members = rt.get_members("room");
  (void)members;
#endif
}
