"""`mtl bench service`: a tiny run against the real `mtl serve` subprocess, Redis and a Feast repo copy."""

from __future__ import annotations

import pytest

from benchmarks.service import ServiceBenchConfig, _server_timings, run
from mtl.settings import load_settings


def test_server_timing_header_parses():
    assert _server_timings("candidates;dur=1.500, features;dur=2.000") == {"candidates": 1.5, "features": 2.0}
    assert _server_timings("") == {}


@pytest.mark.integration
@pytest.mark.slow
def test_tiny_service_bench_reports_every_figure_and_cleans_up(
    services, unique_name, redis_client, tmp_path, monkeypatch
):
    monkeypatch.setenv("REDIS_URL", services.redis_url)
    # an empty artifact dir: the server scores with CTR and never loads the user's trained model
    settings = load_settings(artifact_dir=tmp_path / "artifacts")
    config = ServiceBenchConfig(videos=300, topics=6, users=5, candidates=40, requests=20, warmup=3, k=5)
    lines: list[str] = []
    report = run(settings, config, name=unique_name, echo=lines.append)
    print("\n".join(lines))

    main, generate = report["results"]
    assert main["requests"] == 20 and main["baseline"] == "CandidateFetcher.fetch 40 ids"
    for key in ("p50_ms", "p99_ms", "baseline_p50_ms", "baseline_p99_ms", "ratio_p50", "ratio_p99"):
        assert main[key] > 0
    assert generate["p50_ms"] > 0 and isinstance(main["goal_met"], bool)
    details = report["details"]
    assert details["scorer"] == "ctr" and details["mean_candidates"] == 40
    assert set(details["server_stage_medians_ms"]) == {"candidates", "clicks", "features", "score"}
    assert not list(redis_client.scan_iter(match=f"{unique_name}:*"))
    assert any("goal p99 <= 30 ms" in line for line in lines)
