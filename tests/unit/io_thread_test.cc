// IoThread: the life cycle of a network transport's I/O thread, with a body
// that waits on a condition variable (as a real one waits in poll()).
#include "herald/network/io_thread.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "test_support.hpp"

namespace herald::network {
namespace {

using herald::testing::eventually;

// A body that runs until stopped, counting its starts and restarts, and can
// call a hook on its own thread (as a listener would).
class Loop {
 public:
  Loop() : io_([this] { body(); }, [this] { wake(); }) {}
  ~Loop() { io_.stop(/*detach_if_self=*/true); }

  IoThread& io() { return io_; }
  int starts() const { return starts_.load(); }
  int restarts() const { return restarts_.load(); }
  bool running() const { return running_.load(); }
  // Runs `fn` once on the I/O thread.
  void on_thread(std::function<void()> fn) {
    {
      std::lock_guard lock(mu_);
      hook_ = std::move(fn);
    }
    cv_.notify_all();
  }
  std::shared_ptr<void> owner = std::make_shared<int>(0);

 private:
  void body() {
    starts_.fetch_add(1);
    running_ = true;
    while (io_.keep_running()) {
      if (io_.take_restart()) restarts_.fetch_add(1);
      std::function<void()> hook;
      {
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, std::chrono::milliseconds(50), [&] { return woken_ || hook_; });
        woken_ = false;
        hook.swap(hook_);
      }
      if (hook) hook();
    }
    running_ = false;
  }
  void wake() {
    {
      std::lock_guard lock(mu_);
      woken_ = true;
    }
    cv_.notify_all();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  bool woken_ = false;
  std::function<void()> hook_;
  std::atomic<int> starts_{0};
  std::atomic<int> restarts_{0};
  std::atomic<bool> running_{false};
  IoThread io_;
};

TEST(IoThread, StartRunsOneThreadAndStopJoinsIt) {
  Loop loop;
  loop.io().start(loop.owner);
  loop.io().start(loop.owner);  // running: left as it is
  ASSERT_TRUE(eventually([&] { return loop.running(); }));
  EXPECT_FALSE(loop.io().on_io_thread());
  loop.io().stop(false);
  EXPECT_FALSE(loop.running());  // joined: the body has ended
  EXPECT_EQ(loop.starts(), 1);
  loop.io().start(loop.owner);
  ASSERT_TRUE(eventually([&] { return loop.running(); }));
  EXPECT_EQ(loop.starts(), 2);
  loop.io().stop(false);
}

TEST(IoThread, AStopFromItsOwnThreadNeverWaitsAndTheThreadEnds) {
  Loop loop;
  loop.io().start(loop.owner);
  ASSERT_TRUE(eventually([&] { return loop.running(); }));
  std::atomic<bool> returned{false};
  loop.on_thread([&] {
    EXPECT_TRUE(loop.io().on_io_thread());
    loop.io().stop(false);
    returned = true;
  });
  ASSERT_TRUE(eventually([&] { return returned.load() && !loop.running(); }));
  loop.io().start(loop.owner);  // joins the ended thread, starts a new one
  ASSERT_TRUE(eventually([&] { return loop.running(); }));
  EXPECT_EQ(loop.starts(), 2);
  loop.io().stop(false);
}

TEST(IoThread, CloseAndReopenFromItsOwnThreadRestartsTheBody) {
  Loop loop;
  loop.io().start(loop.owner);
  ASSERT_TRUE(eventually([&] { return loop.running(); }));
  loop.on_thread([&] {
    loop.io().stop(false);
    loop.io().start(loop.owner);
  });
  ASSERT_TRUE(eventually([&] { return loop.restarts() == 1; }));
  EXPECT_TRUE(loop.running());
  EXPECT_EQ(loop.starts(), 1);  // the same thread started over
  loop.io().stop(false);
  EXPECT_FALSE(loop.running());
}

TEST(IoThread, EndFromIoThreadEndsTheBodyAndALaterStartRunsAgain) {
  Loop loop;
  loop.io().start(loop.owner);
  ASSERT_TRUE(eventually([&] { return loop.running(); }));
  loop.on_thread([&] { loop.io().end_from_io_thread(); });
  ASSERT_TRUE(eventually([&] { return !loop.running(); }));
  EXPECT_TRUE(loop.io().stop_requested());
  loop.io().start(loop.owner);
  ASSERT_TRUE(eventually([&] { return loop.running(); }));
  loop.io().stop(false);
}

TEST(IoThread, RacingStartsAndStopsOnManyThreadsAlwaysReturnAndTheLastWins) {
  Loop loop;
  for (int round = 0; round < 20; ++round) {
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 10; ++i) {
          if ((i + t) % 2 == 0) {
            loop.io().start(loop.owner);
          } else {
            loop.io().stop(false);
          }
        }
      });
    }
    for (auto& th : threads) th.join();
    loop.io().stop(false);  // came last: nothing runs after it
    ASSERT_FALSE(loop.running()) << "round " << round;
  }
}

TEST(IoThread, ATransportDestroyedFromItsOwnThreadLeavesTheThreadToEndAlone) {
  auto loop = std::make_shared<Loop>();
  std::weak_ptr<Loop> weak = loop;
  loop->io().start(loop);  // the thread holds its owner
  ASSERT_TRUE(eventually([&] { return loop->running(); }));
  std::atomic<bool> done{false};
  loop->on_thread([&, raw = loop.get()] {
    raw->io().stop(/*detach_if_self=*/true);
    done = true;
  });
  loop.reset();
  ASSERT_TRUE(eventually([&] { return done.load() && weak.expired(); }));
}

}  // namespace
}  // namespace herald::network
