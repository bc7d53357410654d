CREATE INDEX "servers_created_at_idx" ON "servers" USING btree ("created_at","id");--> statement-breakpoint
CREATE INDEX "servers_updated_at_idx" ON "servers" USING btree ("updated_at","id");