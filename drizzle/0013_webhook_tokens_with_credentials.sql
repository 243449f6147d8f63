-- A webhook config's validation token (AdCP echoes it in every webhook payload) is a secret like the
-- credentials: it now lives in the config's authentication block, sealed, and goes wherever the credentials
-- go (re-sealed after a key rotation, dropped once nothing sends with them). Rows stored before: open tasks
-- and reports still to send move the token into the block (start-up then seals it); finished ones drop it;
-- records keep none; a pending delivery carries it with its credentials, not in its payload.
UPDATE "workflow_steps" SET "push_notification_config" = ("push_notification_config" - 'token')
    || jsonb_build_object('authentication', coalesce("push_notification_config" -> 'authentication', '{}'::jsonb) || jsonb_build_object('token', "push_notification_config" -> 'token'))
  WHERE jsonb_typeof("push_notification_config" -> 'token') = 'string' AND "status" NOT IN ('completed', 'failed', 'rejected', 'canceled');--> statement-breakpoint
UPDATE "workflow_steps" SET "push_notification_config" = "push_notification_config" - 'token' WHERE "push_notification_config" ? 'token';--> statement-breakpoint
UPDATE "media_buys" SET "reporting_webhook" = ("reporting_webhook" - 'token')
    || jsonb_build_object('authentication', coalesce("reporting_webhook" -> 'authentication', '{}'::jsonb) || jsonb_build_object('token', "reporting_webhook" -> 'token'))
  WHERE jsonb_typeof("reporting_webhook" -> 'token') = 'string' AND "reporting_next_at" IS NOT NULL;--> statement-breakpoint
UPDATE "media_buys" SET "reporting_webhook" = "reporting_webhook" - 'token' WHERE "reporting_webhook" ? 'token';--> statement-breakpoint
UPDATE "media_buys" SET "push_notification_config" = jsonb_set("push_notification_config", '{token}', '"[not kept]"') WHERE jsonb_typeof("push_notification_config" -> 'token') = 'string';--> statement-breakpoint
UPDATE "media_buys" SET "raw_request" = jsonb_set("raw_request", '{push_notification_config,token}', '"[not kept]"') WHERE jsonb_typeof("raw_request" #> '{push_notification_config,token}') = 'string';--> statement-breakpoint
UPDATE "media_buys" SET "raw_request" = jsonb_set("raw_request", '{reporting_webhook,token}', '"[not kept]"') WHERE jsonb_typeof("raw_request" #> '{reporting_webhook,token}') = 'string';--> statement-breakpoint
UPDATE "workflow_steps" SET "request" = jsonb_set("request", '{push_notification_config,token}', '"[not kept]"') WHERE jsonb_typeof("request" #> '{push_notification_config,token}') = 'string';--> statement-breakpoint
UPDATE "workflow_steps" SET "request" = jsonb_set("request", '{reporting_webhook,token}', '"[not kept]"') WHERE jsonb_typeof("request" #> '{reporting_webhook,token}') = 'string';--> statement-breakpoint
UPDATE "media_buys" SET "raw_request" = jsonb_set("raw_request", '{artifact_webhook,token}', '"[not kept]"') WHERE jsonb_typeof("raw_request" #> '{artifact_webhook,token}') = 'string';--> statement-breakpoint
UPDATE "workflow_steps" SET "request" = jsonb_set("request", '{artifact_webhook,token}', '"[not kept]"') WHERE jsonb_typeof("request" #> '{artifact_webhook,token}') = 'string';--> statement-breakpoint
UPDATE "webhook_deliveries" SET "authentication" = coalesce("authentication", '{}'::jsonb) || jsonb_build_object('token', "payload" -> 'token'), "payload" = "payload" - 'token'
  WHERE "status" = 'pending' AND jsonb_typeof("payload" -> 'token') = 'string';--> statement-breakpoint
UPDATE "webhook_deliveries" SET "payload" = "payload" - 'token' WHERE "status" <> 'pending' AND "payload" ? 'token';
