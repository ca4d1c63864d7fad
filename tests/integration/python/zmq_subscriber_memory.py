# What a ZmqBroker holds for a subscriber that reads nothing, and whether it
# gives it back when the subscriber leaves (issue 9, item 6). A measurement,
# not a test (it asserts nothing; RSS depends on the machine):
#
#   N=120000 /usr/bin/python3 tests/integration/python/zmq_subscriber_memory.py \
#       build/default/apps/herald [--subscriber-high-water-mark 100000]
#
# It starts `herald broker`, connects a SUB that never reads, publishes N
# messages of 4 KiB to it, and prints the broker's resident set before, at the
# peak, and after the SUB left. TRIM=1 also calls malloc_trim(0) in the broker
# through gdb (to tell memory libzmq holds from memory glibc's malloc keeps).
import zmq, subprocess, time, sys, os, msgpack
herald = sys.argv[1]
p = subprocess.Popen([herald, "broker", "--zmq", "tcp://127.0.0.1:0"] + sys.argv[2:], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
url = p.stdout.readline().split()[1]
port = int(url.rsplit(":", 1)[1].split("?")[0])
def rss():
    for l in open(f"/proc/{p.pid}/status"):
        if l.startswith("VmRSS"): return int(l.split()[1]) // 1024
ctx = zmq.Context()
sub = ctx.socket(zmq.SUB); sub.setsockopt(zmq.RCVHWM, 1); sub.setsockopt(zmq.RCVBUF, 4096)
sub.connect(f"tcp://127.0.0.1:{port+2}")
topic = b"croom\xff"; sub.setsockopt(zmq.SUBSCRIBE, topic)
pub = ctx.socket(zmq.PUB); pub.setsockopt(zmq.SNDHWM, 0); pub.connect(f"tcp://127.0.0.1:{port+1}")
time.sleep(0.5)
print("start MB", rss())
body = msgpack.packb([2, 0, "room", "chat", "py", True, 0]) + msgpack.packb(b"x" * 4000)
n = int(os.environ.get("N", "120000"))
for i in range(n):
    pub.send(topic + body)
time.sleep(3)
print("after", n, "x 4 KiB to a non-reading SUB, MB", rss())
sub.close(linger=0)
time.sleep(2)
print("after the SUB left, MB", rss())
if os.environ.get("TRIM"):
    subprocess.run(["gdb", "-p", str(p.pid), "-batch", "-ex", "call (int)malloc_trim(0)"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    print("after malloc_trim(0), MB", rss())
p.terminate(); p.wait()
