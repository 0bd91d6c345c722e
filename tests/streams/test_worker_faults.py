"""Faults against a private dev stack (its own broker and a password-protected Redis).

One worker consumes a known log while it is SIGKILLed three times, the broker restarts, and Redis is
flushed; every time, the final per-video counts, topic queues and user click lists must equal the batch
recomputation of the same log: no event lost, none counted twice. Finally, with the worker stopped and
Redis flushed again, `mtl stream rebuild-queues` restores the same state from the table changelogs.
"""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time

import pytest

from mtl.devstack import DevStack
from mtl.devstack.process import free_port
from mtl.settings import load_settings
from topic_learning.data import SyntheticConfig

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _paced(case, records, rate: float) -> threading.Thread:
    def run():
        step = 500
        t0 = time.monotonic()
        for i in range(0, len(records), step):
            case.produce(records[i : i + step])
            ahead = t0 + (i + step) / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_kills_broker_restart_and_redis_wipe_converge(tmp_path, workers, stream_case_factory):
    import redis

    settings = load_settings(
        run_dir=tmp_path / "run",
        devstack={
            "kafka_port": free_port(),
            "kafka_controller_port": free_port(),
            "redis_port": free_port(),
            "redis_password": "fault-pw",
        },
    )
    stack = DevStack(settings, environ={})
    try:
        addresses = stack.up()
        kafka_svc = stack.services[0]
        kafka, redis_url = addresses["KAFKA_BOOTSTRAP_SERVERS"], addresses["REDIS_URL"]
        client = redis.Redis.from_url(redis_url)
        case = stream_case_factory(
            SyntheticConfig(n_videos=300, n_users=200, n_days=1, n_exposures=24000, covers=False, seed=9),
            kafka=kafka,
            redis_url=redis_url,
        )
        env = case.env()
        rng = random.Random(7)
        n = len(case.records)
        part_a, part_b, part_c = (
            case.records[: n // 2],
            case.records[n // 2 : 3 * n // 4],
            case.records[3 * n // 4 :],
        )

        def converged() -> bool:
            return (
                case.changelog_counts() == case.counts
                and not case.mismatched_topics(client)
                and not case.mismatched_users(client)
            )

        def detail():
            got = case.changelog_counts()
            seen, total = (sum(e for e, _ in c.values()) for c in (got, case.counts))
            topics, users = case.mismatched_topics(client), len(case.mismatched_users(client))
            return f"{seen} of {total} exposures; topics off: {topics}; users off: {users}"

        # 1. SIGKILL at random points, three times, while the log streams in
        proc = workers.start(env)
        # slow enough that the log is still streaming in at the third kill (a restart takes ~10 s)
        producer = _paced(case, part_a, rate=len(part_a) / 45)
        for _ in range(3):
            batches = case.stat(client, "batches")
            case.wait(
                lambda b=batches: case.stat(client, "batches") > b + 2, 60, "the worker at work", [proc]
            )
            time.sleep(rng.uniform(0.2, 2.0))
            workers.kill(proc)  # the worker and its supervisor: nothing is left to restart it
            proc = workers.start(env)
        producer.join()
        part1 = case.counts_upto(len(part_a))
        case.wait(
            lambda: case.changelog_counts() == part1,
            90,
            "the counts of part 1",
            [proc],
            lambda: f"{sum(e for e, _ in case.changelog_counts().values())} exposures counted",
        )
        print(f"after 3 kills: {case.stat(client, 'duplicate')} redelivered events dropped")
        # 2. the broker restarts mid-stream (Faust may give up meanwhile: the supervisor restarts it)
        producer = _paced(case, part_b, rate=2500)
        time.sleep(1.5)
        kafka_svc.stop()
        time.sleep(2)
        kafka_svc.start()
        kafka_svc.wait_ready()
        producer.join()
        # 3. Redis is flushed mid-stream: the worker rewrites what its liveness marks say is gone
        producer = _paced(case, part_c, rate=2500)
        time.sleep(1.5)
        client.flushall()
        producer.join()
        case.wait(
            converged, 120, "counts, queues and user lists equal to the batch reference", [proc], detail
        )

        # 4. worker down, Redis flushed: rebuild from the changelogs alone
        workers.stop(proc)
        client.flushall()
        out = subprocess.run(
            [sys.executable, "-m", "mtl", "stream", "rebuild-queues"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr[-2000:]
        assert "rebuilt" in out.stdout
        assert not case.mismatched_topics(client) and not case.mismatched_users(client)
        client.close()
    finally:
        stack.down()
