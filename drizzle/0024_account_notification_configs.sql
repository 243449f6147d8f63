CREATE TABLE "account_notification_configs" (
	"account_id" text NOT NULL,
	"subscriber_id" text NOT NULL,
	"tenant_id" text NOT NULL,
	"principal_id" text NOT NULL,
	"position" integer NOT NULL,
	"url" text NOT NULL,
	"event_types" jsonb NOT NULL,
	"authentication" jsonb,
	"active" boolean NOT NULL,
	"proof" text,
	"proved_at" timestamp with time zone,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "account_notification_configs_account_id_subscriber_id_pk" PRIMARY KEY("account_id","subscriber_id")
);
--> statement-breakpoint
ALTER TABLE "workflow_steps" ADD COLUMN "request_credentials" jsonb;--> statement-breakpoint
ALTER TABLE "account_notification_configs" ADD CONSTRAINT "account_notification_configs_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "account_notification_configs" ADD CONSTRAINT "account_notification_configs_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "account_notification_configs" ADD CONSTRAINT "account_notification_configs_principal_id_principals_id_fk" FOREIGN KEY ("principal_id") REFERENCES "public"."principals"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "account_notification_configs_credentials_idx" ON "account_notification_configs" USING btree ("account_id") WHERE "account_notification_configs"."authentication" is not null;--> statement-breakpoint
-- A finished task signs nothing more: the credentials its job needed leave it too, whoever finishes it.
CREATE OR REPLACE FUNCTION sales_agent_drop_step_credentials() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.push_notification_config := NEW.push_notification_config - 'authentication';
  NEW.request_credentials := null;
  RETURN NEW;
END $$;--> statement-breakpoint
DROP TRIGGER workflow_steps_drop_credentials ON "workflow_steps";--> statement-breakpoint
CREATE TRIGGER workflow_steps_drop_credentials BEFORE INSERT OR UPDATE ON "workflow_steps" FOR EACH ROW
  WHEN (NEW.status IN ('completed', 'failed', 'rejected', 'canceled') AND ((NEW.push_notification_config -> 'authentication') IS NOT NULL OR NEW.request_credentials IS NOT NULL))
  EXECUTE FUNCTION sales_agent_drop_step_credentials();
