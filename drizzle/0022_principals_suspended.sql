ALTER TABLE "principals" ADD COLUMN "suspended_at" timestamp with time zone;--> statement-breakpoint
-- Suspending or reinstating a buyer is announced like a token change, so every replica's token cache (and the
-- buyer's open MCP sessions) sees it at once.
DROP TRIGGER principals_token_changed ON principals;--> statement-breakpoint
CREATE TRIGGER principals_token_changed AFTER UPDATE OF token_hash, suspended_at ON principals
  FOR EACH ROW WHEN (OLD.token_hash IS DISTINCT FROM NEW.token_hash OR OLD.suspended_at IS DISTINCT FROM NEW.suspended_at)
  EXECUTE FUNCTION sales_agent_principal_changed();
