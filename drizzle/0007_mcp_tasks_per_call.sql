-- Tasks that followed a workflow step kept no status or result of their own: they go with that design.
DELETE FROM "mcp_tasks" WHERE "status" IS NULL;--> statement-breakpoint
ALTER TABLE "mcp_tasks" DROP CONSTRAINT "mcp_tasks_workflow_step_id_workflow_steps_id_fk";
--> statement-breakpoint
DROP INDEX "mcp_tasks_session_idx";--> statement-breakpoint
ALTER TABLE "mcp_tasks" ALTER COLUMN "status" SET NOT NULL;--> statement-breakpoint
ALTER TABLE "mcp_tasks" DROP COLUMN "workflow_step_id";--> statement-breakpoint
ALTER TABLE "mcp_tasks" DROP COLUMN "session_id";