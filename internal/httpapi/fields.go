package httpapi

import "github.com/ctms-go/ctms/internal/contact"

// urlProblem explains why s is not an absolute URL, in pydantic's words ("" if
// it is one): format uri where kin-openapi validates it (server.go).
func urlProblem(s string) string {
	_, why := contact.NormaliseSource(s)
	return why
}
