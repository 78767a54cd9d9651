package broker

import (
	"errors"
	"net/http"
)

// Error is an error with an OSB answer: a status code and the error body
// the spec defines. A backend returns one (or wraps one, with %w) to choose
// the answer; the handler finds it with [errors.As], so wrapping keeps its
// meaning. Any other error is answered with 500 and logged, never shown.
//
// The handler sends InstanceUsable only on update and deprovision errors
// and UpdateRepeatable only on update errors, as the spec requires.
type Error struct {
	// Status is the HTTP status code.
	Status int
	// Code is the spec's CamelCase error code, or "" for none.
	Code string
	// Description is shown to the user. It must hold no secret.
	Description string
	// InstanceUsable and UpdateRepeatable are optional; nil omits them.
	InstanceUsable   *bool
	UpdateRepeatable *bool
	// Err is the underlying cause. It is logged, never sent.
	Err error
}

// Error returns the description, prefixed with the code if there is one.
func (e *Error) Error() string {
	msg := "broker: " + http.StatusText(e.Status)
	if e.Code != "" {
		msg += " (" + e.Code + ")"
	}
	if e.Description != "" {
		msg += ": " + e.Description
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// NewError returns an Error with the given status, code and description.
func NewError(status int, code, description string) *Error {
	return &Error{Status: status, Code: code, Description: description}
}

// The error codes the spec defines. Each is sent with 422.
const (
	CodeAsyncRequired           = "AsyncRequired"
	CodeConcurrencyError        = "ConcurrencyError"
	CodeRequiresApp             = "RequiresApp"
	CodeMaintenanceInfoConflict = "MaintenanceInfoConflict"
)

// Errors a backend returns, alone or wrapped, for the cases the spec names.
// Their descriptions are the spec's. Do not modify them; to say more, build
// an [Error] with the same Status and Code.
var (
	// ErrAsyncRequired: the operation can only run asynchronously and the
	// platform did not send accepts_incomplete=true. 422 AsyncRequired.
	ErrAsyncRequired = &Error{Status: http.StatusUnprocessableEntity, Code: CodeAsyncRequired,
		Description: "This request requires client support for asynchronous service operations."}
	// ErrConcurrency: another operation on the instance or binding is in
	// progress. 422 ConcurrencyError.
	ErrConcurrency = &Error{Status: http.StatusUnprocessableEntity, Code: CodeConcurrencyError,
		Description: "Another operation for this Service Instance is in progress."}
	// ErrRequiresApp: the binding needs an app_guid and got none.
	// 422 RequiresApp.
	ErrRequiresApp = &Error{Status: http.StatusUnprocessableEntity, Code: CodeRequiresApp,
		Description: "This Service supports generation of credentials through binding an application only."}
	// ErrMaintenanceInfoConflict: the request's maintenance_info.version
	// does not match the catalog's. 422 MaintenanceInfoConflict. The
	// handler checks this itself before calling the backend.
	ErrMaintenanceInfoConflict = &Error{Status: http.StatusUnprocessableEntity, Code: CodeMaintenanceInfoConflict,
		Description: "The maintenance_info.version field provided in the request does not match the maintenance_info.version field provided in the Service Catalog."}
	// ErrInstanceConflict: an instance with this ID exists, or is being
	// provisioned, with other attributes. 409 Conflict.
	ErrInstanceConflict = &Error{Status: http.StatusConflict,
		Description: "A Service Instance with this ID already exists with different attributes."}
	// ErrBindingConflict: a binding with this ID exists, or is being
	// created, with other attributes. 409 Conflict.
	ErrBindingConflict = &Error{Status: http.StatusConflict,
		Description: "A Service Binding with this ID already exists with different attributes."}
	// ErrInstanceNotFound: no such instance (or, for GET, not yet
	// provisioned). 404, but 410 Gone on deprovision and unbind, as the
	// spec requires.
	ErrInstanceNotFound = &Error{Status: http.StatusNotFound,
		Description: "The Service Instance does not exist."}
	// ErrBindingNotFound: no such binding (or, for GET, not yet created).
	// 404, but 410 Gone on unbind.
	ErrBindingNotFound = &Error{Status: http.StatusNotFound,
		Description: "The Service Binding does not exist."}
	// ErrGone: from last_operation, the instance or binding was deleted
	// by an asynchronous delete and is no longer remembered. 410 Gone,
	// which the platform takes as the delete's success.
	ErrGone = &Error{Status: http.StatusGone,
		Description: "The resource has been deleted."}
)

// Bool returns a pointer to b, for [Error] and [LastOperation] fields.
func Bool(b bool) *bool { return &b }

// endpoint names the ten routes, for the error mapping.
type endpoint uint8

const (
	epCatalog endpoint = iota
	epProvision
	epUpdate
	epDeprovision
	epGetInstance
	epInstanceLastOp
	epBind
	epUnbind
	epGetBinding
	epBindingLastOp
	epOther
)

var endpointNames = [...]string{
	epCatalog:        "catalog",
	epProvision:      "provision",
	epUpdate:         "update",
	epDeprovision:    "deprovision",
	epGetInstance:    "get_instance",
	epInstanceLastOp: "instance_last_operation",
	epBind:           "bind",
	epUnbind:         "unbind",
	epGetBinding:     "get_binding",
	epBindingLastOp:  "binding_last_operation",
	epOther:          "other",
}

func (e endpoint) String() string { return endpointNames[e] }

// errorBody is the spec's error object.
type errorBody struct {
	Error            string `json:"error,omitempty"`
	Description      string `json:"description,omitempty"`
	InstanceUsable   *bool  `json:"instance_usable,omitempty"`
	UpdateRepeatable *bool  `json:"update_repeatable,omitempty"`
}

// answer maps err to the status and body ep must send. It is the one place
// where errors become HTTP. The second result is false for errors that are
// not an [Error]: those are internal and answered with 500.
func answer(ep endpoint, err error) (int, errorBody, bool) {
	var e *Error
	if !errors.As(err, &e) || e.Status < 400 || e.Status > 599 {
		return http.StatusInternalServerError, errorBody{Description: "Internal error; the broker's log has the details."}, false
	}
	status := e.Status
	body := errorBody{Error: e.Code, Description: e.Description}

	// The spec answers "does not exist" with 410 on deletes, never 404;
	// and a fetch of something deleted is simply not found.
	switch {
	case (ep == epDeprovision || ep == epUnbind) && (status == http.StatusNotFound || status == http.StatusGone):
		return http.StatusGone, errorBody{}, true
	case (ep == epGetInstance || ep == epGetBinding || ep == epBind) && status == http.StatusGone:
		status = http.StatusNotFound
	case (ep == epInstanceLastOp || ep == epBindingLastOp) && status == http.StatusGone:
		return http.StatusGone, errorBody{}, true
	}

	switch ep {
	case epUpdate:
		body.InstanceUsable, body.UpdateRepeatable = e.InstanceUsable, e.UpdateRepeatable
	case epDeprovision:
		body.InstanceUsable = e.InstanceUsable
	}
	if body.Description == "" && body.Error == "" {
		body.Description = http.StatusText(status)
	}
	return status, body, true
}
