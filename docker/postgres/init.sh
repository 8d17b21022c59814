#!/usr/bin/env bash
# Runs once, when the postgres container initialises an empty data volume
# (mounted into /docker-entrypoint-initdb.d/ by docker-compose.yml, as the
# POSTGRES_USER superuser). The passwords come from the container's environment
# (CRM_DB_PASSWORD, AIRFLOW_DB_PASSWORD: required in .env, docs/docker.md).
#
# crm        : the warehouse (CRM_WAREHOUSE_DSN / Airflow connection crm_warehouse)
# crm_sales  : the sales source system the simulator writes to (CRM_SALES_DSN)
# airflow    : Airflow's metadata database (AIRFLOW__DATABASE__SQL_ALCHEMY_CONN)
#
# Database owners may create schemas and, in PostgreSQL 15+, objects in the
# public schema (owned by pg_database_owner), which is all the loaders and dbt need.
set -e
psql -v ON_ERROR_STOP=1 -v crm_password="$CRM_DB_PASSWORD" -v airflow_password="$AIRFLOW_DB_PASSWORD" \
    --username "$POSTGRES_USER" --dbname postgres <<'SQL'
CREATE ROLE crm LOGIN PASSWORD :'crm_password';
CREATE DATABASE crm OWNER crm;
CREATE DATABASE crm_sales OWNER crm;

CREATE ROLE airflow LOGIN PASSWORD :'airflow_password';
CREATE DATABASE airflow OWNER airflow;
SQL
