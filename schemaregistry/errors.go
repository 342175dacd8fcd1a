package schemaregistry

import (
	"fmt"
	"net/http"
)

// Confluent Schema Registry error codes (Errors.java). The first three
// digits are the HTTP status.
const (
	codeSubjectNotFound            = 40401
	codeVersionNotFound            = 40402
	codeSchemaNotFound             = 40403
	codeSubjectSoftDeleted         = 40404
	codeSubjectNotSoftDeleted      = 40405
	codeVersionSoftDeleted         = 40406
	codeVersionNotSoftDeleted      = 40407
	codeSubjectCompatNotConfigured = 40408
	codeSubjectModeNotConfigured   = 40409
	codeIncompatibleSchema         = 409
	codeInvalidSchema              = 42201
	codeInvalidVersion             = 42202
	codeInvalidCompatibilityLevel  = 42203
	codeInvalidMode                = 42204
	codeOperationNotPermitted      = 42205
	codeReferenceExists            = 42206
	codeIDDoesNotMatch             = 42207
	codeInvalidSubject             = 42208
	codeStoreError                 = 50001
	codeOperationTimeout           = 50002
	codeRequestForwardingFailed    = 50003
	codeUnknownLeader              = 50004
	codeUnprocessableEntity        = 422
	codeNotFound                   = 404
	codeMethodNotAllowed           = 405
	codeUnsupportedMediaType       = 415
	codeInternalServerError        = 500
	codeBadRequest                 = 400
)

// Error is a REST error as Confluent's registry returns it:
// {"error_code":40401,"message":"Subject 'x' not found."}.
type Error struct {
	// Status is the HTTP status code.
	Status int `json:"-"`
	// Code is the registry error code.
	Code int `json:"error_code"`
	// Message is the human-readable message.
	Message string `json:"message"`
}

func (e *Error) Error() string { return fmt.Sprintf("%s (error code %d)", e.Message, e.Code) }

func newError(code int, format string, args ...any) *Error {
	status := code
	for status >= 1000 {
		status /= 10
	}
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func errSubjectNotFound(subject string) *Error {
	return newError(codeSubjectNotFound, "Subject '%s' not found.", subject)
}

func errVersionNotFound(version int) *Error {
	return newError(codeVersionNotFound, "Version %d not found.", version)
}

func errSchemaNotFound() *Error { return newError(codeSchemaNotFound, "Schema not found") }

func errSchemaIDNotFound(id int) *Error {
	return newError(codeSchemaNotFound, "Schema %d not found", id)
}

func errInvalidVersion(v string) *Error {
	return newError(codeInvalidVersion, "The specified version '%s' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"", v)
}

func errInvalidSchema(err error) *Error {
	return newError(codeInvalidSchema, "Invalid schema: %v", err)
}

func errInvalidCompatibility() *Error {
	return newError(codeInvalidCompatibilityLevel, "Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive")
}

func errInvalidMode() *Error {
	return newError(codeInvalidMode, "Invalid mode. Valid values are READWRITE, READONLY, and IMPORT.")
}

func errStore(err error) *Error {
	return newError(codeStoreError, "Error in the backend data store: %v", err)
}

func errUnprocessable(err error) *Error {
	return &Error{Status: http.StatusUnprocessableEntity, Code: codeUnprocessableEntity, Message: err.Error()}
}
