import pytest

from mtl.errors import ConfigError
from mtl.settings import DEVSTACK_ENV_FILE, load_settings


def test_defaults_are_the_papers_hyperparameters(monkeypatch):
    for var in ("KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL", "MTL_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    s = load_settings()
    assert (s.learning.n_experts, s.learning.n_topics, s.learning.topic_threshold) == (12, 6000, "auto")
    assert (s.learning.topic_slots, s.learning.walk_length) == (8, 100)
    assert (s.learning.learning_rate, s.learning.batch_size) == (1e-3, 300)
    assert (s.stream.min_exposures, s.stream.min_ctr, s.stream.fresh_share) == (10, 0.07, 0.10)
    assert (s.ranker.history_clicks, s.ranker.top_topics, s.ranker.candidates) == (128, 4, 600)


def test_environment_overrides(monkeypatch, tmp_path):
    monkeypatch.setenv("MTL_LEARNING__N_TOPICS", "50")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "broker:9092")
    monkeypatch.setenv("MTL_REDIS_URL", "redis://cache:6379/2")
    monkeypatch.setenv("MTL_RUN_DIR", str(tmp_path))
    s = load_settings()
    assert s.learning.n_topics == 50
    assert s.kafka_bootstrap_servers == "broker:9092"
    assert s.redis_url == "redis://cache:6379/2"


def test_yaml_file_and_priority(monkeypatch, tmp_path):
    cfg = tmp_path / "mtl.yaml"
    cfg.write_text("learning:\n  n_topics: 300\n  walk_length: 20\nstream:\n  min_ctr: 0.1\n")
    monkeypatch.setenv("MTL_CONFIG", str(cfg))
    monkeypatch.setenv("MTL_LEARNING__WALK_LENGTH", "40")  # env beats YAML
    s = load_settings()
    assert (s.learning.n_topics, s.learning.walk_length, s.stream.min_ctr) == (300, 40, 0.1)


def test_unknown_yaml_field_is_one_line_error(monkeypatch, tmp_path):
    cfg = tmp_path / "mtl.yaml"
    cfg.write_text("learning:\n  n_topicz: 3\n")
    monkeypatch.setenv("MTL_CONFIG", str(cfg))
    with pytest.raises(ConfigError, match=r"learning\.n_topicz") as info:
        load_settings()
    assert "\n" not in str(info.value)


def test_invalid_value_is_one_line_error(monkeypatch):
    monkeypatch.setenv("MTL_STREAM__MIN_CTR", "2")
    with pytest.raises(ConfigError, match=r"stream\.min_ctr"):
        load_settings()


def test_devstack_address_file_is_read(monkeypatch, tmp_path):
    for var in ("KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL", "MTL_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / DEVSTACK_ENV_FILE).write_text(
        "KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:1\nREDIS_URL=redis://x:2/0\n"
    )
    monkeypatch.setenv("MTL_RUN_DIR", str(tmp_path))
    s = load_settings()
    assert (s.kafka_bootstrap_servers, s.redis_url) == ("127.0.0.1:1", "redis://x:2/0")
    monkeypatch.setenv("REDIS_URL", "redis://env:3/0")  # the environment wins over the file
    assert load_settings().redis_url == "redis://env:3/0"


def test_rocksdb_store_refuses_exactly_once():
    import pytest

    from mtl.errors import ConfigError
    from mtl.settings import load_settings

    with pytest.raises(ConfigError, match="rocksdb needs"):
        load_settings(stream={"store": "rocksdb", "processing_guarantee": "exactly_once"})


def test_tau3_and_tag_weight_take_auto_or_a_number(monkeypatch):
    monkeypatch.setenv("MTL_LEARNING__TOPIC_THRESHOLD", "0.6")  # the paper's fixed rule
    monkeypatch.setenv("MTL_LEARNING__TAG_WEIGHT", "1")
    s = load_settings()
    assert (s.learning.topic_threshold, s.learning.tag_weight) == (0.6, 1.0)
    monkeypatch.setenv("MTL_LEARNING__TOPIC_THRESHOLD", "1.5")
    with pytest.raises(ConfigError, match="learning.topic_threshold: must be a cosine from -1 to 1, or auto"):
        load_settings()
    monkeypatch.setenv("MTL_LEARNING__TOPIC_THRESHOLD", "auto")
    monkeypatch.setenv("MTL_LEARNING__TAG_WEIGHT", "-1")
    with pytest.raises(ConfigError, match="learning.tag_weight: must be >= 0, or auto"):
        load_settings()
