"""`mtl demo` end to end on a tiny corpus against the real Kafka of the dev stack."""

import re
import uuid

import pytest

from mtl.demo import run_demo
from mtl.features.store import copy_repo, delete_project_keys
from mtl.settings import load_settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_demo_runs_to_its_summary_and_reuses_what_it_made(services, tmp_path, monkeypatch):
    project = f"t_{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", services.kafka_bootstrap_servers)
    monkeypatch.setenv("REDIS_URL", services.redis_url)
    settings = load_settings(
        artifact_dir=tmp_path,
        run_dir=tmp_path / "run",
        feast_repo_path=copy_repo(tmp_path / "repo", project),
        demo={"videos": 200, "users": 30, "days": 2, "seed": 1},
        learning={
            "n_topics": 10,
            "iterations": 5,
            "batch_size": 50,
            "walk_length": 20,
            "walks_per_node": 2,
            "image_size": 64,
        },
    )
    lines: list[str] = []
    run_demo(settings, echo=lines.append)
    text = "\n".join(lines)
    assert "== summary" in text
    trip = re.search(r"kafka round trip : (\d+) produced .*?, (\d+) consumed", text)
    assert trip and trip.group(1) == trip.group(2) and int(trip.group(1)) > 0
    assert re.search(r"topics\s+: 10 topics", text)
    assert re.search(r"online fetch of 200 candidates found topics for 200", text)

    lines.clear()
    run_demo(settings, echo=lines.append)
    assert any("reused topic model" in line for line in lines)
    assert any("reused" in line and "synthetic" in line for line in lines)
    delete_project_keys(services.redis_url, project)
