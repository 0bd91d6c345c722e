import uuid

from mtl.devstack import kafka


def test_cluster_id_never_starts_with_a_dash(monkeypatch):
    # 0xF8 encodes to "-" in URL-safe base64: kafka-storage would read "-t -..." as a missing value.
    draws = iter([uuid.UUID(bytes=b"\xf8" + b"\x00" * 15), uuid.UUID(bytes=b"\x01" * 16)])
    monkeypatch.setattr(kafka.uuid, "uuid4", lambda: next(draws))
    cluster_id = kafka.new_cluster_id()
    assert cluster_id == "AQEBAQEBAQEBAQEBAQEBAQ"
    assert len(cluster_id) == 22


def test_cluster_ids_are_random():
    assert len({kafka.new_cluster_id() for _ in range(200)}) == 200
