-- The Python CTMS schema at alembic head 2b00e4069aea, object for object (names of
-- constraints, indexes and sequences included), so a database created here and one
-- built by alembic are interchangeable. On an existing Python CTMS database this
-- migration is recorded as applied without running it (internal/migrate).

-- +goose Up
CREATE EXTENSION IF NOT EXISTS "uuid-ossp";

CREATE TABLE alembic_version (
    version_num varchar(32) NOT NULL,
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
INSERT INTO alembic_version (version_num) VALUES ('2b00e4069aea');

CREATE TABLE emails (
    email_id               uuid         NOT NULL DEFAULT uuid_generate_v4(),
    primary_email          varchar(255) NOT NULL,
    basket_token           varchar(255),
    sfdc_id                varchar(255),
    first_name             varchar(255),
    last_name              varchar(255),
    mailing_country        varchar(255),
    email_format           varchar(1),
    email_lang             varchar(5),
    has_opted_out_of_email boolean,
    unsubscribe_reason     text,
    create_timestamp       timestamptz  NOT NULL DEFAULT now(),
    update_timestamp       timestamptz  NOT NULL DEFAULT now(),
    double_opt_in          boolean,
    CONSTRAINT emails_pkey PRIMARY KEY (email_id),
    CONSTRAINT emails_basket_token_key UNIQUE (basket_token),
    CONSTRAINT emails_primary_email_key UNIQUE (primary_email)
);
CREATE INDEX bulk_read_index ON emails (update_timestamp, email_id);
CREATE UNIQUE INDEX idx_email_primary_unique_email_lower ON emails (lower(primary_email));
CREATE INDEX ix_emails_sfdc_id ON emails (sfdc_id);

CREATE TABLE amo (
    id               serial       NOT NULL,
    email_id         uuid         NOT NULL,
    add_on_ids       varchar(500),
    display_name     varchar(255),
    email_opt_in     boolean,
    language         varchar(5),
    last_login       date,
    location         varchar(255),
    profile_url      varchar(40),
    "user"           boolean,
    user_id          varchar(40),
    username         varchar(100),
    create_timestamp timestamptz  NOT NULL DEFAULT now(),
    update_timestamp timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT amo_pkey PRIMARY KEY (id),
    CONSTRAINT amo_email_id_key UNIQUE (email_id),
    CONSTRAINT amo_email_id_fkey FOREIGN KEY (email_id) REFERENCES emails (email_id)
);
CREATE INDEX ix_amo_user_id ON amo (user_id);

CREATE TABLE fxa (
    id               serial       NOT NULL,
    fxa_id           varchar(255),
    email_id         uuid         NOT NULL,
    primary_email    varchar(255),
    created_date     varchar(50),
    lang             varchar(255),
    first_service    varchar(50),
    account_deleted  boolean,
    create_timestamp timestamptz  NOT NULL DEFAULT now(),
    update_timestamp timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT fxa_pkey PRIMARY KEY (id),
    CONSTRAINT fxa_email_id_key UNIQUE (email_id),
    CONSTRAINT fxa_fxa_id_key UNIQUE (fxa_id),
    CONSTRAINT fxa_email_id_fkey FOREIGN KEY (email_id) REFERENCES emails (email_id)
);
CREATE INDEX ix_fxa_primary_email ON fxa (primary_email);
CREATE INDEX idx_fxa_primary_email_lower ON fxa (lower(primary_email));

CREATE TABLE mofo (
    id               serial       NOT NULL,
    email_id         uuid         NOT NULL,
    mofo_email_id    varchar(255),
    mofo_contact_id  varchar(255),
    mofo_relevant    boolean,
    create_timestamp timestamptz  NOT NULL DEFAULT now(),
    update_timestamp timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT mofo_pkey PRIMARY KEY (id),
    CONSTRAINT mofo_email_id_key UNIQUE (email_id),
    CONSTRAINT mofo_mofo_email_id_key UNIQUE (mofo_email_id),
    CONSTRAINT mofo_email_id_fkey FOREIGN KEY (email_id) REFERENCES emails (email_id)
);
CREATE INDEX ix_mofo_mofo_contact_id ON mofo (mofo_contact_id);

CREATE TABLE newsletters (
    id               serial       NOT NULL,
    email_id         uuid         NOT NULL,
    name             varchar(255) NOT NULL,
    subscribed       boolean,
    format           varchar(1),
    lang             varchar(5),
    source           text,
    unsub_reason     text,
    create_timestamp timestamptz  NOT NULL DEFAULT now(),
    update_timestamp timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT newsletters_pkey PRIMARY KEY (id),
    CONSTRAINT uix_email_name UNIQUE (email_id, name),
    CONSTRAINT newsletters_email_id_fkey FOREIGN KEY (email_id) REFERENCES emails (email_id)
);

CREATE TABLE waitlists (
    id               serial       NOT NULL,
    email_id         uuid         NOT NULL,
    name             varchar(255) NOT NULL,
    source           text,
    fields           json         NOT NULL DEFAULT '{}'::json,
    create_timestamp timestamptz  NOT NULL DEFAULT now(),
    update_timestamp timestamptz  NOT NULL DEFAULT now(),
    subscribed       boolean      NOT NULL,
    unsub_reason     text,
    CONSTRAINT waitlists_pkey PRIMARY KEY (id),
    CONSTRAINT uix_wl_email_name UNIQUE (email_id, name),
    CONSTRAINT waitlists_email_id_fkey FOREIGN KEY (email_id) REFERENCES emails (email_id)
);

CREATE TABLE api_client (
    client_id        varchar(255) NOT NULL,
    email            varchar(255) NOT NULL,
    enabled          boolean,
    hashed_secret    varchar      NOT NULL,
    create_timestamp timestamptz  NOT NULL DEFAULT now(),
    update_timestamp timestamptz  NOT NULL DEFAULT now(),
    last_access      timestamptz,
    CONSTRAINT api_client_pkey PRIMARY KEY (client_id)
);

CREATE TABLE permissions (
    id          serial       NOT NULL,
    name        varchar(255) NOT NULL,
    description text,
    CONSTRAINT permissions_pkey PRIMARY KEY (id),
    CONSTRAINT permissions_name_key UNIQUE (name)
);

CREATE TABLE roles (
    id          serial       NOT NULL,
    name        varchar(255) NOT NULL,
    description text,
    CONSTRAINT roles_pkey PRIMARY KEY (id),
    CONSTRAINT roles_name_key UNIQUE (name)
);

-- No unique constraint on (api_client_id, role_id) nor on (role_id, permission_id):
-- the Python schema has none.
CREATE TABLE api_client_roles (
    id            serial       NOT NULL,
    api_client_id varchar(255) NOT NULL,
    role_id       integer      NOT NULL,
    CONSTRAINT api_client_roles_pkey PRIMARY KEY (id),
    CONSTRAINT api_client_roles_api_client_id_fkey FOREIGN KEY (api_client_id)
        REFERENCES api_client (client_id) ON DELETE CASCADE,
    CONSTRAINT api_client_roles_role_id_fkey FOREIGN KEY (role_id)
        REFERENCES roles (id) ON DELETE CASCADE
);

CREATE TABLE role_permissions (
    id            serial  NOT NULL,
    role_id       integer NOT NULL,
    permission_id integer NOT NULL,
    CONSTRAINT role_permissions_pkey PRIMARY KEY (id),
    CONSTRAINT role_permissions_permission_id_fkey FOREIGN KEY (permission_id)
        REFERENCES permissions (id) ON DELETE CASCADE,
    CONSTRAINT role_permissions_role_id_fkey FOREIGN KEY (role_id)
        REFERENCES roles (id) ON DELETE CASCADE
);

-- +goose Down
DROP TABLE role_permissions;
DROP TABLE api_client_roles;
DROP TABLE roles;
DROP TABLE permissions;
DROP TABLE api_client;
DROP TABLE waitlists;
DROP TABLE newsletters;
DROP TABLE mofo;
DROP TABLE fxa;
DROP TABLE amo;
DROP TABLE emails;
DROP TABLE alembic_version;
DROP EXTENSION IF EXISTS "uuid-ossp";
