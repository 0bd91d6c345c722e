"""Local dev stack: real Apache Kafka (KRaft) and Redis as local processes, no Docker engine needed."""

from mtl.devstack.service import ServiceStatus
from mtl.devstack.stack import DevStack

__all__ = ["DevStack", "ServiceStatus"]
