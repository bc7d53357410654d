CREATE TABLE "tool_calls" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"user_id" uuid,
	"server_id" uuid,
	"tool" text NOT NULL,
	"started_at" timestamp with time zone NOT NULL,
	"duration_ms" integer NOT NULL,
	"ok" boolean NOT NULL,
	"error" text
);
--> statement-breakpoint
ALTER TABLE "tool_calls" ADD CONSTRAINT "tool_calls_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "tool_calls" ADD CONSTRAINT "tool_calls_server_id_servers_id_fk" FOREIGN KEY ("server_id") REFERENCES "public"."servers"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "tool_calls_started_at_idx" ON "tool_calls" USING btree ("started_at");--> statement-breakpoint
CREATE INDEX "tool_calls_server_id_idx" ON "tool_calls" USING btree ("server_id");