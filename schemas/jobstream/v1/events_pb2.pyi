import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ChangedPosting(_message.Message):
    __slots__ = ("id", "version", "deleted")
    ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    id: str
    version: int
    deleted: bool
    def __init__(self, id: _Optional[str] = ..., version: _Optional[int] = ..., deleted: _Optional[bool] = ...) -> None: ...

class Invalidation(_message.Message):
    __slots__ = ("postings", "committed_at", "source", "flush_all")
    POSTINGS_FIELD_NUMBER: _ClassVar[int]
    COMMITTED_AT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    FLUSH_ALL_FIELD_NUMBER: _ClassVar[int]
    postings: _containers.RepeatedCompositeFieldContainer[ChangedPosting]
    committed_at: _timestamp_pb2.Timestamp
    source: str
    flush_all: bool
    def __init__(self, postings: _Optional[_Iterable[_Union[ChangedPosting, _Mapping]]] = ..., committed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., source: _Optional[str] = ..., flush_all: _Optional[bool] = ...) -> None: ...

class DeadLetter(_message.Message):
    __slots__ = ("key", "value", "error_class", "error_message", "original_topic", "original_partition", "original_offset", "first_failed_at", "attempts")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    ERROR_CLASS_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_TOPIC_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_PARTITION_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_OFFSET_FIELD_NUMBER: _ClassVar[int]
    FIRST_FAILED_AT_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    value: bytes
    error_class: str
    error_message: str
    original_topic: str
    original_partition: int
    original_offset: int
    first_failed_at: _timestamp_pb2.Timestamp
    attempts: int
    def __init__(self, key: _Optional[bytes] = ..., value: _Optional[bytes] = ..., error_class: _Optional[str] = ..., error_message: _Optional[str] = ..., original_topic: _Optional[str] = ..., original_partition: _Optional[int] = ..., original_offset: _Optional[int] = ..., first_failed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., attempts: _Optional[int] = ...) -> None: ...
