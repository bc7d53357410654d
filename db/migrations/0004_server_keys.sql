ALTER TABLE "servers" ADD COLUMN "key" text;--> statement-breakpoint
UPDATE "servers" SET "key" = 'server-' || substr(md5("id"::text), 1, 8) WHERE "key" IS NULL;--> statement-breakpoint
ALTER TABLE "servers" ALTER COLUMN "key" SET NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX "servers_key_key" ON "servers" USING btree ("key");
