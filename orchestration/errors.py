"""Errors that services and selectors raise; the REST layer (``api.errors``) renders each as
Conductor's JSON error body, with the HTTP status its class names."""

from __future__ import annotations

from orchestration.definitions.validation import DefinitionError, FieldError


class ServiceError(Exception):
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class BadRequest(ServiceError):
    status = 400


__all__ = ["BadRequest", "Conflict", "DefinitionError", "FieldError", "NotFound", "ServiceError"]
