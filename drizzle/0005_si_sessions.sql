CREATE TABLE "si_messages" (
	"session_id" text NOT NULL,
	"seq" integer NOT NULL,
	"role" text NOT NULL,
	"message" text,
	"payload" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "si_messages_session_id_seq_pk" PRIMARY KEY("session_id","seq")
);
--> statement-breakpoint
CREATE TABLE "si_sessions" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"principal_id" text NOT NULL,
	"status" text NOT NULL,
	"intent" text NOT NULL,
	"offering_id" text,
	"media_buy_id" text,
	"placement" text,
	"identity" jsonb NOT NULL,
	"negotiated_capabilities" jsonb NOT NULL,
	"sandbox" boolean DEFAULT false NOT NULL,
	"ttl_seconds" integer NOT NULL,
	"turns" integer DEFAULT 0 NOT NULL,
	"termination_reason" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_active_at" timestamp with time zone DEFAULT now() NOT NULL,
	"ended_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "si_messages" ADD CONSTRAINT "si_messages_session_id_si_sessions_id_fk" FOREIGN KEY ("session_id") REFERENCES "public"."si_sessions"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "si_sessions" ADD CONSTRAINT "si_sessions_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "si_sessions" ADD CONSTRAINT "si_sessions_principal_id_principals_id_fk" FOREIGN KEY ("principal_id") REFERENCES "public"."principals"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "si_sessions_principal_idx" ON "si_sessions" USING btree ("tenant_id","principal_id","created_at");