package bascule

import (
	"errors"
	"fmt"
)

// Code classifies an error for the edges that report it: the admin API turns it into an HTTP
// status, the CLI into an exit message, the chat API into a polite answer.
type Code string

// Error codes. They are part of the admin API's contract: clients match on them.
const (
	CodeInvalid      Code = "invalid"      // the input is wrong; Field says where
	CodeNotFound     Code = "not_found"    // no such bot, knowledge, dialog...
	CodeConflict     Code = "conflict"     // the write lost against a newer one
	CodeReadOnly     Code = "read_only"    // this server does not accept this write (backup, replaced main)
	CodeUnavailable  Code = "unavailable"  // a dependency is down; retry later
	CodeInternal     Code = "internal"     // a bug or an unexpected failure; details only in the log
	CodeLimit        Code = "limit"        // a configured limit was reached
	CodeInfected     Code = "infected"     // an uploaded file carries a virus
	CodeUnauthorized Code = "unauthorized" // no valid credentials
)

// Error is the product's error: a code for machines, a message for people, and the field the
// problem is about when there is one (for example "knowledge[3].answer").
type Error struct {
	Code    Code
	Field   string
	Message string
	Err     error // the cause, for the log; never shown to a visitor
}

func (e *Error) Error() string {
	msg := e.Message
	if e.Field != "" {
		msg = e.Field + ": " + msg
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrNotFound) true for any *Error with the same code.
func (e *Error) Is(target error) bool {
	var t *Error
	if errors.As(target, &t) && t.Field == "" && t.Message == "" {
		return t.Code == e.Code
	}
	return false
}

// Sentinels to compare with errors.Is; they match any *Error of their code.
var (
	ErrNotFound = &Error{Code: CodeNotFound}
	ErrInvalid  = &Error{Code: CodeInvalid}
	ErrReadOnly = &Error{Code: CodeReadOnly}
	ErrConflict = &Error{Code: CodeConflict}
)

// Errorf builds an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldErrorf builds an invalid-input error about one field.
func FieldErrorf(field, format string, args ...any) *Error {
	return &Error{Code: CodeInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// NotFoundf builds a not-found error.
func NotFoundf(format string, args ...any) *Error {
	return &Error{Code: CodeNotFound, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err, CodeInternal for errors that are not *Error.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}
