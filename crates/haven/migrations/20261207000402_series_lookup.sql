-- Which organization holds an appointment series: a request for another tenant's series is told
-- apart from a request for nothing, so it is audited as cross-tenant. Returns the id only.
CREATE INDEX appointment_series_id ON appointment_series (id);

CREATE FUNCTION haven_auth.appointment_series_organization(p_series_id uuid)
    RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT s.organization_id FROM public.appointment_series s WHERE s.id = p_series_id $$;
REVOKE ALL ON FUNCTION haven_auth.appointment_series_organization(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION haven_auth.appointment_series_organization(uuid) TO haven_app;
