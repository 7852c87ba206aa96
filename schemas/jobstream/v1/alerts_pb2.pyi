import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SavedSearchMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SAVED_SEARCH_MODE_UNSPECIFIED: _ClassVar[SavedSearchMode]
    SAVED_SEARCH_HYBRID: _ClassVar[SavedSearchMode]
    SAVED_SEARCH_SEMANTIC: _ClassVar[SavedSearchMode]
    SAVED_SEARCH_KEYWORD: _ClassVar[SavedSearchMode]

class EmailSchedule(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EMAIL_SCHEDULE_UNSPECIFIED: _ClassVar[EmailSchedule]
    EMAIL_IMMEDIATE: _ClassVar[EmailSchedule]
    EMAIL_DAILY: _ClassVar[EmailSchedule]
SAVED_SEARCH_MODE_UNSPECIFIED: SavedSearchMode
SAVED_SEARCH_HYBRID: SavedSearchMode
SAVED_SEARCH_SEMANTIC: SavedSearchMode
SAVED_SEARCH_KEYWORD: SavedSearchMode
EMAIL_SCHEDULE_UNSPECIFIED: EmailSchedule
EMAIL_IMMEDIATE: EmailSchedule
EMAIL_DAILY: EmailSchedule

class Delivery(_message.Message):
    __slots__ = ("webhook_url", "email", "email_schedule")
    WEBHOOK_URL_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    EMAIL_SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    webhook_url: str
    email: str
    email_schedule: EmailSchedule
    def __init__(self, webhook_url: _Optional[str] = ..., email: _Optional[str] = ..., email_schedule: _Optional[_Union[EmailSchedule, str]] = ...) -> None: ...

class SavedSearch(_message.Message):
    __slots__ = ("id", "secret_sha256", "query", "filter_json", "mode", "min_score", "delivery", "query_embedding", "embedding_model", "created_at", "deleted", "backfill_days", "unsubscribe_token", "webhook_signing_secret")
    ID_FIELD_NUMBER: _ClassVar[int]
    SECRET_SHA256_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    FILTER_JSON_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    MIN_SCORE_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_FIELD_NUMBER: _ClassVar[int]
    QUERY_EMBEDDING_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_MODEL_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    BACKFILL_DAYS_FIELD_NUMBER: _ClassVar[int]
    UNSUBSCRIBE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_SIGNING_SECRET_FIELD_NUMBER: _ClassVar[int]
    id: str
    secret_sha256: bytes
    query: str
    filter_json: str
    mode: SavedSearchMode
    min_score: float
    delivery: Delivery
    query_embedding: bytes
    embedding_model: str
    created_at: _timestamp_pb2.Timestamp
    deleted: bool
    backfill_days: int
    unsubscribe_token: str
    webhook_signing_secret: str
    def __init__(self, id: _Optional[str] = ..., secret_sha256: _Optional[bytes] = ..., query: _Optional[str] = ..., filter_json: _Optional[str] = ..., mode: _Optional[_Union[SavedSearchMode, str]] = ..., min_score: _Optional[float] = ..., delivery: _Optional[_Union[Delivery, _Mapping]] = ..., query_embedding: _Optional[bytes] = ..., embedding_model: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., deleted: _Optional[bool] = ..., backfill_days: _Optional[int] = ..., unsubscribe_token: _Optional[str] = ..., webhook_signing_secret: _Optional[str] = ...) -> None: ...

class Alert(_message.Message):
    __slots__ = ("id", "saved_search_id", "posting_id", "version", "score", "highlights_json", "backfill", "closed", "committed_at", "matched_at", "sequence")
    ID_FIELD_NUMBER: _ClassVar[int]
    SAVED_SEARCH_ID_FIELD_NUMBER: _ClassVar[int]
    POSTING_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    HIGHLIGHTS_JSON_FIELD_NUMBER: _ClassVar[int]
    BACKFILL_FIELD_NUMBER: _ClassVar[int]
    CLOSED_FIELD_NUMBER: _ClassVar[int]
    COMMITTED_AT_FIELD_NUMBER: _ClassVar[int]
    MATCHED_AT_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    id: str
    saved_search_id: str
    posting_id: str
    version: int
    score: float
    highlights_json: str
    backfill: bool
    closed: bool
    committed_at: _timestamp_pb2.Timestamp
    matched_at: _timestamp_pb2.Timestamp
    sequence: int
    def __init__(self, id: _Optional[str] = ..., saved_search_id: _Optional[str] = ..., posting_id: _Optional[str] = ..., version: _Optional[int] = ..., score: _Optional[float] = ..., highlights_json: _Optional[str] = ..., backfill: _Optional[bool] = ..., closed: _Optional[bool] = ..., committed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., matched_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sequence: _Optional[int] = ...) -> None: ...
