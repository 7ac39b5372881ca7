package main

// How commands end when something is wrong: usage errors (Click's exit status 2),
// and the exit statuses of ctms-cli for what the store reports missing (4) or
// conflicting (10).

import (
	"errors"
	"fmt"

	"github.com/ctms-go/ctms/internal/store"
)

// usageError is a bad command-line value. run reports it as Click does: usage
// line, then "Error: <msg>", exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func invalidValue(param, reason string) error {
	return &usageError{msg: fmt.Sprintf("Invalid value for '%s': %s", param, reason)}
}

// exitWith prints msg on stdout (where Click's echo writes) and ends the
// command with the given status.
func exitWith(sio stdio, code int, msg string) error {
	fmt.Fprintln(sio.Out, msg)
	return exitCode(code)
}

// names are what a command works on, for its "not found" messages.
type names struct{ client, role, permission string }

// notFound ends the command with status 4 and ctms-cli's message when err is
// one of the store's "… not found" errors; any other error is returned as is.
func notFound(sio stdio, err error, n names) error {
	switch {
	case errors.Is(err, store.ErrClientNotFound):
		return exitWith(sio, 4, fmt.Sprintf("API client '%s' not found.", n.client))
	case errors.Is(err, store.ErrRoleNotFound):
		return exitWith(sio, 4, fmt.Sprintf("Role '%s' not found.", n.role))
	case errors.Is(err, store.ErrPermissionNotFound):
		return exitWith(sio, 4, fmt.Sprintf("Permission '%s' not found.", n.permission))
	}
	return err
}
