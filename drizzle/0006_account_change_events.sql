-- Every change to an account is announced on the events channel, whoever makes it (buying tools, the
-- test controller, the seller console, psql), so per-process account caches drop the tenant's entries.
CREATE OR REPLACE FUNCTION sales_agent_account_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('sales_agent_events', json_build_object('kind', 'account', 'tenant_id', coalesce(NEW.tenant_id, OLD.tenant_id), 'at', now())::text);
  RETURN NULL;
END
$$;--> statement-breakpoint
CREATE TRIGGER accounts_changed AFTER INSERT OR UPDATE OR DELETE ON accounts
  FOR EACH ROW EXECUTE FUNCTION sales_agent_account_changed();
