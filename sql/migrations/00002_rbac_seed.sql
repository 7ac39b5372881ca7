-- Seed data for RBAC (data only, no schema change): the permissions the API knows
-- about and the `admin` role holding all of them. Idempotent: rows that already
-- exist (for example on a database taken over from the Python CTMS) are left as
-- they are, and only missing links are added.

-- +goose Up
INSERT INTO permissions (name, description) VALUES
    ('view_contacts', 'Read contacts and identities'),
    ('manage_contacts', 'Create and update contacts'),
    ('delete_contacts', 'Delete contacts')
ON CONFLICT (name) DO NOTHING;

INSERT INTO roles (name, description) VALUES ('admin', 'Every permission')
ON CONFLICT (name) DO NOTHING;

INSERT INTO role_permissions (role_id, permission_id)
SELECT r.id, p.id
FROM roles r
JOIN permissions p ON p.name IN ('view_contacts', 'manage_contacts', 'delete_contacts')
WHERE r.name = 'admin'
  AND NOT EXISTS (
      SELECT 1 FROM role_permissions rp WHERE rp.role_id = r.id AND rp.permission_id = p.id
  )
ORDER BY p.id;

-- +goose Down
-- Intentionally a no-op: the seeded rows may have existed before this migration,
-- and may since have been assigned to API clients, so removing them could take
-- access away. Remove them with `ctms roles` / `ctms permissions` if needed.
SELECT 1;
