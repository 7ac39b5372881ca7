-- Roles, permissions and their links (role_permissions, api_client_roles), for
-- the `ctms roles`, `ctms permissions` and `ctms clients grant|revoke`
-- commands.
--
-- The schema has no unique constraint on (role_id, permission_id) nor on
-- (api_client_id, role_id): the *Grant queries insert a link only when it is
-- missing, and callers serialise grants by locking the role row first
-- (RoleGetForUpdate). Listings of links follow link order (id); a duplicate
-- link left by older data shows once per row, as in the Python CLI.

-- RoleGet returns one role by name (pgx.ErrNoRows if there is none).
-- name: RoleGet :one
SELECT * FROM roles WHERE name = @name;

-- RoleGetForUpdate is RoleGet that also locks the row until the end of the
-- transaction (grants to the role and its deletion take this lock).
-- name: RoleGetForUpdate :one
SELECT * FROM roles WHERE name = @name FOR UPDATE;

-- RoleList returns every role; the Python CLI has no order, we sort for
-- stable output.
-- name: RoleList :many
SELECT * FROM roles ORDER BY name;

-- RoleCreate inserts a role. It returns no row (pgx.ErrNoRows) when the name
-- is already taken.
-- name: RoleCreate :one
INSERT INTO roles (name, description)
VALUES (@name, @description)
ON CONFLICT (name) DO NOTHING
RETURNING *;

-- RoleDelete removes a role; it returns 0 if the role is gone.
-- name: RoleDelete :execrows
DELETE FROM roles WHERE id = @id;

-- RolePermissions lists the permissions linked to a role, with their
-- descriptions, in grant order.
-- name: RolePermissions :many
SELECT p.name, p.description
FROM role_permissions rp
JOIN permissions p ON p.id = rp.permission_id
WHERE rp.role_id = @role_id
ORDER BY rp.id;

-- RoleClients lists the ids of the API clients holding a role, in grant
-- order.
-- name: RoleClients :many
SELECT api_client_id
FROM api_client_roles
WHERE role_id = @role_id
ORDER BY id;

-- RolePermissionExists reports whether a role holds a permission.
-- name: RolePermissionExists :one
SELECT EXISTS (
    SELECT 1 FROM role_permissions
    WHERE role_id = @role_id AND permission_id = @permission_id
);

-- RolePermissionGrant links a permission to a role unless the link exists; it
-- returns 0 when the role already had the permission.
-- name: RolePermissionGrant :execrows
INSERT INTO role_permissions (role_id, permission_id)
SELECT @role_id::integer, @permission_id::integer
WHERE NOT EXISTS (
    SELECT 1 FROM role_permissions
    WHERE role_id = @role_id AND permission_id = @permission_id
);

-- RolePermissionRevoke removes every link between a role and a permission;
-- it returns 0 when there was none.
-- name: RolePermissionRevoke :execrows
DELETE FROM role_permissions
WHERE role_id = @role_id AND permission_id = @permission_id;

-- PermissionGet returns one permission by name (pgx.ErrNoRows if there is
-- none).
-- name: PermissionGet :one
SELECT * FROM permissions WHERE name = @name;

-- PermissionGetForUpdate is PermissionGet that also locks the row until the
-- end of the transaction (grants of the permission and its deletion take this
-- lock).
-- name: PermissionGetForUpdate :one
SELECT * FROM permissions WHERE name = @name FOR UPDATE;

-- PermissionList returns every permission, sorted for stable output.
-- name: PermissionList :many
SELECT * FROM permissions ORDER BY name;

-- PermissionCreate inserts a permission. It returns no row (pgx.ErrNoRows)
-- when the name is already taken.
-- name: PermissionCreate :one
INSERT INTO permissions (name, description)
VALUES (@name, @description)
ON CONFLICT (name) DO NOTHING
RETURNING *;

-- PermissionDelete removes a permission; it returns 0 if it is gone.
-- name: PermissionDelete :execrows
DELETE FROM permissions WHERE id = @id;

-- PermissionRoles lists the names of the roles holding a permission, in grant
-- order.
-- name: PermissionRoles :many
SELECT r.name
FROM role_permissions rp
JOIN roles r ON r.id = rp.role_id
WHERE rp.permission_id = @permission_id
ORDER BY rp.id;

-- APIClientRoleExists reports whether an API client holds a role.
-- name: APIClientRoleExists :one
SELECT EXISTS (
    SELECT 1 FROM api_client_roles
    WHERE api_client_id = @client_id AND role_id = @role_id
);

-- APIClientRoleGrant assigns a role to an API client unless it has it; it
-- returns 0 when the client already had the role.
-- name: APIClientRoleGrant :execrows
INSERT INTO api_client_roles (api_client_id, role_id)
SELECT @client_id::varchar, @role_id::integer
WHERE NOT EXISTS (
    SELECT 1 FROM api_client_roles
    WHERE api_client_id = @client_id AND role_id = @role_id
);

-- APIClientRoleRevoke removes every assignment of a role to an API client; it
-- returns 0 when there was none.
-- name: APIClientRoleRevoke :execrows
DELETE FROM api_client_roles
WHERE api_client_id = @client_id AND role_id = @role_id;
