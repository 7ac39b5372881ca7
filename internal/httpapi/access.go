package httpapi

import (
	"errors"
	"fmt"

	"github.com/getkin/kin-openapi/openapi3"
)

// Access fails closed (api/openapi.yaml, comment above `paths`): an operation of
// the spec is either public (`x-ctms-public: true`: no credentials) or needs a
// bearer client holding one of its `x-ctms-permissions`. One that says neither is
// a mistake in the spec: New refuses to start with it, and a request to it (should
// one get through) is refused, whatever CTMS_ENFORCE_PERMISSIONS says.

// isPublic tells whether the spec marks the operation as needing no credentials.
func isPublic(op *openapi3.Operation) bool {
	public, _ := op.Extensions["x-ctms-public"].(bool)
	return public
}

// checkAccessRules lists the operations of spec whose access is not declared, or
// declared inconsistently with their `security`.
func checkAccessRules(spec *openapi3.T) error {
	var errs []error
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			public, perms := isPublic(op), requiredPermissions(op)
			var why string
			switch {
			case public && len(perms) > 0:
				why = "is both x-ctms-public and has x-ctms-permissions"
			case public && requiresBearer(op):
				why = "is x-ctms-public but asks for a bearer token"
			case !public && len(perms) == 0:
				why = "has neither `x-ctms-public: true` nor x-ctms-permissions"
			case !public && !requiresBearer(op):
				why = "has x-ctms-permissions but no OAuth2ClientCredentials security"
			}
			if why != "" {
				errs = append(errs, fmt.Errorf("%s %s %s", method, path, why))
			}
		}
	}
	return errors.Join(errs...)
}

func requiresBearer(op *openapi3.Operation) bool {
	if op.Security == nil {
		return false
	}
	for _, req := range *op.Security {
		if _, ok := req["OAuth2ClientCredentials"]; ok {
			return true
		}
	}
	return false
}

func requiredPermissions(op *openapi3.Operation) []string {
	raw, _ := op.Extensions["x-ctms-permissions"].([]any)
	perms := make([]string, 0, len(raw))
	for _, p := range raw {
		if name, ok := p.(string); ok {
			perms = append(perms, name)
		}
	}
	return perms
}
