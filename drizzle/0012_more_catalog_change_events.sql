-- Publisher properties and creative formats join the announced catalogue (0008), so the per-process
-- catalogue cache can hold them too: get_adcp_capabilities, list_authorized_properties and
-- list_creative_formats then answer without a query.
CREATE TRIGGER publisher_properties_changed AFTER INSERT OR UPDATE OR DELETE ON publisher_properties
  FOR EACH ROW EXECUTE FUNCTION sales_agent_catalog_changed();--> statement-breakpoint
CREATE TRIGGER creative_formats_changed AFTER INSERT OR UPDATE OR DELETE ON creative_formats
  FOR EACH ROW EXECUTE FUNCTION sales_agent_catalog_changed();
