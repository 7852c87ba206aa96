import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class OperationKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OPERATION_KIND_UNSPECIFIED: _ClassVar[OperationKind]
    OPERATION_KIND_REDRIVE_DEAD_LETTERS: _ClassVar[OperationKind]
    OPERATION_KIND_RUN_MAINTENANCE: _ClassVar[OperationKind]
OPERATION_KIND_UNSPECIFIED: OperationKind
OPERATION_KIND_REDRIVE_DEAD_LETTERS: OperationKind
OPERATION_KIND_RUN_MAINTENANCE: OperationKind

class OperationRequested(_message.Message):
    __slots__ = ("id", "kind", "limit", "error_class", "requested_at", "deadline", "requested_by")
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    ERROR_CLASS_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_AT_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_BY_FIELD_NUMBER: _ClassVar[int]
    id: str
    kind: OperationKind
    limit: int
    error_class: str
    requested_at: _timestamp_pb2.Timestamp
    deadline: _timestamp_pb2.Timestamp
    requested_by: str
    def __init__(self, id: _Optional[str] = ..., kind: _Optional[_Union[OperationKind, str]] = ..., limit: _Optional[int] = ..., error_class: _Optional[str] = ..., requested_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., requested_by: _Optional[str] = ...) -> None: ...

class OperationCompleted(_message.Message):
    __slots__ = ("id", "kind", "ok", "error", "report_json", "completed_at", "worker")
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    REPORT_JSON_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_AT_FIELD_NUMBER: _ClassVar[int]
    WORKER_FIELD_NUMBER: _ClassVar[int]
    id: str
    kind: OperationKind
    ok: bool
    error: str
    report_json: str
    completed_at: _timestamp_pb2.Timestamp
    worker: str
    def __init__(self, id: _Optional[str] = ..., kind: _Optional[_Union[OperationKind, str]] = ..., ok: _Optional[bool] = ..., error: _Optional[str] = ..., report_json: _Optional[str] = ..., completed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., worker: _Optional[str] = ...) -> None: ...

class OperationEvent(_message.Message):
    __slots__ = ("requested", "completed")
    REQUESTED_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    requested: OperationRequested
    completed: OperationCompleted
    def __init__(self, requested: _Optional[_Union[OperationRequested, _Mapping]] = ..., completed: _Optional[_Union[OperationCompleted, _Mapping]] = ...) -> None: ...
