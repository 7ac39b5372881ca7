-- name: APIClientAccess :one
-- Everything request authentication needs, in one round trip: the client, whether
-- it holds the role "admin" (every permission), and the permissions of its roles.
SELECT
  c.client_id, c.enabled, c.hashed_secret,
  EXISTS (
    SELECT 1 FROM api_client_roles cr JOIN roles r ON r.id = cr.role_id
    WHERE cr.api_client_id = c.client_id AND r.name = 'admin'
  ) AS is_admin,
  ARRAY(
    SELECT DISTINCT p.name::text FROM api_client_roles cr
    JOIN role_permissions rp ON rp.role_id = cr.role_id
    JOIN permissions p ON p.id = rp.permission_id
    WHERE cr.api_client_id = c.client_id
  )::text[] AS permissions
FROM api_client c
WHERE c.client_id = @client_id;
