package store

// The database work of the admin commands (`ctms clients|roles|permissions`,
// cmd/ctms): API client accounts, roles, permissions and their links. Each
// method maps database errors like the rest of the store: a missing row is
// ErrNotFound (ErrClientNotFound, ErrRoleNotFound or ErrPermissionNotFound, so
// the command can say which), a taken name or a thing still in use ErrConflict.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ctms-go/ctms/gen/db"
)

var (
	// ErrClientNotFound means the API client does not exist (it is ErrNotFound).
	ErrClientNotFound = fmt.Errorf("api client %w", ErrNotFound)
	// ErrRoleNotFound means the role does not exist (it is ErrNotFound).
	ErrRoleNotFound = fmt.Errorf("role %w", ErrNotFound)
	// ErrPermissionNotFound means the permission does not exist (it is ErrNotFound).
	ErrPermissionNotFound = fmt.Errorf("permission %w", ErrNotFound)
)

// Connect opens one connection for a command-line run (a command needs no pool)
// and returns the store on it with the function that closes it.
func Connect(ctx context.Context, url string) (*Store, func(), error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, nil, mapError("connect to database", err)
	}
	_ = PrepareConn(ctx, conn) // cannot fail
	return New(conn), func() { _ = conn.Close(context.WithoutCancel(ctx)) }, nil
}

// ClientAccount is an api_client row as the admin commands show it.
type ClientAccount struct {
	ClientID   string
	Email      string
	Enabled    bool       // a NULL enabled counts as disabled, as in the Python CTMS
	LastAccess *time.Time // nil: never
}

func clientAccount(c db.ApiClient) ClientAccount {
	return ClientAccount{ClientID: c.ClientID, Email: c.Email, Enabled: orFalse(c.Enabled), LastAccess: c.LastAccess}
}

// ClientAccounts lists every API client, ordered by id.
func (s *Store) ClientAccounts(ctx context.Context) ([]ClientAccount, error) {
	rows, err := s.q.APIClientList(ctx, s.db)
	if err != nil {
		return nil, mapError("list API clients", err)
	}
	out := make([]ClientAccount, len(rows))
	for i, r := range rows {
		out[i] = clientAccount(r)
	}
	return out, nil
}

// ClientAccount loads one API client; ErrClientNotFound when there is none.
func (s *Store) ClientAccount(ctx context.Context, clientID string) (ClientAccount, error) {
	c, err := s.q.APIClientGet(ctx, s.db, clientID)
	if errors.Is(err, pgx.ErrNoRows) {
		return ClientAccount{}, ErrClientNotFound
	}
	if err != nil {
		return ClientAccount{}, mapError("get API client", err)
	}
	return clientAccount(c), nil
}

// ClientRoles lists the names of the client's roles, in assignment order.
func (s *Store) ClientRoles(ctx context.Context, clientID string) ([]string, error) {
	roles, err := s.q.APIClientRoles(ctx, s.db, clientID)
	return roles, mapError("list roles of API client", err)
}

// CreateClient creates an enabled API client with the hash of its secret;
// ErrConflict when the id is taken.
func (s *Store) CreateClient(ctx context.Context, clientID, email, hashedSecret string) error {
	_, err := s.q.APIClientCreate(ctx, s.db, db.APIClientCreateParams{
		ClientID: clientID, Email: email, Enabled: new(true), HashedSecret: hashedSecret,
	})
	if errors.Is(err, pgx.ErrNoRows) { // ON CONFLICT DO NOTHING: created concurrently
		return fmt.Errorf("create API client: %w", ErrConflict)
	}
	return mapError("create API client", err)
}

// SetClientEnabled enables or disables a client; ErrClientNotFound when it is gone.
func (s *Store) SetClientEnabled(ctx context.Context, clientID string, enabled bool) error {
	n, err := s.q.APIClientUpdateEnabled(ctx, s.db, db.APIClientUpdateEnabledParams{ClientID: clientID, Enabled: &enabled})
	return rowsOrNotFound("update API client", n, err, ErrClientNotFound)
}

// SetClientSecret stores the hash of a client's new secret; ErrClientNotFound when it is gone.
func (s *Store) SetClientSecret(ctx context.Context, clientID, hashedSecret string) error {
	n, err := s.q.APIClientUpdateSecret(ctx, s.db, db.APIClientUpdateSecretParams{ClientID: clientID, HashedSecret: hashedSecret})
	return rowsOrNotFound("update API client secret", n, err, ErrClientNotFound)
}

// DeleteClient removes a client and its role assignments; ErrClientNotFound when it is gone.
func (s *Store) DeleteClient(ctx context.Context, clientID string) error {
	n, err := s.q.APIClientDelete(ctx, s.db, clientID)
	return rowsOrNotFound("delete API client", n, err, ErrClientNotFound)
}

// GrantClientRole assigns a role to a client and reports whether it was new
// (false: the client already had it). ErrRoleNotFound or ErrClientNotFound
// when either is missing.
func (s *Store) GrantClientRole(ctx context.Context, clientID, roleName string) (granted bool, err error) {
	// The role's lock serialises concurrent grants (the assignment has no unique
	// constraint) and the role's deletion.
	err = s.inTx(ctx, false, func(tx pgx.Tx) error {
		role, err := s.role(ctx, tx, roleName, true)
		if err != nil {
			return err
		}
		n, err := s.q.APIClientRoleGrant(ctx, tx, db.APIClientRoleGrantParams{ClientID: clientID, RoleID: role.ID})
		if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && pgErr.Code == "23503" {
			return ErrClientNotFound // deleted meanwhile: the foreign key refuses the assignment
		}
		if err != nil {
			return mapError("grant role", err)
		}
		granted = n > 0
		return nil
	})
	return granted, err
}

// ClientHasRole reports whether the client holds the role (by id, see Role).
func (s *Store) ClientHasRole(ctx context.Context, clientID string, roleID int32) (bool, error) {
	has, err := s.q.APIClientRoleExists(ctx, s.db, db.APIClientRoleExistsParams{ClientID: clientID, RoleID: roleID})
	return has, mapError("check API client role", err)
}

// RevokeClientRole removes the assignment and reports whether there was one.
func (s *Store) RevokeClientRole(ctx context.Context, clientID string, roleID int32) (bool, error) {
	n, err := s.q.APIClientRoleRevoke(ctx, s.db, db.APIClientRoleRevokeParams{ClientID: clientID, RoleID: roleID})
	return n > 0, mapError("revoke role", err)
}

// Role is a role or a permission: the id links it, the description may be empty.
type Role struct {
	ID          int32
	Name        string
	Description string // "" when NULL
}

// Permission has the shape of a Role.
type Permission = Role

// RoleDetail is a role with what uses it.
type RoleDetail struct {
	Role
	Permissions []Permission // in grant order (ids left zero)
	Clients     []string     // ids of the API clients holding it, in grant order
}

// RoleInUseError refuses to delete a role that clients or permissions still use
// (it is ErrConflict); Clients is checked first, Permissions only when it is empty.
type RoleInUseError struct {
	Clients     []string
	Permissions []string
}

func (e *RoleInUseError) Error() string {
	if len(e.Clients) > 0 {
		return "role in use: assigned to API clients " + strings.Join(e.Clients, ", ")
	}
	return "role in use: holds permissions " + strings.Join(e.Permissions, ", ")
}

func (e *RoleInUseError) Is(target error) bool { return target == ErrConflict }

// InUse is the RoleInUseError that forbids deleting the role, or nil.
func (d RoleDetail) InUse() error {
	if len(d.Clients) > 0 {
		return &RoleInUseError{Clients: d.Clients}
	}
	if len(d.Permissions) > 0 {
		names := make([]string, len(d.Permissions))
		for i, p := range d.Permissions {
			names[i] = p.Name
		}
		return &RoleInUseError{Permissions: names}
	}
	return nil
}

func roleOf(r db.Role) Role { return Role{ID: r.ID, Name: r.Name, Description: orEmpty(r.Description)} }

func orEmpty(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Roles lists every role, ordered by name.
func (s *Store) Roles(ctx context.Context) ([]Role, error) {
	rows, err := s.q.RoleList(ctx, s.db)
	if err != nil {
		return nil, mapError("list roles", err)
	}
	out := make([]Role, len(rows))
	for i, r := range rows {
		out[i] = roleOf(r)
	}
	return out, nil
}

// Role loads a role by name; ErrRoleNotFound when there is none.
func (s *Store) Role(ctx context.Context, name string) (Role, error) {
	return s.role(ctx, s.db, name, false)
}

// role loads a role, locking its row until the end of the transaction when forUpdate.
func (s *Store) role(ctx context.Context, d db.DBTX, name string, forUpdate bool) (Role, error) {
	get := s.q.RoleGet
	if forUpdate {
		get = s.q.RoleGetForUpdate
	}
	r, err := get(ctx, d, name)
	if errors.Is(err, pgx.ErrNoRows) {
		return Role{}, ErrRoleNotFound
	}
	if err != nil {
		return Role{}, mapError("get role", err)
	}
	return roleOf(r), nil
}

// RoleDetail loads a role with its permissions and clients; ErrRoleNotFound when there is none.
func (s *Store) RoleDetail(ctx context.Context, name string) (RoleDetail, error) {
	return s.roleDetail(ctx, s.db, name, false)
}

func (s *Store) roleDetail(ctx context.Context, d db.DBTX, name string, forUpdate bool) (RoleDetail, error) {
	role, err := s.role(ctx, d, name, forUpdate)
	if err != nil {
		return RoleDetail{}, err
	}
	clients, err := s.q.RoleClients(ctx, d, role.ID)
	if err != nil {
		return RoleDetail{}, mapError("list API clients of role", err)
	}
	perms, err := s.q.RolePermissions(ctx, d, role.ID)
	if err != nil {
		return RoleDetail{}, mapError("list permissions of role", err)
	}
	detail := RoleDetail{Role: role, Clients: clients, Permissions: make([]Permission, len(perms))}
	for i, p := range perms {
		detail.Permissions[i] = Permission{Name: p.Name, Description: orEmpty(p.Description)}
	}
	return detail, nil
}

// CreateRole creates a role; ErrConflict when the name is taken.
func (s *Store) CreateRole(ctx context.Context, name, description string) error {
	if _, err := s.Role(ctx, name); err == nil {
		return fmt.Errorf("create role: %w", ErrConflict)
	} else if !errors.Is(err, ErrNotFound) {
		return err
	}
	_, err := s.q.RoleCreate(ctx, s.db, db.RoleCreateParams{Name: name, Description: &description})
	if errors.Is(err, pgx.ErrNoRows) { // ON CONFLICT DO NOTHING: created concurrently
		return fmt.Errorf("create role: %w", ErrConflict)
	}
	return mapError("create role", err)
}

// DeleteRole deletes a role that nothing uses: ErrRoleNotFound, or a
// *RoleInUseError (ErrConflict) when clients or permissions still use it.
func (s *Store) DeleteRole(ctx context.Context, name string) error {
	// Checked under the role's lock, which grants also take: the foreign keys
	// would otherwise silently cascade to links made since a check outside it.
	return s.inTx(ctx, false, func(tx pgx.Tx) error {
		detail, err := s.roleDetail(ctx, tx, name, true)
		if err != nil {
			return err
		}
		if err := detail.InUse(); err != nil {
			return err
		}
		_, err = s.q.RoleDelete(ctx, tx, detail.ID)
		return mapError("delete role", err)
	})
}

// GrantRolePermission links a permission to a role and reports whether the link
// is new (false: the role already had it). ErrRoleNotFound or ErrPermissionNotFound
// when either is missing.
func (s *Store) GrantRolePermission(ctx context.Context, roleName, permissionName string) (granted bool, err error) {
	// Locking the role, then the permission, serialises concurrent grants (the
	// link has no unique constraint) and deletions of either.
	err = s.inTx(ctx, false, func(tx pgx.Tx) error {
		role, err := s.role(ctx, tx, roleName, true)
		if err != nil {
			return err
		}
		perm, err := s.permission(ctx, tx, permissionName, true)
		if err != nil {
			return err
		}
		n, err := s.q.RolePermissionGrant(ctx, tx, db.RolePermissionGrantParams{RoleID: role.ID, PermissionID: perm.ID})
		if err != nil {
			return mapError("grant permission", err)
		}
		granted = n > 0
		return nil
	})
	return granted, err
}

// RoleHasPermission reports whether the role holds the permission (by ids).
func (s *Store) RoleHasPermission(ctx context.Context, roleID, permissionID int32) (bool, error) {
	has, err := s.q.RolePermissionExists(ctx, s.db, db.RolePermissionExistsParams{RoleID: roleID, PermissionID: permissionID})
	return has, mapError("check role permission", err)
}

// RevokeRolePermission removes the link and reports whether there was one.
func (s *Store) RevokeRolePermission(ctx context.Context, roleID, permissionID int32) (bool, error) {
	n, err := s.q.RolePermissionRevoke(ctx, s.db, db.RolePermissionRevokeParams{RoleID: roleID, PermissionID: permissionID})
	return n > 0, mapError("revoke permission", err)
}

// PermissionInUseError refuses to delete a permission that roles hold (it is ErrConflict).
type PermissionInUseError struct{ Roles []string }

func (e *PermissionInUseError) Error() string {
	return "permission in use: held by roles " + strings.Join(e.Roles, ", ")
}

func (e *PermissionInUseError) Is(target error) bool { return target == ErrConflict }

// Permissions lists every permission, ordered by name.
func (s *Store) Permissions(ctx context.Context) ([]Permission, error) {
	rows, err := s.q.PermissionList(ctx, s.db)
	if err != nil {
		return nil, mapError("list permissions", err)
	}
	out := make([]Permission, len(rows))
	for i, r := range rows {
		out[i] = roleOf(db.Role(r))
	}
	return out, nil
}

// Permission loads a permission by name; ErrPermissionNotFound when there is none.
func (s *Store) Permission(ctx context.Context, name string) (Permission, error) {
	return s.permission(ctx, s.db, name, false)
}

func (s *Store) permission(ctx context.Context, d db.DBTX, name string, forUpdate bool) (Permission, error) {
	get := s.q.PermissionGet
	if forUpdate {
		get = s.q.PermissionGetForUpdate
	}
	p, err := get(ctx, d, name)
	if errors.Is(err, pgx.ErrNoRows) {
		return Permission{}, ErrPermissionNotFound
	}
	if err != nil {
		return Permission{}, mapError("get permission", err)
	}
	return roleOf(db.Role(p)), nil
}

// PermissionRoles loads a permission with the names of the roles holding it, in
// grant order; ErrPermissionNotFound when there is none.
func (s *Store) PermissionRoles(ctx context.Context, name string) (Permission, []string, error) {
	return s.permissionRoles(ctx, s.db, name, false)
}

func (s *Store) permissionRoles(ctx context.Context, d db.DBTX, name string, forUpdate bool) (Permission, []string, error) {
	perm, err := s.permission(ctx, d, name, forUpdate)
	if err != nil {
		return Permission{}, nil, err
	}
	roles, err := s.q.PermissionRoles(ctx, d, perm.ID)
	if err != nil {
		return Permission{}, nil, mapError("list roles of permission", err)
	}
	return perm, roles, nil
}

// CreatePermission creates a permission; ErrConflict when the name is taken.
func (s *Store) CreatePermission(ctx context.Context, name, description string) error {
	if _, err := s.Permission(ctx, name); err == nil {
		return fmt.Errorf("create permission: %w", ErrConflict)
	} else if !errors.Is(err, ErrNotFound) {
		return err
	}
	_, err := s.q.PermissionCreate(ctx, s.db, db.PermissionCreateParams{Name: name, Description: &description})
	if errors.Is(err, pgx.ErrNoRows) { // ON CONFLICT DO NOTHING: created concurrently
		return fmt.Errorf("create permission: %w", ErrConflict)
	}
	return mapError("create permission", err)
}

// DeletePermission deletes a permission no role holds: ErrPermissionNotFound,
// or a *PermissionInUseError (ErrConflict).
func (s *Store) DeletePermission(ctx context.Context, name string) error {
	// Checked under the permission's lock, which grants also take.
	return s.inTx(ctx, false, func(tx pgx.Tx) error {
		perm, roles, err := s.permissionRoles(ctx, tx, name, true)
		if err != nil {
			return err
		}
		if len(roles) > 0 {
			return &PermissionInUseError{Roles: roles}
		}
		_, err = s.q.PermissionDelete(ctx, tx, perm.ID)
		return mapError("delete permission", err)
	})
}

// rowsOrNotFound maps the result of an :execrows statement: no row changed is notFound.
func rowsOrNotFound(op string, n int64, err error, notFound error) error {
	if err != nil {
		return mapError(op, err)
	}
	if n == 0 {
		return notFound
	}
	return nil
}
