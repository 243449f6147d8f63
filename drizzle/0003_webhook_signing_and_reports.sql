CREATE TABLE "signing_keys" (
	"kid" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"purpose" text NOT NULL,
	"alg" text NOT NULL,
	"public_jwk" jsonb NOT NULL,
	"private_jwk" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"retired_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "media_buys" ADD COLUMN "reporting_webhook" jsonb;--> statement-breakpoint
ALTER TABLE "media_buys" ADD COLUMN "reporting_next_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "media_buys" ADD COLUMN "reporting_sequence" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "signing_keys" ADD CONSTRAINT "signing_keys_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "signing_keys_active_uq" ON "signing_keys" USING btree ("tenant_id","purpose") WHERE "signing_keys"."retired_at" is null;--> statement-breakpoint
CREATE INDEX "signing_keys_tenant_idx" ON "signing_keys" USING btree ("tenant_id");--> statement-breakpoint
CREATE INDEX "media_buys_reporting_due_idx" ON "media_buys" USING btree ("reporting_next_at") WHERE "media_buys"."reporting_next_at" is not null;