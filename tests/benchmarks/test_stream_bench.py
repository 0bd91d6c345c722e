"""`mtl bench stream`: a tiny run against the real worker, Kafka and Redis, and the probe attribution rule."""

from __future__ import annotations

import time

import pytest

from benchmarks.stream import StreamBenchConfig, configure, run, shows_event
from mtl.settings import get_settings
from streams.queues import fit_prior, smoothed_ctr


def test_probe_event_told_apart_from_prior_refit():
    strength = 20.0
    before, exposed, clicked = (20, 10), (21, 10), (20, 11)
    prior = fit_prior(100_000, 7_000, strength)
    score = smoothed_ctr(*before, prior)
    alpha = score * (before[0] + strength) - before[1]
    # the worker re-fits the prior to a global CTR that drifted a little: not the probe's event
    drifted = fit_prior(100_000, 7_050, strength)
    assert not shows_event(smoothed_ctr(*before, drifted), before, exposed, alpha, strength)
    assert not shows_event(score, before, exposed, alpha, strength)
    # the probe's exposure or click, under either prior, is recognised
    for after in (exposed, clicked):
        for p in (prior, drifted):
            assert shows_event(smoothed_ctr(*after, p), before, after, alpha, strength)


def test_quick_config_takes_overrides():
    cfg = configure(quick=True, events=12_345, rate=None)
    assert cfg.events == 12_345
    assert cfg.rate == StreamBenchConfig.quick().rate
    assert configure().events == StreamBenchConfig().events


@pytest.mark.integration
@pytest.mark.slow
def test_tiny_stream_bench_run_reports_every_figure_and_cleans_up(
    services, unique_name, redis_client, kafka_admin, monkeypatch
):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", services.kafka_bootstrap_servers)
    monkeypatch.setenv("REDIS_URL", services.redis_url)
    monkeypatch.setenv("MTL_STREAM__DEDUP_WINDOW", "3000")  # a small state for the prefill to fill
    cfg = StreamBenchConfig(
        events=20_000,
        repeats=1,
        rate=1000.0,
        freshness_seconds=5.0,
        memory_minutes=0.15,
        partitions=2,
        videos=500,
        warmup_seconds=2.0,
        sample_every_s=1.0,
    )
    lines: list[str] = []
    report = run(get_settings(), cfg, name=unique_name, echo=lines.append)
    print("\n".join(lines))

    by_stage = {r["stage"]: r for r in report["results"]}
    assert set(by_stage) == {"worker throughput", "freshness p50", "freshness p99", "worker RSS at end"}
    assert by_stage["worker throughput"]["figure"] > 0
    assert by_stage["worker throughput"]["baseline_figure"] > 0
    assert 0 < by_stage["freshness p50"]["figure"] <= by_stage["freshness p99"]["figure"]
    assert by_stage["worker RSS at end"]["figure"] > 0
    details = report["details"]
    assert details["throughput"]["events"] == cfg.events
    assert details["load"]["counted_all"]
    # the prefill filled every partition's window (and a chunk) and 128 clicks per user before the load
    assert details["prefill"]["events"] >= 2 * (3000 + 1024)
    assert details["prefill"]["clicks"] == 128 * details["prefill"]["users"]
    assert details["memory"]["state_full"]
    assert details["throughput"]["raw_parse_events_per_s"][0] > 0
    assert details["freshness"]["probes"] > 0
    assert set(details["freshness"]["p50_s_by_partition"]) == {0, 1}  # probes in every partition

    # nothing of the run is left: topics (the worker's changelogs too), consumer groups and Redis keys
    deadline = time.monotonic() + 15
    while (left := [t for t in kafka_admin.list_topics() if t.startswith(unique_name)]) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.5)  # topic deletion completes asynchronously on the broker
    assert not left
    assert not [g for g in kafka_admin.list_groups() if g["group_id"].startswith(unique_name)]
    assert not list(redis_client.scan_iter(match=f"{unique_name}:*"))
