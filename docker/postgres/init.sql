-- Runs once, when the postgres container initialises an empty data volume
-- (mounted into /docker-entrypoint-initdb.d/ by docker-compose.yml, executed
-- by psql as the POSTGRES_USER superuser with ON_ERROR_STOP).
--
-- crm        : the warehouse (CRM_WAREHOUSE_DSN / Airflow connection crm_warehouse)
-- crm_sales  : the sales source system the simulator writes to (CRM_SALES_DSN)
-- airflow    : Airflow's metadata database (AIRFLOW__DATABASE__SQL_ALCHEMY_CONN)
--
-- Database owners may create schemas and, in PostgreSQL 15+, objects in the
-- public schema (owned by pg_database_owner), which is all the loaders and dbt need.

CREATE ROLE crm LOGIN PASSWORD 'crm';
CREATE DATABASE crm OWNER crm;
CREATE DATABASE crm_sales OWNER crm;

CREATE ROLE airflow LOGIN PASSWORD 'airflow';
CREATE DATABASE airflow OWNER airflow;
