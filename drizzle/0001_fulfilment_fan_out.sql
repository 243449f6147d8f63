CREATE TABLE "mock_ad_server"."creatives" (
	"idempotency_key" text PRIMARY KEY NOT NULL,
	"creative_id" text NOT NULL,
	"advertiser" text NOT NULL,
	"content" jsonb NOT NULL,
	"calls" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "creatives_creative_id_unique" UNIQUE("creative_id")
);
--> statement-breakpoint
CREATE TABLE "adapter_creatives" (
	"tenant_id" text NOT NULL,
	"principal_id" text NOT NULL,
	"creative_id" text NOT NULL,
	"adapter_config_id" text NOT NULL,
	"external_creative_id" text NOT NULL,
	"content_hash" text NOT NULL,
	"uploaded_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "adapter_creatives_tenant_id_principal_id_creative_id_adapter_config_id_pk" PRIMARY KEY("tenant_id","principal_id","creative_id","adapter_config_id")
);
--> statement-breakpoint
CREATE TABLE "adapter_order_updates" (
	"step_id" text NOT NULL,
	"adapter_config_id" text NOT NULL,
	"tenant_id" text NOT NULL,
	"media_buy_id" text NOT NULL,
	"state" text DEFAULT 'queued' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"error" text,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "adapter_order_updates_step_id_adapter_config_id_pk" PRIMARY KEY("step_id","adapter_config_id")
);
--> statement-breakpoint
ALTER TABLE "adapter_creatives" ADD CONSTRAINT "adapter_creatives_adapter_config_id_adapter_configs_id_fk" FOREIGN KEY ("adapter_config_id") REFERENCES "public"."adapter_configs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "adapter_creatives" ADD CONSTRAINT "adapter_creatives_tenant_id_principal_id_creative_id_creatives_tenant_id_principal_id_id_fk" FOREIGN KEY ("tenant_id","principal_id","creative_id") REFERENCES "public"."creatives"("tenant_id","principal_id","id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "adapter_order_updates" ADD CONSTRAINT "adapter_order_updates_step_id_workflow_steps_id_fk" FOREIGN KEY ("step_id") REFERENCES "public"."workflow_steps"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "adapter_order_updates" ADD CONSTRAINT "adapter_order_updates_adapter_config_id_adapter_configs_id_fk" FOREIGN KEY ("adapter_config_id") REFERENCES "public"."adapter_configs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "adapter_order_updates" ADD CONSTRAINT "adapter_order_updates_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "adapter_order_updates" ADD CONSTRAINT "adapter_order_updates_media_buy_id_media_buys_id_fk" FOREIGN KEY ("media_buy_id") REFERENCES "public"."media_buys"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "adapter_creatives_adapter_idx" ON "adapter_creatives" USING btree ("adapter_config_id");