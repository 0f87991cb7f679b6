"""A python3 workload for the real-program test: dicts, strings, sorting, json round
trips, a thread pool and subprocesses. Prints only deterministic results."""
import hashlib
import json
import random
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

r = random.Random(42)
d = {f"key-{i}-{r.random():.6f}": [r.randint(0, 10**6) for _ in range(r.randint(0, 12))]
     for i in range(150000)}
items = sorted(d.items(), key=lambda kv: (sum(kv[1]), kv[0]))
print("dict", len(d), items[0][0], items[-1][0])

text = json.dumps(d, sort_keys=True)
back = json.loads(text)
print("json", len(text), back == d, hashlib.sha256(text.encode()).hexdigest())

words = " ".join(k.upper()[::-1] for k in list(d)[:50000]).split()
print("strings", len(words), hashlib.md5("".join(sorted(words)).encode()).hexdigest())


def work(seed):
    rr = random.Random(seed)
    acc = []
    for _ in range(20000):
        acc.append(bytes(rr.randint(1, 3000)))
        if len(acc) > 500:
            del acc[: rr.randint(1, 400)]
    return seed, sum(len(a) for a in acc)


with ThreadPoolExecutor(max_workers=4) as ex:
    results = sorted(ex.map(work, range(16)))
print("threads", results)

lock = threading.Lock()
shared = []


def producer(n):
    for i in range(n):
        with lock:
            shared.append("x" * (i % 500))


ts = [threading.Thread(target=producer, args=(5000,)) for _ in range(4)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print("shared", len(shared), sum(map(len, shared)))

out = subprocess.run([sys.executable, "-c", "print(sum(range(10**6)))"],
                     capture_output=True, text=True, check=True).stdout.strip()
srt = subprocess.run(["sort"], input="\n".join(words[:2000]), capture_output=True,
                     text=True, check=True).stdout
print("subprocess", out, hashlib.md5(srt.encode()).hexdigest())
