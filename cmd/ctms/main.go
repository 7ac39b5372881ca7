// Command ctms is the CTMS service and its admin tool in one binary:
// `ctms serve`, `ctms migrate` and the `ctms-cli` client commands.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/alecthomas/kong"
)

// cli is the command tree; each command lives in its own file.
type cli struct {
	Serve       serveCmd       `cmd:"" help:"Run the HTTP API server."`
	Migrate     migrateCmd     `cmd:"" help:"Apply the database migrations."`
	Clients     clientsCmd     `cmd:"" help:"Manage API clients."`
	DeleteBulk  deleteBulkCmd  `cmd:"" name:"delete-bulk" help:"Delete contacts by primary e-mail through the API (delete_bulk.py)."`
	Roles       rolesCmd       `cmd:"" help:"Manage roles."`
	Permissions permissionsCmd `cmd:"" help:"Manage permissions."`
	Optout      optoutCmd      `cmd:"" help:"Apply suppression lists (opt contacts out of e-mail)."`
	Healthcheck healthcheckCmd `cmd:"" help:"Exit 0 if the server answers 200 on /__lbheartbeat__ (the container's HEALTHCHECK)."`
	Deletions   deletionsCmd   `cmd:"" help:"Manage the deletion tombstones (GET /deletions)."`
	Sync        syncCmd        `cmd:"" help:"Keep a Braze workspace equal to CTMS (the backend service), and manage it."`

	WaitlistFields waitlistFieldsCmd `cmd:"" name:"waitlist-fields" help:"Manage the waitlist field rules."`
}

// exitCode ends the program with that status once the command has printed its message
// (4: not found, 10: conflict, as ctms-cli does).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// io bundles what a command reads and writes, so tests can run commands in-process.
type stdio struct {
	In       io.Reader
	Out, Err io.Writer
}

func main() {
	os.Exit(run(os.Args[1:], stdio{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}))
}

// kongExit carries the status kong asks to exit with (after --help).
type kongExit int

// run parses args, runs the chosen command and returns the process exit status:
// 0 success, 2 usage error (as Click does), or the command's own exitCode.
func run(args []string, sio stdio) (status int) {
	// kong exits after printing --help; turn that into a return from run.
	defer func() {
		if r := recover(); r != nil {
			code, ok := r.(kongExit)
			if !ok {
				panic(r)
			}
			status = int(code)
		}
	}()
	var c cli
	parser, err := kong.New(&c, kong.Name("ctms"), kong.Writers(sio.Out, sio.Err),
		kong.Exit(func(code int) { panic(kongExit(code)) }), kong.Bind(sio))
	if err != nil {
		fmt.Fprintln(sio.Err, err)
		return 1
	}
	ctx, err := parser.Parse(args)
	if err != nil {
		return usageFailure(sio, err)
	}
	if ctx == nil {
		return 0
	}
	if err := ctx.Run(); err != nil {
		var code exitCode
		if errors.As(err, &code) {
			return int(code)
		}
		fmt.Fprintf(sio.Err, "Error: %s\n", err)
		return 1
	}
	return 0
}

// usageFailure reports a command-line error the way Click does, on stderr with
// exit status 2:
//
//	Usage: ctms clients create <client-id> <email>
//	Try 'ctms clients create --help' for help.
//
//	Error: Missing argument 'CLIENT_ID'.
func usageFailure(sio stdio, err error) int {
	msg := err.Error()
	var pe *kong.ParseError
	if errors.As(err, &pe) && pe.Context != nil {
		msg = clickMessage(pe.Context, msg)
		node := pe.Context.Selected()
		if node == nil {
			node = pe.Context.Model.Node
		}
		name := pe.Context.Model.Name
		fmt.Fprintf(sio.Err, "Usage: %s %s\nTry '%s --help' for help.\n\n",
			name, strings.TrimSpace(node.Summary()), strings.TrimSpace(name+" "+node.Path()))
	}
	var ue *usageError
	if errors.As(err, &ue) {
		msg = ue.msg
	}
	fmt.Fprintf(sio.Err, "Error: %s\n", msg)
	return 2
}

// clickMessage rewords kong's parse errors as Click words them where ctms-cli
// users (and scripts) may rely on it: missing arguments ("Missing argument
// 'CLIENT_ID'.", the first required positional not given), extra arguments,
// unknown subcommands and unknown options. Other errors keep kong's text.
func clickMessage(ctx *kong.Context, msg string) string {
	node := ctx.Selected()
	switch {
	case strings.HasPrefix(msg, "expected ") || strings.HasPrefix(msg, "missing positional arguments"):
		if node == nil {
			return msg
		}
		for _, arg := range node.Positional {
			if arg.Required && !arg.Set {
				return fmt.Sprintf("Missing argument '%s'.", strings.ToUpper(strings.ReplaceAll(arg.Name, "-", "_")))
			}
		}
	case strings.HasPrefix(msg, "unexpected argument "):
		arg, _, _ := strings.Cut(strings.TrimPrefix(msg, "unexpected argument "), ",")
		if node == nil || len(node.Children) > 0 {
			return fmt.Sprintf("No such command '%s'.", arg)
		}
		return fmt.Sprintf("Got unexpected extra argument (%s)", arg)
	case strings.HasPrefix(msg, "unknown flag "):
		flag, _, _ := strings.Cut(strings.TrimPrefix(msg, "unknown flag "), ",")
		return "No such option: " + flag
	}
	return msg
}
