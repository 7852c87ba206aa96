from schemas.jobstream.v1 import posting_pb2 as _posting_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RejectReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REJECT_REASON_UNSPECIFIED: _ClassVar[RejectReason]
    INVALID_ID: _ClassVar[RejectReason]
    INVALID_VERSION: _ClassVar[RejectReason]
    MISSING_FIELD: _ClassVar[RejectReason]
    INVALID_FIELD: _ClassVar[RejectReason]
    TOO_LONG: _ClassVar[RejectReason]
    INVALID_EMBEDDING: _ClassVar[RejectReason]
    DUPLICATE_IN_BATCH: _ClassVar[RejectReason]
REJECT_REASON_UNSPECIFIED: RejectReason
INVALID_ID: RejectReason
INVALID_VERSION: RejectReason
MISSING_FIELD: RejectReason
INVALID_FIELD: RejectReason
TOO_LONG: RejectReason
INVALID_EMBEDDING: RejectReason
DUPLICATE_IN_BATCH: RejectReason

class IngestBatch(_message.Message):
    __slots__ = ("sequence", "postings")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    POSTINGS_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    postings: _containers.RepeatedCompositeFieldContainer[_posting_pb2.PostingEvent]
    def __init__(self, sequence: _Optional[int] = ..., postings: _Optional[_Iterable[_Union[_posting_pb2.PostingEvent, _Mapping]]] = ...) -> None: ...

class Rejection(_message.Message):
    __slots__ = ("id", "index", "reason", "message")
    ID_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    id: str
    index: int
    reason: RejectReason
    message: str
    def __init__(self, id: _Optional[str] = ..., index: _Optional[int] = ..., reason: _Optional[_Union[RejectReason, str]] = ..., message: _Optional[str] = ...) -> None: ...

class IngestAck(_message.Message):
    __slots__ = ("sequence", "accepted_ids", "rejections", "duplicate")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_IDS_FIELD_NUMBER: _ClassVar[int]
    REJECTIONS_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    accepted_ids: _containers.RepeatedScalarFieldContainer[str]
    rejections: _containers.RepeatedCompositeFieldContainer[Rejection]
    duplicate: bool
    def __init__(self, sequence: _Optional[int] = ..., accepted_ids: _Optional[_Iterable[str]] = ..., rejections: _Optional[_Iterable[_Union[Rejection, _Mapping]]] = ..., duplicate: _Optional[bool] = ...) -> None: ...

class ResumeRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ResumeResponse(_message.Message):
    __slots__ = ("last_acked_sequence",)
    LAST_ACKED_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    last_acked_sequence: int
    def __init__(self, last_acked_sequence: _Optional[int] = ...) -> None: ...
