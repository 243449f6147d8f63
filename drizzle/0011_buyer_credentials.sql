CREATE INDEX "media_buys_credentials_idx" ON "media_buys" USING btree ("id") WHERE ("media_buys"."reporting_webhook" -> 'authentication') is not null;--> statement-breakpoint
CREATE INDEX "webhook_deliveries_credentials_idx" ON "webhook_deliveries" USING btree ("id") WHERE "webhook_deliveries"."authentication" is not null;--> statement-breakpoint
CREATE INDEX "workflow_steps_credentials_idx" ON "workflow_steps" USING btree ("id") WHERE ("workflow_steps"."push_notification_config" -> 'authentication') is not null;--> statement-breakpoint
-- Credentials are kept only where something signs with them: not in stored requests, nor a buy's push config, nor ended deliveries.
UPDATE "webhook_deliveries" SET "authentication" = null WHERE "authentication" is not null AND "status" <> 'pending';--> statement-breakpoint
UPDATE "media_buys" SET "push_notification_config" = jsonb_set("push_notification_config", '{authentication,credentials}', '"[not kept]"') WHERE jsonb_typeof("push_notification_config" #> '{authentication,credentials}') = 'string';--> statement-breakpoint
UPDATE "media_buys" SET "raw_request" = jsonb_set("raw_request", '{push_notification_config,authentication,credentials}', '"[not kept]"') WHERE jsonb_typeof("raw_request" #> '{push_notification_config,authentication,credentials}') = 'string';--> statement-breakpoint
UPDATE "media_buys" SET "raw_request" = jsonb_set("raw_request", '{reporting_webhook,authentication,credentials}', '"[not kept]"') WHERE jsonb_typeof("raw_request" #> '{reporting_webhook,authentication,credentials}') = 'string';--> statement-breakpoint
UPDATE "workflow_steps" SET "request" = jsonb_set("request", '{push_notification_config,authentication,credentials}', '"[not kept]"') WHERE jsonb_typeof("request" #> '{push_notification_config,authentication,credentials}') = 'string';--> statement-breakpoint
UPDATE "workflow_steps" SET "request" = jsonb_set("request", '{reporting_webhook,authentication,credentials}', '"[not kept]"') WHERE jsonb_typeof("request" #> '{reporting_webhook,authentication,credentials}') = 'string';
--> statement-breakpoint
UPDATE "media_buys" SET "raw_request" = jsonb_set("raw_request", '{artifact_webhook,authentication,credentials}', '"[not kept]"') WHERE jsonb_typeof("raw_request" #> '{artifact_webhook,authentication,credentials}') = 'string';--> statement-breakpoint
UPDATE "workflow_steps" SET "request" = jsonb_set("request", '{artifact_webhook,authentication,credentials}', '"[not kept]"') WHERE jsonb_typeof("request" #> '{artifact_webhook,authentication,credentials}') = 'string';--> statement-breakpoint
-- A finished task, and a buy whose last report is queued, sign nothing more (a delivery already queued
-- carries its own copy): the buyer's credentials leave them, whoever finishes them.
CREATE OR REPLACE FUNCTION sales_agent_drop_step_credentials() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.push_notification_config := NEW.push_notification_config - 'authentication';
  RETURN NEW;
END $$;--> statement-breakpoint
CREATE TRIGGER workflow_steps_drop_credentials BEFORE INSERT OR UPDATE ON "workflow_steps" FOR EACH ROW
  WHEN (NEW.status IN ('completed', 'failed', 'rejected', 'canceled') AND (NEW.push_notification_config -> 'authentication') IS NOT NULL)
  EXECUTE FUNCTION sales_agent_drop_step_credentials();--> statement-breakpoint
CREATE OR REPLACE FUNCTION sales_agent_drop_reporting_credentials() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.reporting_webhook := NEW.reporting_webhook - 'authentication';
  RETURN NEW;
END $$;--> statement-breakpoint
CREATE TRIGGER media_buys_drop_credentials BEFORE INSERT OR UPDATE ON "media_buys" FOR EACH ROW
  WHEN (NEW.reporting_next_at IS NULL AND (NEW.reporting_webhook -> 'authentication') IS NOT NULL)
  EXECUTE FUNCTION sales_agent_drop_reporting_credentials();--> statement-breakpoint
UPDATE "workflow_steps" SET "status" = "status" WHERE "status" IN ('completed', 'failed', 'rejected', 'canceled') AND ("push_notification_config" -> 'authentication') IS NOT NULL;--> statement-breakpoint
UPDATE "media_buys" SET "reporting_next_at" = "reporting_next_at" WHERE "reporting_next_at" IS NULL AND ("reporting_webhook" -> 'authentication') IS NOT NULL;
