-- A buyer's token replaced (rotated in the console, reseeded) or the buyer removed is announced on the
-- events channel, whoever makes the change, so every replica's token cache forgets that buyer at once:
-- the old token stops working everywhere when the change commits, not up to the cache's lifetime later.
CREATE OR REPLACE FUNCTION sales_agent_principal_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('sales_agent_events', json_build_object('kind', 'principal', 'tenant_id', OLD.tenant_id, 'principal_id', OLD.id, 'at', now())::text);
  RETURN NULL;
END
$$;--> statement-breakpoint
CREATE TRIGGER principals_token_changed AFTER UPDATE OF token_hash ON principals
  FOR EACH ROW WHEN (OLD.token_hash IS DISTINCT FROM NEW.token_hash) EXECUTE FUNCTION sales_agent_principal_changed();--> statement-breakpoint
CREATE TRIGGER principals_deleted AFTER DELETE ON principals
  FOR EACH ROW EXECUTE FUNCTION sales_agent_principal_changed();
