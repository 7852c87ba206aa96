import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RemoteMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REMOTE_MODE_UNSPECIFIED: _ClassVar[RemoteMode]
    ONSITE: _ClassVar[RemoteMode]
    HYBRID: _ClassVar[RemoteMode]
    REMOTE: _ClassVar[RemoteMode]

class EmploymentType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EMPLOYMENT_TYPE_UNSPECIFIED: _ClassVar[EmploymentType]
    FULL_TIME: _ClassVar[EmploymentType]
    PART_TIME: _ClassVar[EmploymentType]
    CONTRACT: _ClassVar[EmploymentType]
    INTERNSHIP: _ClassVar[EmploymentType]

class EnglishLevel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ENGLISH_LEVEL_UNSPECIFIED: _ClassVar[EnglishLevel]
    NONE: _ClassVar[EnglishLevel]
    BASIC: _ClassVar[EnglishLevel]
    CONVERSATIONAL: _ClassVar[EnglishLevel]
    BUSINESS: _ClassVar[EnglishLevel]
    FLUENT: _ClassVar[EnglishLevel]
    NATIVE: _ClassVar[EnglishLevel]
REMOTE_MODE_UNSPECIFIED: RemoteMode
ONSITE: RemoteMode
HYBRID: RemoteMode
REMOTE: RemoteMode
EMPLOYMENT_TYPE_UNSPECIFIED: EmploymentType
FULL_TIME: EmploymentType
PART_TIME: EmploymentType
CONTRACT: EmploymentType
INTERNSHIP: EmploymentType
ENGLISH_LEVEL_UNSPECIFIED: EnglishLevel
NONE: EnglishLevel
BASIC: EnglishLevel
CONVERSATIONAL: EnglishLevel
BUSINESS: EnglishLevel
FLUENT: EnglishLevel
NATIVE: EnglishLevel

class Location(_message.Message):
    __slots__ = ("city", "country_code")
    CITY_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_CODE_FIELD_NUMBER: _ClassVar[int]
    city: str
    country_code: str
    def __init__(self, city: _Optional[str] = ..., country_code: _Optional[str] = ...) -> None: ...

class Salary(_message.Message):
    __slots__ = ("min", "max", "currency")
    MIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    min: int
    max: int
    currency: str
    def __init__(self, min: _Optional[int] = ..., max: _Optional[int] = ..., currency: _Optional[str] = ...) -> None: ...

class PostingBody(_message.Message):
    __slots__ = ("title", "company", "location", "remote_mode", "employment_type", "experience_min_years", "experience_max_years", "english_level", "skills", "salary", "description", "posted_at", "embedding", "embedding_model")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    COMPANY_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    REMOTE_MODE_FIELD_NUMBER: _ClassVar[int]
    EMPLOYMENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    EXPERIENCE_MIN_YEARS_FIELD_NUMBER: _ClassVar[int]
    EXPERIENCE_MAX_YEARS_FIELD_NUMBER: _ClassVar[int]
    ENGLISH_LEVEL_FIELD_NUMBER: _ClassVar[int]
    SKILLS_FIELD_NUMBER: _ClassVar[int]
    SALARY_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    POSTED_AT_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_MODEL_FIELD_NUMBER: _ClassVar[int]
    title: str
    company: str
    location: Location
    remote_mode: RemoteMode
    employment_type: EmploymentType
    experience_min_years: int
    experience_max_years: int
    english_level: EnglishLevel
    skills: _containers.RepeatedScalarFieldContainer[str]
    salary: Salary
    description: str
    posted_at: _timestamp_pb2.Timestamp
    embedding: bytes
    embedding_model: str
    def __init__(self, title: _Optional[str] = ..., company: _Optional[str] = ..., location: _Optional[_Union[Location, _Mapping]] = ..., remote_mode: _Optional[_Union[RemoteMode, str]] = ..., employment_type: _Optional[_Union[EmploymentType, str]] = ..., experience_min_years: _Optional[int] = ..., experience_max_years: _Optional[int] = ..., english_level: _Optional[_Union[EnglishLevel, str]] = ..., skills: _Optional[_Iterable[str]] = ..., salary: _Optional[_Union[Salary, _Mapping]] = ..., description: _Optional[str] = ..., posted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., embedding: _Optional[bytes] = ..., embedding_model: _Optional[str] = ...) -> None: ...

class PostingEvent(_message.Message):
    __slots__ = ("id", "version", "deleted", "body", "produced_at", "producer_id", "version_reset")
    ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    PRODUCED_AT_FIELD_NUMBER: _ClassVar[int]
    PRODUCER_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_RESET_FIELD_NUMBER: _ClassVar[int]
    id: str
    version: int
    deleted: bool
    body: PostingBody
    produced_at: _timestamp_pb2.Timestamp
    producer_id: str
    version_reset: bool
    def __init__(self, id: _Optional[str] = ..., version: _Optional[int] = ..., deleted: _Optional[bool] = ..., body: _Optional[_Union[PostingBody, _Mapping]] = ..., produced_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., producer_id: _Optional[str] = ..., version_reset: _Optional[bool] = ...) -> None: ...

class PostingEventPack(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[PostingEvent]
    def __init__(self, events: _Optional[_Iterable[_Union[PostingEvent, _Mapping]]] = ...) -> None: ...
