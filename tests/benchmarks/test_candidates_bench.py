"""`mtl bench candidates`: a tiny run against the real Redis reports every figure and leaves no key behind."""

from __future__ import annotations

import pytest

from benchmarks.candidates import CandidatesBenchConfig, _server_percentiles, run
from mtl.settings import load_settings


def test_server_percentiles_from_cumulative_histograms():
    before = {1: 5, 2: 10, 4: 10}
    after = {1: 5, 2: 10, 4: 12, 8: 60, 16: 110}  # 100 new calls: 2 at <= 4 us, 48 at <= 8, 50 at <= 16
    got = _server_percentiles(before, after)
    assert got == {"server_p50_us_at_most": 8.0, "server_p99_us_at_most": 16.0, "server_calls": 100}
    assert _server_percentiles(after, after) is None


@pytest.mark.integration
def test_tiny_candidates_bench_run_reports_every_figure_and_cleans_up(services, unique_name, redis_client):
    settings = load_settings(redis_url=services.redis_url, ranker={"candidates": 50})
    config = CandidatesBenchConfig(topics=30, queue_length=60, users=10, calls=40, warmup=5)
    lines: list[str] = []
    report = run(settings, config, name=unique_name, echo=lines.append)
    print("\n".join(lines))

    main, cold, ping = report["results"]
    assert 0 < main["ours_p50_ms"] <= main["ours_p99_ms"]
    assert 0 < main["naive_p50_ms"] <= main["naive_p99_ms"]
    assert main["ratio_p50"] > 0 and main["calls"] == 40
    assert 0 < cold["ours_p50_ms"] and 0 < ping["ours_p50_ms"]
    assert report["details"]["checked_equal_users"] == 11  # every user and a cold-start one
    assert report["details"]["mean_candidates"] > 0
    assert not list(redis_client.scan_iter(match=f"{unique_name}:*"))
