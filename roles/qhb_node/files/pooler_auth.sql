-- Managed by the qhb.qluster.qhb_node role (tasks/db_roles.yml). PgBouncer's auth_query: the pooler's
-- auth role (psql variable auth_user) may call this one function, which returns the password
-- verifier of a role that may log in (not a replication-only one), and nothing else of pg_authid.
CREATE SCHEMA IF NOT EXISTS qluster;
REVOKE ALL ON SCHEMA qluster FROM PUBLIC;
GRANT USAGE ON SCHEMA qluster TO :"auth_user";

CREATE OR REPLACE FUNCTION qluster.pooler_auth(p_user text)
  RETURNS TABLE (usename name, passwd text)
  LANGUAGE sql STABLE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT rolname, rolpassword
    FROM pg_catalog.pg_authid
   WHERE rolname = p_user
     AND rolcanlogin
     AND (rolsuper OR NOT rolreplication)  -- not the replication role: it has no business here
     AND (rolvaliduntil IS NULL OR rolvaliduntil > now())
$$;
REVOKE ALL ON FUNCTION qluster.pooler_auth(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION qluster.pooler_auth(text) TO :"auth_user";
COMMENT ON FUNCTION qluster.pooler_auth(text) IS :'version';
