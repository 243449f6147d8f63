CREATE TABLE "mcp_events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"session_id" text NOT NULL,
	"stream_id" text NOT NULL,
	"message" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "mcp_sessions" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text,
	"principal_id" text,
	"subscriptions" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "mcp_tasks" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"principal_id" text NOT NULL,
	"workflow_step_id" text,
	"tool_name" text NOT NULL,
	"status" text,
	"status_message" text,
	"result" jsonb,
	"ttl_ms" integer,
	"poll_interval_ms" integer NOT NULL,
	"session_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "mcp_tasks" ADD CONSTRAINT "mcp_tasks_workflow_step_id_workflow_steps_id_fk" FOREIGN KEY ("workflow_step_id") REFERENCES "public"."workflow_steps"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "mcp_events_stream_idx" ON "mcp_events" USING btree ("session_id","stream_id","id");--> statement-breakpoint
CREATE INDEX "mcp_events_created_idx" ON "mcp_events" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "mcp_sessions_updated_idx" ON "mcp_sessions" USING btree ("updated_at");--> statement-breakpoint
CREATE INDEX "mcp_tasks_principal_idx" ON "mcp_tasks" USING btree ("tenant_id","principal_id","created_at","id");--> statement-breakpoint
CREATE INDEX "mcp_tasks_session_idx" ON "mcp_tasks" USING btree ("session_id");--> statement-breakpoint
CREATE INDEX "mcp_tasks_expires_idx" ON "mcp_tasks" USING btree ("expires_at");