"""Recorded for traces/python-threads.trace: producer threads build records that a
consumer thread checks and drops, so most frees happen on another thread."""
import queue
import random
import threading

q = queue.Queue(maxsize=500)
N = 4000


def producer(seed):
    r = random.Random(seed)
    for i in range(N):
        q.put({"id": i, "tags": [str(r.random()) for _ in range(r.randint(1, 6))],
               "blob": "x" * r.randint(10, 600)})
    q.put(None)


def consumer(nproducers, out):
    done = total = 0
    while done < nproducers:
        item = q.get()
        if item is None:
            done += 1
            continue
        total += len(item["blob"]) + len(item["tags"])
    out.append(total)


out = []
threads = [threading.Thread(target=producer, args=(s,)) for s in range(2)]
threads.append(threading.Thread(target=consumer, args=(2, out)))
for t in threads:
    t.start()
for t in threads:
    t.join()
print(out[0])
