ALTER TABLE "media_buys" ADD COLUMN "test_fixture" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "creatives" ADD COLUMN "test_fixture" boolean DEFAULT false NOT NULL;