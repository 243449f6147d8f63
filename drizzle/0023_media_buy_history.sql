CREATE TABLE "media_buy_history" (
	"media_buy_id" text NOT NULL,
	"revision" integer NOT NULL,
	"tenant_id" text NOT NULL,
	"action" text NOT NULL,
	"summary" text NOT NULL,
	"actor" text,
	"at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "media_buy_history_media_buy_id_revision_pk" PRIMARY KEY("media_buy_id","revision")
);
--> statement-breakpoint
ALTER TABLE "media_buy_history" ADD CONSTRAINT "media_buy_history_media_buy_id_media_buys_id_fk" FOREIGN KEY ("media_buy_id") REFERENCES "public"."media_buys"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
-- Every change of a buy's revision leaves one history row, whoever made it (src/db/schema/media-buys.ts mediaBuyHistory).
CREATE OR REPLACE FUNCTION sales_agent_media_buy_revised() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  parts text[] := '{}';
  act text;
BEGIN
  IF NEW.status IS DISTINCT FROM OLD.status THEN
    parts := parts || format('status %s -> %s', OLD.status, NEW.status);
  END IF;
  IF NEW.start_paused IS DISTINCT FROM OLD.start_paused THEN
    parts := parts || CASE WHEN NEW.start_paused THEN 'paused before going live' ELSE 'no longer paused before going live' END;
  END IF;
  IF NEW.total_budget IS DISTINCT FROM OLD.total_budget THEN
    parts := parts || format('total budget %s -> %s %s', trim_scale(OLD.total_budget), trim_scale(NEW.total_budget), NEW.currency);
  END IF;
  IF NEW.start_time IS DISTINCT FROM OLD.start_time OR NEW.end_time IS DISTINCT FROM OLD.end_time THEN
    parts := parts || format('flight %s to %s',
      to_char(NEW.start_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), to_char(NEW.end_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'));
  END IF;
  act := CASE
    WHEN NEW.status IS DISTINCT FROM OLD.status THEN
      CASE
        WHEN NEW.status = 'active' THEN CASE WHEN OLD.status = 'paused' THEN 'resumed' ELSE 'activated' END
        WHEN NEW.status IN ('paused', 'canceled', 'rejected', 'completed') THEN NEW.status
        WHEN OLD.status = 'paused' THEN 'resumed'
        WHEN OLD.status = 'pending_creatives' AND NEW.status = 'pending_start' THEN 'creatives_assigned'
        ELSE 'updated'
      END
    WHEN NEW.start_paused IS DISTINCT FROM OLD.start_paused THEN CASE WHEN NEW.start_paused THEN 'paused' ELSE 'resumed' END
    WHEN NEW.total_budget IS DISTINCT FROM OLD.total_budget THEN 'updated_budget'
    WHEN NEW.start_time IS DISTINCT FROM OLD.start_time OR NEW.end_time IS DISTINCT FROM OLD.end_time THEN 'updated_dates'
    ELSE 'updated_packages'
  END;
  IF cardinality(parts) = 0 THEN
    parts := ARRAY['packages or creatives changed'];
  END IF;
  INSERT INTO media_buy_history (media_buy_id, revision, tenant_id, action, summary, actor)
  VALUES (NEW.id, NEW.revision, NEW.tenant_id, act, left(array_to_string(parts, '; '), 500),
          CASE WHEN NEW.status = 'canceled' AND OLD.status IS DISTINCT FROM 'canceled' THEN NEW.canceled_by END)
  ON CONFLICT DO NOTHING;
  RETURN NULL;
END
$$;--> statement-breakpoint
CREATE TRIGGER media_buys_revised AFTER UPDATE OF revision ON media_buys
  FOR EACH ROW WHEN (NEW.revision IS DISTINCT FROM OLD.revision) EXECUTE FUNCTION sales_agent_media_buy_revised();
