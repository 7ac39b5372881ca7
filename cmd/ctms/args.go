package main

// Click-compatible argument types: kong calls Validate after parsing, so a bad
// value is a usage error (exit status 2).

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/ctms-go/ctms/internal/emailaddr"
)

// clientIDArg is a CLIENT_ID argument: it must start with "id_" and contain
// only [-_.a-zA-Z0-9], as ctms-cli requires.
type clientIDArg string

var clientIDChars = regexp.MustCompile(`^[-_.a-zA-Z0-9]*$`)

// Validate is called by kong after parsing.
func (c clientIDArg) Validate() error {
	s := string(c)
	if strings.HasPrefix(s, "id_") && clientIDChars.MatchString(s) {
		return nil
	}
	return invalidValue("CLIENT_ID", fmt.Sprintf("Client ID '%s' is invalid. It must start with 'id_' "+
		"and should contain only alphanumeric characters, hyphens, underscores, or periods.", s))
}

// emailArg is an EMAIL argument, validated and normalised like pydantic's
// EmailStr (internal/emailaddr). After validation it holds the normalised address.
type emailArg string

// Validate normalises the address in place (kong calls it after parsing).
func (e *emailArg) Validate() error {
	normalized, err := emailaddr.Normalize(string(*e))
	if err != nil {
		return invalidValue("EMAIL", "value is not a valid email address: "+err.Error())
	}
	*e = emailArg(normalized)
	return nil
}
