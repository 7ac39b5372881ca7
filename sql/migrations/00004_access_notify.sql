-- Every change to what a server caches about access (API clients, their roles, the roles'
-- permissions, waitlist field rules) notifies the channel ctms_access, whoever makes it:
-- `ctms` admin commands, psql, or the Python CTMS sharing the database. Running servers
-- listen on it and drop their caches (internal/accessfeed). The triggers run after the
-- change and only call pg_notify, so they cannot alter what any writer reads or writes;
-- notifications are sent at commit and never for a rolled-back change.
--
-- api_client's row trigger ignores updates of the other columns: each server stamps
-- last_access about once a minute per client, which must not empty every cache.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION ctms_notify_access_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('ctms_access', TG_TABLE_NAME);
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER ctms_access_notify AFTER INSERT OR DELETE OR TRUNCATE ON api_client
    FOR EACH STATEMENT EXECUTE FUNCTION ctms_notify_access_change();
CREATE TRIGGER ctms_access_notify_update AFTER UPDATE ON api_client
    FOR EACH ROW WHEN (OLD.enabled IS DISTINCT FROM NEW.enabled
        OR OLD.hashed_secret IS DISTINCT FROM NEW.hashed_secret
        OR OLD.client_id IS DISTINCT FROM NEW.client_id)
    EXECUTE FUNCTION ctms_notify_access_change();
CREATE TRIGGER ctms_access_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON roles
    FOR EACH STATEMENT EXECUTE FUNCTION ctms_notify_access_change();
CREATE TRIGGER ctms_access_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON permissions
    FOR EACH STATEMENT EXECUTE FUNCTION ctms_notify_access_change();
CREATE TRIGGER ctms_access_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON api_client_roles
    FOR EACH STATEMENT EXECUTE FUNCTION ctms_notify_access_change();
CREATE TRIGGER ctms_access_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON role_permissions
    FOR EACH STATEMENT EXECUTE FUNCTION ctms_notify_access_change();
CREATE TRIGGER ctms_access_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON waitlist_field_rules
    FOR EACH STATEMENT EXECUTE FUNCTION ctms_notify_access_change();

-- +goose Down
DROP TRIGGER ctms_access_notify ON waitlist_field_rules;
DROP TRIGGER ctms_access_notify ON role_permissions;
DROP TRIGGER ctms_access_notify ON api_client_roles;
DROP TRIGGER ctms_access_notify ON permissions;
DROP TRIGGER ctms_access_notify ON roles;
DROP TRIGGER ctms_access_notify_update ON api_client;
DROP TRIGGER ctms_access_notify ON api_client;
DROP FUNCTION ctms_notify_access_change();
