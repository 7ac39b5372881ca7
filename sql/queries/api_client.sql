-- APIClientGet returns one API client (pgx.ErrNoRows if there is none).
-- name: APIClientGet :one
SELECT * FROM api_client WHERE client_id = @client_id;

-- APIClientList returns every client; the Python CLI has no order, we sort
-- for stable output.
-- name: APIClientList :many
SELECT * FROM api_client ORDER BY client_id;

-- APIClientCreate inserts a client. It returns no row (pgx.ErrNoRows) when
-- the client_id is already taken.
-- name: APIClientCreate :one
INSERT INTO api_client (client_id, email, enabled, hashed_secret)
VALUES (@client_id, @email, @enabled, @hashed_secret)
ON CONFLICT (client_id) DO NOTHING
RETURNING *;

-- APIClientUpdateEnabled sets enabled; it returns 0 if the client is gone.
-- name: APIClientUpdateEnabled :execrows
UPDATE api_client
SET enabled = @enabled, update_timestamp = now()
WHERE client_id = @client_id;

-- APIClientUpdateSecret stores a new secret hash; it returns 0 if the client
-- is gone.
-- name: APIClientUpdateSecret :execrows
UPDATE api_client
SET hashed_secret = @hashed_secret, update_timestamp = now()
WHERE client_id = @client_id;

-- APIClientDelete removes the client and its role assignments in one
-- statement, without relying on the foreign key's ON DELETE CASCADE.
-- name: APIClientDelete :execrows
WITH assignments AS (
    DELETE FROM api_client_roles WHERE api_client_id = @client_id
)
DELETE FROM api_client WHERE client_id = @client_id;

-- APIClientTouchLastAccess records an authenticated request, at most once a
-- minute per client so that reads do not all turn into writes.
-- name: APIClientTouchLastAccess :execrows
UPDATE api_client
SET last_access = now(), update_timestamp = now()
WHERE client_id = @client_id
  AND (last_access IS NULL OR last_access < now() - interval '1 minute');

-- APIClientListEnabledIDs feeds the metric label pre-creation at start-up;
-- NULL enabled counts as disabled.
-- name: APIClientListEnabledIDs :many
SELECT client_id FROM api_client WHERE enabled ORDER BY client_id;

-- APIClientRoles lists the names of the roles assigned to a client, in
-- assignment order.
-- name: APIClientRoles :many
SELECT r.name
FROM api_client_roles acr
JOIN roles r ON r.id = acr.role_id
WHERE acr.api_client_id = @client_id
ORDER BY acr.id;
