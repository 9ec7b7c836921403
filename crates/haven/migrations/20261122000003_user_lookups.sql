-- Which organization holds a user: lets a request for another tenant's user be told apart from a
-- request for nobody, so the attempt can be audited as cross-tenant (the caller still gets 404).
CREATE FUNCTION haven_auth.user_organization(p_user_id uuid)
    RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT u.organization_id FROM public.users u WHERE u.id = p_user_id $$;
REVOKE ALL ON FUNCTION haven_auth.user_organization(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION haven_auth.user_organization(uuid) TO haven_app;

CREATE INDEX users_id ON users (id);
