#!/bin/sh
# Run by the postgres image when it creates its database (the first start of its volume): the
# role BI tools sign in as. It may log in and see the schema; migration 014 grants it SELECT on
# the bi_ views (and on nothing else) when the role exists by then. For a database created
# before this file, run these statements and the README's grant (BI views) once with psql.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -v password="$KPI_BI_DB_PASSWORD" -v db="$POSTGRES_DB" <<'SQL'
create role kpi_bi login password :'password' nosuperuser nocreatedb nocreaterole noinherit;
grant connect on database :"db" to kpi_bi;
grant usage on schema public to kpi_bi;
alter role kpi_bi set default_transaction_read_only = on;
SQL
