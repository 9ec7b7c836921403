-- Emails are stored in canonical form from now on: NFKC, then lowercase (src/domain/email.rs
-- produces it before an address reaches SQL; the unique index and haven_auth.find_login_user keep
-- comparing lower(email), which is the identity on canonical text in any collation).
--
-- Bring existing rows to that form where SQL can: NFKC and lower(). A row whose canonical form
-- would equal another row's (a look-alike account made before this change, e.g. with a Kelvin
-- sign or fullwidth letters) is left as it is: it can no longer be reached by login, since a
-- typed address is canonicalised first, and an operator decides what becomes of it. In a
-- database with the C collation lower() changes ASCII letters only, which is all earlier
-- versions of Haven could have compared anyway.
WITH canonical AS (
    SELECT organization_id, id, pg_catalog.lower(pg_catalog.normalize(email, 'NFKC')) AS email
    FROM users
), unique_canonical AS (
    SELECT c.organization_id, c.id, c.email
    FROM canonical c
    WHERE pg_catalog.length(c.email) BETWEEN 3 AND 254
      AND (SELECT pg_catalog.count(*) FROM canonical o WHERE o.email = c.email) = 1
      AND NOT EXISTS (
          SELECT 1 FROM users o
          WHERE pg_catalog.lower(o.email) = c.email AND (o.organization_id, o.id) <> (c.organization_id, c.id)
      )
)
UPDATE users u
SET email = uc.email, updated_at = pg_catalog.now()
FROM unique_canonical uc
WHERE u.organization_id = uc.organization_id AND u.id = uc.id AND u.email <> uc.email;

DO $$
DECLARE
    left_over bigint;
BEGIN
    SELECT pg_catalog.count(*) INTO left_over
    FROM public.users
    WHERE email <> pg_catalog.lower(pg_catalog.normalize(email, 'NFKC'));
    IF left_over > 0 THEN
        RAISE WARNING 'canonical_emails: % user email(s) collide with another account once normalised and were left unchanged', left_over;
    END IF;
END
$$;
