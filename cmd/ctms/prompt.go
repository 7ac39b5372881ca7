package main

// The confirmation prompt of the commands that delete or revoke, as Click's.

import (
	"fmt"
	"io"
	"strings"
)

// confirm asks a yes/no question as click.confirm(question) does: the prompt
// "<question> [y/N]: " on stdout, "y"/"yes" and "n"/"no" in any case, an empty
// answer meaning no, anything else re-asking after "Error: invalid input".
// At end of input it prints "Aborted!" to stderr and returns exitCode(1).
func confirm(sio stdio, question string) (bool, error) {
	for {
		fmt.Fprintf(sio.Out, "%s [y/N]: ", question)
		line, err := readLine(sio.In)
		if err != nil {
			fmt.Fprintln(sio.Err, "Aborted!")
			return false, exitCode(1)
		}
		switch strings.ToLower(strings.TrimSpace(line)) {
		case "y", "yes":
			return true, nil
		case "n", "no", "":
			return false, nil
		}
		fmt.Fprintln(sio.Out, "Error: invalid input")
	}
}

// confirmUnless asks question unless yes is set. When the answer is no it
// prints "Operation cancelled." and returns (false, nil): the command ends
// with status 0. At end of input it returns (false, exitCode(1)).
func confirmUnless(sio stdio, yes bool, question string) (bool, error) {
	if yes {
		return true, nil
	}
	ok, err := confirm(sio, question)
	if err != nil {
		return false, err
	}
	if !ok {
		fmt.Fprintln(sio.Out, "Operation cancelled.")
	}
	return ok, nil
}

// readLine reads one line without buffering ahead, so several prompts can
// share one reader. Like Python's input(), a last line without newline still
// counts; only an empty end of input is an error.
func readLine(r io.Reader) (string, error) {
	if r == nil {
		return "", io.EOF
	}
	var b []byte
	buf := make([]byte, 1)
	for {
		n, err := r.Read(buf)
		if n == 1 {
			if buf[0] == '\n' {
				return strings.TrimSuffix(string(b), "\r"), nil
			}
			b = append(b, buf[0])
			continue
		}
		if err != nil {
			if len(b) > 0 {
				return string(b), nil
			}
			return "", err
		}
	}
}
