"""Unit checks without services: Redis URL conversion and topics-table validation."""

import pyarrow as pa
import pytest

from benchmarks.features import random_topics
from mtl.errors import ConfigError, DataError
from mtl.features.fetch import _decode_float_list, _decode_int64, _decode_int64_list, _proto_value
from mtl.features.register import validate_topics_table
from mtl.features.store import redis_connection_string


def test_redis_url_to_feast_connection_string():
    assert redis_connection_string("redis://127.0.0.1:16379/0") == "127.0.0.1:16379,db=0"
    assert redis_connection_string("redis://:s3cret@h:1/2") == "h:1,db=2,password=s3cret"
    assert redis_connection_string("rediss://u:p@h/") == "h:6379,db=0,username=u,password=p,ssl=true"
    with pytest.raises(ConfigError):
        redis_connection_string("http://h:1")


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda t: t.drop(["model_version"]), "missing column(s) model_version"),
        (
            lambda t: t.set_column(1, "topic_ids", pa.array([[1, 2]] * t.num_rows, pa.list_(pa.int64()))),
            "8 slots",
        ),
        (
            lambda t: t.set_column(4, "model_version", pa.array(["a", "b"] * (t.num_rows // 2))),
            "one model_version",
        ),
        (lambda t: t.set_column(0, "video_id", pa.array([1] * t.num_rows, pa.int64())), "duplicate video_id"),
        (lambda t: t.set_column(3, "n_topics", pa.array([9] * t.num_rows, pa.int64())), "n_topics"),
        (
            lambda t: t.set_column(5, "event_timestamp", t["event_timestamp"].cast(pa.timestamp("us"))),
            "timezone",
        ),
        (lambda t: t.set_column(4, "model_version", pa.array(["a/b"] * t.num_rows)), "file name"),
    ],
)
def test_bad_tables_are_one_line_errors(mutate, message):
    table = random_topics(10)
    validate_topics_table(table, slots=8)
    with pytest.raises(DataError) as info:
        validate_topics_table(mutate(table), slots=8)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_column_decoders_match_protobuf():
    from feast.protos.feast.types.Value_pb2 import FloatList, Int64List, Value

    rows = [[1, -1, 2**40, 0, -5, 7, 8, 9], [-1] * 8, [0] * 8]
    blobs = [Value(int64_list_val=Int64List(val=r)).SerializeToString() for r in rows]
    assert _decode_int64_list(blobs, 8).tolist() == rows
    floats = [[0.5] * 8, [0.0] * 8]
    fblobs = [Value(float_list_val=FloatList(val=r)).SerializeToString() for r in floats]
    assert _decode_float_list(fblobs, 8).tolist() == floats
    ints = [0, 1, -1, 2**62, 127, 128]
    iblobs = [Value(int64_val=v).SerializeToString() for v in ints]
    assert _decode_int64(iblobs).tolist() == ints == [_proto_value(b) for b in iblobs]
    assert _decode_int64_list([Value(int64_list_val=Int64List(val=[1])).SerializeToString()], 8) is None
