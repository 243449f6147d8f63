ALTER TABLE "media_packages" ADD COLUMN "fixed_price" numeric(18, 4);--> statement-breakpoint
-- Packages bought before this column existed take their option's price as it stands now.
UPDATE "media_packages" k SET "fixed_price" = po."fixed_price"
FROM "pricing_options" po
WHERE po."tenant_id" = k."tenant_id" AND po."product_id" = k."product_id" AND po."id" = k."pricing_option_id" AND po."fixed_price" IS NOT NULL;
