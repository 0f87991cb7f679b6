"""Recorded for traces/python-dicts.trace: build and sort large dicts of strings and
lists, round-trip them through json, then drop most of it (deterministic)."""
import json
import random

r = random.Random(2026)
d = {}
for i in range(20000):
    key = "k%06d-%s" % (i, "".join(r.choice("abcdefgh") for _ in range(r.randint(3, 12))))
    d[key] = [r.randint(0, 1000) for _ in range(r.randint(0, 8))]
text = json.dumps(d, sort_keys=True)
back = json.loads(text)
items = sorted(back.items(), key=lambda kv: (len(kv[1]), kv[0]))
words = " ".join(k.upper() for k, _ in items[:8000]).split()
words.sort(key=len)
del d, back
kept = items[::10]
del items
print(len(text), len(kept), len(words))
