CREATE SCHEMA "mock_ad_server";
--> statement-breakpoint
CREATE TABLE "accounts" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"principal_id" text NOT NULL,
	"name" text NOT NULL,
	"brand" jsonb NOT NULL,
	"brand_domain" text NOT NULL,
	"brand_id" text DEFAULT '' NOT NULL,
	"operator" text NOT NULL,
	"status" text DEFAULT 'active' NOT NULL,
	"sandbox" boolean DEFAULT false NOT NULL,
	"details" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "adapter_configs" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"name" text NOT NULL,
	"adapter_type" text NOT NULL,
	"settings" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"manual_approval_required" boolean DEFAULT false NOT NULL,
	"is_default" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "principals" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"name" text NOT NULL,
	"token_hash" text NOT NULL,
	"token_hint" text NOT NULL,
	"platform_mappings" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "tenants" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"publisher_domain" text,
	"settings" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "creative_formats" (
	"tenant_id" text NOT NULL,
	"id" text NOT NULL,
	"agent_url" text NOT NULL,
	"name" text NOT NULL,
	"type" text NOT NULL,
	"spec" jsonb DEFAULT '{}'::jsonb NOT NULL,
	CONSTRAINT "creative_formats_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
CREATE TABLE "pricing_options" (
	"tenant_id" text NOT NULL,
	"product_id" text NOT NULL,
	"id" text NOT NULL,
	"pricing_model" text NOT NULL,
	"currency" text NOT NULL,
	"fixed_price" numeric(18, 4),
	"floor_price" numeric(18, 4),
	"price_guidance" jsonb,
	"min_spend_per_package" numeric(18, 4),
	"parameters" jsonb,
	CONSTRAINT "pricing_options_tenant_id_product_id_id_pk" PRIMARY KEY("tenant_id","product_id","id")
);
--> statement-breakpoint
CREATE TABLE "products" (
	"tenant_id" text NOT NULL,
	"id" text NOT NULL,
	"name" text NOT NULL,
	"description" text NOT NULL,
	"channels" text[] DEFAULT '{}' NOT NULL,
	"delivery_type" text NOT NULL,
	"format_ids" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"publisher_properties" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"targeting_template" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"countries" text[] DEFAULT '{}' NOT NULL,
	"adapter_config_id" text,
	"allowed_principal_ids" text[],
	"details" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"archived" boolean DEFAULT false NOT NULL,
	"test_fixture" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "products_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
CREATE TABLE "publisher_properties" (
	"tenant_id" text NOT NULL,
	"id" text NOT NULL,
	"property_type" text NOT NULL,
	"name" text NOT NULL,
	"publisher_domain" text NOT NULL,
	"identifiers" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"tags" text[] DEFAULT '{}' NOT NULL,
	CONSTRAINT "publisher_properties_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
CREATE TABLE "delivery_reports" (
	"tenant_id" text NOT NULL,
	"media_buy_id" text NOT NULL,
	"package_id" text NOT NULL,
	"day" date NOT NULL,
	"impressions" bigint DEFAULT 0 NOT NULL,
	"clicks" bigint DEFAULT 0 NOT NULL,
	"video_completions" bigint DEFAULT 0 NOT NULL,
	"spend" numeric(18, 4) DEFAULT '0' NOT NULL,
	"source" text NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "delivery_reports_package_id_day_pk" PRIMARY KEY("package_id","day")
);
--> statement-breakpoint
CREATE TABLE "media_buys" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"principal_id" text NOT NULL,
	"account_id" text,
	"buyer_ref" text,
	"status" text NOT NULL,
	"total_budget" numeric(18, 4) NOT NULL,
	"currency" text NOT NULL,
	"start_time" timestamp with time zone NOT NULL,
	"end_time" timestamp with time zone NOT NULL,
	"raw_request" jsonb NOT NULL,
	"idempotency_key" text,
	"push_notification_config" jsonb,
	"revision" integer DEFAULT 1 NOT NULL,
	"confirmed_at" timestamp with time zone,
	"rejection_reason" text,
	"canceled_at" timestamp with time zone,
	"canceled_by" text,
	"cancellation_reason" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "media_packages" (
	"id" text PRIMARY KEY NOT NULL,
	"media_buy_id" text NOT NULL,
	"tenant_id" text NOT NULL,
	"product_id" text NOT NULL,
	"pricing_option_id" text NOT NULL,
	"pricing_model" text NOT NULL,
	"adapter_config_id" text,
	"buyer_ref" text,
	"budget" numeric(18, 4) NOT NULL,
	"bid_price" numeric(18, 4),
	"pacing" text,
	"impressions" numeric(20, 0),
	"targeting" jsonb,
	"format_ids" jsonb,
	"package_config" jsonb NOT NULL,
	"status" text DEFAULT 'active' NOT NULL,
	"position" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "performance_feedback" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"principal_id" text NOT NULL,
	"media_buy_id" text NOT NULL,
	"package_id" text,
	"creative_id" text,
	"metric_type" text NOT NULL,
	"performance_index" numeric(12, 4) NOT NULL,
	"feedback_source" text NOT NULL,
	"measurement_period" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "creative_assignments" (
	"tenant_id" text NOT NULL,
	"principal_id" text NOT NULL,
	"creative_id" text NOT NULL,
	"package_id" text NOT NULL,
	"weight" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "creative_assignments_package_id_creative_id_pk" PRIMARY KEY("package_id","creative_id")
);
--> statement-breakpoint
CREATE TABLE "creatives" (
	"tenant_id" text NOT NULL,
	"principal_id" text NOT NULL,
	"id" text NOT NULL,
	"name" text NOT NULL,
	"format_id" jsonb NOT NULL,
	"assets" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"status" text DEFAULT 'pending_review' NOT NULL,
	"details" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "creatives_tenant_id_principal_id_id_pk" PRIMARY KEY("tenant_id","principal_id","id")
);
--> statement-breakpoint
CREATE TABLE "adapter_orders" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"media_buy_id" text NOT NULL,
	"adapter_config_id" text NOT NULL,
	"adapter_type" text NOT NULL,
	"state" text NOT NULL,
	"external_order_id" text,
	"external_line_item_ids" jsonb,
	"idempotency_key" text NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "audit_log" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"principal_id" text,
	"actor" text NOT NULL,
	"operation" text NOT NULL,
	"target" text,
	"success" boolean NOT NULL,
	"details" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "controller_directives" (
	"tenant_id" text NOT NULL,
	"principal_id" text NOT NULL,
	"scenario" text NOT NULL,
	"payload" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "controller_directives_tenant_id_principal_id_scenario_pk" PRIMARY KEY("tenant_id","principal_id","scenario")
);
--> statement-breakpoint
CREATE TABLE "idempotency_records" (
	"tenant_id" text NOT NULL,
	"principal_id" text NOT NULL,
	"tool" text NOT NULL,
	"key" text NOT NULL,
	"request_hash" text NOT NULL,
	"response" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "idempotency_records_tenant_id_principal_id_tool_key_pk" PRIMARY KEY("tenant_id","principal_id","tool","key")
);
--> statement-breakpoint
CREATE TABLE "sync_jobs" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"adapter_config_id" text,
	"sync_type" text NOT NULL,
	"status" text NOT NULL,
	"summary" jsonb,
	"error" text,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"completed_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "webhook_attempts" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"delivery_id" text NOT NULL,
	"attempt" integer NOT NULL,
	"status_code" integer,
	"error" text,
	"duration_ms" integer NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "webhook_deliveries" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"principal_id" text NOT NULL,
	"task_id" text NOT NULL,
	"media_buy_id" text,
	"url" text NOT NULL,
	"authentication" jsonb,
	"payload" jsonb NOT NULL,
	"idempotency_key" text NOT NULL,
	"sequence" integer NOT NULL,
	"allow_private_network" boolean DEFAULT false NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"last_status_code" integer,
	"last_error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"delivered_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "workflow_steps" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"principal_id" text,
	"media_buy_id" text,
	"step_type" text NOT NULL,
	"status" text NOT NULL,
	"owner" text NOT NULL,
	"request" jsonb,
	"response" jsonb,
	"error" jsonb,
	"push_notification_config" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "mock_ad_server"."attempts" (
	"idempotency_key" text PRIMARY KEY NOT NULL,
	"n" integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE "mock_ad_server"."orders" (
	"idempotency_key" text PRIMARY KEY NOT NULL,
	"order_id" text NOT NULL,
	"advertiser" text NOT NULL,
	"line_items" jsonb NOT NULL,
	"request" jsonb NOT NULL,
	"calls" integer DEFAULT 1 NOT NULL,
	"status" text DEFAULT 'booked' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "orders_order_id_unique" UNIQUE("order_id")
);
--> statement-breakpoint
CREATE TABLE "worker_heartbeats" (
	"pool_id" text PRIMARY KEY NOT NULL,
	"hostname" text NOT NULL,
	"pid" integer NOT NULL,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"heartbeat_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "accounts" ADD CONSTRAINT "accounts_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "accounts" ADD CONSTRAINT "accounts_principal_id_principals_id_fk" FOREIGN KEY ("principal_id") REFERENCES "public"."principals"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "adapter_configs" ADD CONSTRAINT "adapter_configs_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "principals" ADD CONSTRAINT "principals_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "creative_formats" ADD CONSTRAINT "creative_formats_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "pricing_options" ADD CONSTRAINT "pricing_options_tenant_id_product_id_products_tenant_id_id_fk" FOREIGN KEY ("tenant_id","product_id") REFERENCES "public"."products"("tenant_id","id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "products" ADD CONSTRAINT "products_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "products" ADD CONSTRAINT "products_adapter_config_id_adapter_configs_id_fk" FOREIGN KEY ("adapter_config_id") REFERENCES "public"."adapter_configs"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "publisher_properties" ADD CONSTRAINT "publisher_properties_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "delivery_reports" ADD CONSTRAINT "delivery_reports_media_buy_id_media_buys_id_fk" FOREIGN KEY ("media_buy_id") REFERENCES "public"."media_buys"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "delivery_reports" ADD CONSTRAINT "delivery_reports_package_id_media_packages_id_fk" FOREIGN KEY ("package_id") REFERENCES "public"."media_packages"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "media_buys" ADD CONSTRAINT "media_buys_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "media_buys" ADD CONSTRAINT "media_buys_principal_id_principals_id_fk" FOREIGN KEY ("principal_id") REFERENCES "public"."principals"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "media_buys" ADD CONSTRAINT "media_buys_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "media_packages" ADD CONSTRAINT "media_packages_media_buy_id_media_buys_id_fk" FOREIGN KEY ("media_buy_id") REFERENCES "public"."media_buys"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "media_packages" ADD CONSTRAINT "media_packages_adapter_config_id_adapter_configs_id_fk" FOREIGN KEY ("adapter_config_id") REFERENCES "public"."adapter_configs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "performance_feedback" ADD CONSTRAINT "performance_feedback_media_buy_id_media_buys_id_fk" FOREIGN KEY ("media_buy_id") REFERENCES "public"."media_buys"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "creative_assignments" ADD CONSTRAINT "creative_assignments_package_id_media_packages_id_fk" FOREIGN KEY ("package_id") REFERENCES "public"."media_packages"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "creatives" ADD CONSTRAINT "creatives_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "creatives" ADD CONSTRAINT "creatives_principal_id_principals_id_fk" FOREIGN KEY ("principal_id") REFERENCES "public"."principals"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "adapter_orders" ADD CONSTRAINT "adapter_orders_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "adapter_orders" ADD CONSTRAINT "adapter_orders_media_buy_id_media_buys_id_fk" FOREIGN KEY ("media_buy_id") REFERENCES "public"."media_buys"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "adapter_orders" ADD CONSTRAINT "adapter_orders_adapter_config_id_adapter_configs_id_fk" FOREIGN KEY ("adapter_config_id") REFERENCES "public"."adapter_configs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "sync_jobs" ADD CONSTRAINT "sync_jobs_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "sync_jobs" ADD CONSTRAINT "sync_jobs_adapter_config_id_adapter_configs_id_fk" FOREIGN KEY ("adapter_config_id") REFERENCES "public"."adapter_configs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "webhook_attempts" ADD CONSTRAINT "webhook_attempts_delivery_id_webhook_deliveries_id_fk" FOREIGN KEY ("delivery_id") REFERENCES "public"."webhook_deliveries"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "workflow_steps" ADD CONSTRAINT "workflow_steps_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "workflow_steps" ADD CONSTRAINT "workflow_steps_principal_id_principals_id_fk" FOREIGN KEY ("principal_id") REFERENCES "public"."principals"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "workflow_steps" ADD CONSTRAINT "workflow_steps_media_buy_id_media_buys_id_fk" FOREIGN KEY ("media_buy_id") REFERENCES "public"."media_buys"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "accounts_natural_key_uq" ON "accounts" USING btree ("tenant_id","principal_id","brand_domain","brand_id","operator","sandbox");--> statement-breakpoint
CREATE INDEX "accounts_principal_idx" ON "accounts" USING btree ("tenant_id","principal_id");--> statement-breakpoint
CREATE UNIQUE INDEX "adapter_configs_name_uq" ON "adapter_configs" USING btree ("tenant_id","name");--> statement-breakpoint
CREATE UNIQUE INDEX "adapter_configs_default_uq" ON "adapter_configs" USING btree ("tenant_id") WHERE "adapter_configs"."is_default";--> statement-breakpoint
CREATE UNIQUE INDEX "principals_token_hash_uq" ON "principals" USING btree ("token_hash");--> statement-breakpoint
CREATE INDEX "principals_tenant_idx" ON "principals" USING btree ("tenant_id");--> statement-breakpoint
CREATE INDEX "publisher_properties_domain_idx" ON "publisher_properties" USING btree ("tenant_id","publisher_domain");--> statement-breakpoint
CREATE INDEX "delivery_reports_buy_idx" ON "delivery_reports" USING btree ("media_buy_id","day");--> statement-breakpoint
CREATE INDEX "media_buys_principal_idx" ON "media_buys" USING btree ("tenant_id","principal_id","created_at");--> statement-breakpoint
CREATE INDEX "media_buys_starting_idx" ON "media_buys" USING btree ("start_time") WHERE "media_buys"."status" = 'pending_start';--> statement-breakpoint
CREATE INDEX "media_buys_ending_idx" ON "media_buys" USING btree ("end_time") WHERE "media_buys"."status" in ('active', 'paused');--> statement-breakpoint
CREATE INDEX "media_packages_buy_idx" ON "media_packages" USING btree ("media_buy_id","position");--> statement-breakpoint
CREATE INDEX "performance_feedback_buy_idx" ON "performance_feedback" USING btree ("media_buy_id");--> statement-breakpoint
CREATE INDEX "creative_assignments_creative_idx" ON "creative_assignments" USING btree ("tenant_id","principal_id","creative_id");--> statement-breakpoint
CREATE UNIQUE INDEX "adapter_orders_buy_adapter_uq" ON "adapter_orders" USING btree ("media_buy_id","adapter_config_id");--> statement-breakpoint
CREATE INDEX "audit_log_tenant_idx" ON "audit_log" USING btree ("tenant_id","created_at");--> statement-breakpoint
CREATE INDEX "webhook_attempts_delivery_idx" ON "webhook_attempts" USING btree ("delivery_id");--> statement-breakpoint
CREATE INDEX "webhook_deliveries_task_idx" ON "webhook_deliveries" USING btree ("task_id","sequence");--> statement-breakpoint
CREATE INDEX "webhook_deliveries_tenant_idx" ON "webhook_deliveries" USING btree ("tenant_id","created_at");--> statement-breakpoint
CREATE INDEX "workflow_steps_principal_idx" ON "workflow_steps" USING btree ("tenant_id","principal_id","created_at");--> statement-breakpoint
CREATE INDEX "workflow_steps_media_buy_idx" ON "workflow_steps" USING btree ("media_buy_id");--> statement-breakpoint
CREATE INDEX "workflow_steps_status_idx" ON "workflow_steps" USING btree ("tenant_id","status");