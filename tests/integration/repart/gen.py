#!/usr/bin/env python3
# Events for the repartitioned-path tests: logins, reports and payments of
# 120 users over 25 IPs and 30 devices, timestamps in seconds with ties.
import json, random, sys
n = int(sys.argv[1]) if len(sys.argv) > 1 else 6000
rnd = random.Random(9)
t0 = 1795046400  # 2026-11-20T00:00:00Z
t = 0
for i in range(n):
    t += rnd.choice([0, 0, 1, 1, 2, 3])      # ties in event time
    u = "u%d" % rnd.randrange(120)
    ts = t0 + t
    stamp = "2026-11-20T%02d:%02d:%02dZ" % (ts // 3600 % 24, ts // 60 % 60, ts % 60)
    r = rnd.random()
    if r < 0.6:
        ev = {"type": "login", "id": "e%d" % i, "ts": stamp, "user": {"id": u},
              "login": {"ip": "10.0.0.%d" % rnd.randrange(25), "success": rnd.random() < 0.7},
              "device": {"id": "d%d" % rnd.randrange(30)}}
    elif r < 0.8:
        ev = {"type": "report", "id": "e%d" % i, "ts": stamp, "user": {"id": u},
              "report": {"target_user": "u%d" % rnd.randrange(40)}}
    else:
        ev = {"type": "payment", "id": "e%d" % i, "ts": stamp, "user": {"id": u},
              "payment": {"amount": rnd.randrange(1, 500)}}
    print(json.dumps(ev, separators=(",", ":")))
