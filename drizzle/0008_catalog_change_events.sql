-- Every change to what a tenant sells (products, pricing options, adapter configurations, the tenant's
-- settings) is announced on the events channel, whoever makes it (the console, the seed, psql), so
-- per-process catalogue caches drop the tenant's entry. One announcement per tenant and transaction:
-- Postgres folds identical notifications of a transaction into one.
CREATE OR REPLACE FUNCTION sales_agent_catalog_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  tenant text;
BEGIN
  IF TG_TABLE_NAME = 'tenants' THEN
    tenant := coalesce(NEW.id, OLD.id);
  ELSE
    tenant := coalesce(NEW.tenant_id, OLD.tenant_id);
  END IF;
  PERFORM pg_notify('sales_agent_events', json_build_object('kind', 'catalog', 'tenant_id', tenant, 'at', now())::text);
  RETURN NULL;
END
$$;--> statement-breakpoint
CREATE TRIGGER products_changed AFTER INSERT OR UPDATE OR DELETE ON products
  FOR EACH ROW EXECUTE FUNCTION sales_agent_catalog_changed();--> statement-breakpoint
CREATE TRIGGER pricing_options_changed AFTER INSERT OR UPDATE OR DELETE ON pricing_options
  FOR EACH ROW EXECUTE FUNCTION sales_agent_catalog_changed();--> statement-breakpoint
CREATE TRIGGER adapter_configs_changed AFTER INSERT OR UPDATE OR DELETE ON adapter_configs
  FOR EACH ROW EXECUTE FUNCTION sales_agent_catalog_changed();--> statement-breakpoint
CREATE TRIGGER tenants_changed AFTER INSERT OR UPDATE OR DELETE ON tenants
  FOR EACH ROW EXECUTE FUNCTION sales_agent_catalog_changed();
