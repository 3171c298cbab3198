"""Load and measurement for scripts/chaos: the HTTP client behind the load
balancer, the outside Kafka producer, and the lag monitor.

Accounting rules (docs/OPERATIONS.md, "Chaos run"):
- an event is *acknowledged* when the gateway answered 202 for it (or listed
  it under `events` in a partial 503), or when the broker acknowledged it to
  the outside producer;
- an event is *re-sent* when a client sent it more than once because an
  earlier attempt failed in a way that may still have published it. Only a
  re-sent event may appear twice in the archive, at two different offsets;
  any other duplicate is a failure.
"""
import json
import threading
import time
from bisect import bisect_left

import requests
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition


class Ledger:
    """What the clients know: acknowledged and re-sent event ids."""

    def __init__(self):
        self.lock = threading.Lock()
        self.acked = set()
        self.resent = set()
        self.http_attempts = 0
        self.http_failures = {}
        self.http_503 = []  # monotonic times of 503 answers

    def ack(self, ids):
        with self.lock:
            self.acked.update(ids)

    def failed(self, ids, why):
        with self.lock:
            self.resent.update(ids)
            self.http_failures[why] = self.http_failures.get(why, 0) + 1


class Pacer:
    """Spreads `total` items over at least `seconds`; never sleeps when behind."""

    def __init__(self, total, seconds):
        self.rate = total / seconds if seconds > 0 else None
        self.t0 = time.monotonic()
        self.sent = 0
        self.lock = threading.Lock()

    def wait(self, n):
        if self.rate is None:
            return
        with self.lock:
            due = self.t0 + self.sent / self.rate
            self.sent += n
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def http_sender(url, token, batches, ledger, pacer, deadline, lock):
    """Posts NDJSON batches until each is acknowledged; retries with backoff."""
    session = requests.Session()
    headers = {"Content-Type": "application/x-ndjson", "Authorization": f"Bearer {token}"}
    while True:
        with lock:
            if not batches:
                return
            batch = batches.pop()
        pacer.wait(len(batch))
        pending = batch  # list of (event_id, line)
        backoff = 0.1
        while pending:
            if time.monotonic() > deadline:
                raise TimeoutError("the HTTP load did not finish before the deadline")
            ids = [i for i, _ in pending]
            with ledger.lock:
                ledger.http_attempts += 1
            try:
                r = session.post(url, data=b"\n".join(line for _, line in pending), headers=headers, timeout=40)
            except requests.RequestException as e:
                ledger.failed(ids, type(e).__name__)
                session = requests.Session()
            else:
                if r.status_code == 202:
                    ledger.ack(ids)
                    pending = []
                    continue
                failed = None
                if r.status_code == 503:
                    with ledger.lock:
                        ledger.http_503.append(time.monotonic())
                    try:
                        body = r.json()
                        failed = {str(f["event_id"]) for f in body.get("failed", [])} or None
                    except (ValueError, KeyError, TypeError):
                        pass
                if failed:  # partial: the rest were acknowledged
                    ledger.ack([i for i in ids if i not in failed])
                    pending = [(i, line) for i, line in pending if i in failed]
                    ids = [i for i, _ in pending]
                ledger.failed(ids, f"HTTP {r.status_code}")
            time.sleep(backoff)
            backoff = min(backoff * 2, 2.0)


class OutsideProducer:
    """A plain confluent-kafka producer writing straight to the events topic,
    idempotent and acks=all; failed deliveries are re-produced."""

    def __init__(self, kafka, topic):
        self.kafka, self.topic = kafka, topic
        self.retry = []
        self.outstanding = 0
        self.fatal = 0
        self.producer = self._make()

    def _make(self):
        return Producer({"bootstrap.servers": self.kafka, "enable.idempotence": True, "acks": "all",
                         "message.timeout.ms": 120000, "linger.ms": 20, "log_level": 0})

    def run(self, items, ledger, pacer, deadline):
        """items: list of (event_id, tenant, line)."""
        def report(err, msg, item):
            self.outstanding -= 1
            if err is None:
                ledger.ack([item[0]])
            else:
                if err.fatal():
                    self.fatal += 1
                ledger.failed([item[0]], f"kafka {err.name()}")
                self.retry.append(item)

        def produce(item):
            while True:
                try:
                    self.producer.produce(self.topic, value=item[2], key=item[1],
                                          on_delivery=lambda e, m, it=item: report(e, m, it))
                    self.outstanding += 1
                    return
                except BufferError:
                    self.producer.poll(0.1)
                except KafkaException:
                    self._recreate()

        step = 500
        for start in range(0, len(items), step):
            chunk = items[start:start + step]
            pacer.wait(len(chunk))
            for item in chunk:
                produce(item)
            self.producer.poll(0)
            self._drain_retries(produce)
        while self.outstanding or self.retry:
            if time.monotonic() > deadline:
                raise TimeoutError("the outside producer did not finish before the deadline")
            self.producer.poll(0.2)
            self._drain_retries(produce)
        self.producer.flush(30)

    def _drain_retries(self, produce):
        if self.fatal:
            self._recreate()
        while self.retry:
            produce(self.retry.pop())

    def _recreate(self):
        """After a fatal (idempotence) error the producer is unusable: purge and
        replace it; every purged message comes back through the retry list."""
        old, self.producer, self.fatal = self.producer, self._make(), 0
        old.purge()
        old.poll(1)


class Monitor:
    """Samples, once a second, how far the sealers and archivers are behind the
    events topic, from the groups' committed offsets (as a lag exporter would)
    and an index of the seals topic (which events offset each seal reaches)."""

    def __init__(self, kafka, topic, sealer_group, archiver_group, min_isr=1):
        self.kafka, self.topic, self.seals_topic = kafka, topic, topic + ".seals"
        self.groups = (sealer_group, archiver_group)
        self.min_isr = min_isr
        self.samples = []  # (t, end, sealed_committed, archived_committed)
        self.isr = []  # (t, smallest ISR of any partition of the events and seals topics)
        self.reach = {}  # seals partition -> ([seals offset], [events next offset, running max])
        self.stop = threading.Event()
        self.errors = 0

    def _consumer(self, group):
        return Consumer({"bootstrap.servers": self.kafka, "group.id": group, "enable.auto.commit": False,
                         "log_level": 0, "socket.timeout.ms": 5000})

    def run(self, t0):
        probe, sealer_c, archiver_c = (self._consumer(g) for g in ("chaos-monitor",) + self.groups)
        seals = self._consumer("chaos-seal-index")
        parts = None
        try:
            while not self.stop.is_set():
                try:
                    if parts is None:
                        md = probe.list_topics(self.topic, timeout=5).topics[self.topic].partitions
                        parts = sorted(md)
                        seals.assign([TopicPartition(self.seals_topic, p, 0) for p in parts])
                    self._index(seals)
                    md = probe.list_topics(timeout=2).topics
                    self.isr.append((time.monotonic() - t0, min(
                        len(p.isrs) for n in (self.topic, self.seals_topic) for p in md[n].partitions.values())))
                    end = {p: probe.get_watermark_offsets(TopicPartition(self.topic, p), timeout=5)[1] for p in parts}
                    sealed = {tp.partition: max(tp.offset, 0) for tp in
                              sealer_c.committed([TopicPartition(self.topic, p) for p in parts], timeout=5)}
                    archived = {tp.partition: self._covered(tp.partition, tp.offset) for tp in
                                archiver_c.committed([TopicPartition(self.seals_topic, p) for p in parts], timeout=5)}
                    self.samples.append((time.monotonic() - t0, end, sealed, archived))
                except (KafkaException, KeyError, RuntimeError):
                    self.errors += 1  # the broker restart; the next sample catches up
                self.stop.wait(1.0)
        finally:
            for c in (probe, sealer_c, archiver_c, seals):
                c.close()

    def _index(self, seals):
        while True:
            msgs = seals.consume(num_messages=5000, timeout=0.2)
            if not msgs:
                return
            for m in msgs:
                if m.error():
                    continue
                s = json.loads(m.value())
                nxt = s["first_offset"] if s["kind"] == "heartbeat" else s["last_offset"] + 1
                offs, reach = self.reach.setdefault(m.partition(), ([], []))
                offs.append(m.offset())
                reach.append(max(nxt, reach[-1] if reach else 0))

    def _covered(self, partition, committed):
        """Events offset reached by the seals before `committed` (the archiver
        commits the seals offset after the one it archived)."""
        offs, reach = self.reach.get(partition, ([], []))
        i = bisect_left(offs, committed)
        return reach[i - 1] if i > 0 else 0

    def lag(self, sample):
        _, end, sealed, archived = sample
        return (sum(end[p] - sealed.get(p, 0) for p in end), sum(end[p] - archived.get(p, 0) for p in end))

    def recovery(self, since, target):
        """Seconds from `since` until sealers and archivers both reached the
        end offsets `target` seen at that moment; None if never."""
        out = []
        for idx in (2, 3):
            t = next((s[0] for s in self.samples if s[0] >= since and all(s[idx].get(p, 0) >= o for p, o in target.items())), None)
            out.append(None if t is None else round(t - since, 1))
        return out

    def busiest(self):
        """The events partition with the most records so far."""
        end = self.samples[-1][1] if self.samples else {0: 0}
        return max(end, key=lambda p: end[p])

    def quorum_lost(self):
        """[start, end] seconds of each stretch in which some partition had fewer in-sync replicas
        than min.insync.replicas."""
        out, start = [], None
        for t, smallest in self.isr:
            if smallest < self.min_isr and start is None:
                start = t
            elif smallest >= self.min_isr and start is not None:
                out.append((start, t))
                start = None
        if start is not None:
            out.append((start, self.isr[-1][0]))
        return out

    def unobserved(self):
        """[start, end] seconds of each stretch over 3 s without a sample: the monitor could not
        see the cluster (its probe's broker was down), so the quorum is unknown there."""
        times = [t for t, _ in self.isr]
        return [(a, b) for a, b in zip(times, times[1:]) if b - a > 3.0]

    def drained(self):
        if not self.samples:
            return False
        return self.lag(self.samples[-1]) == (0, 0)
