ALTER TABLE "servers" ALTER COLUMN "command" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "servers" ADD COLUMN "type" text DEFAULT 'stdio' NOT NULL;--> statement-breakpoint
ALTER TABLE "servers" ADD COLUMN "url" text;--> statement-breakpoint
ALTER TABLE "servers" ADD COLUMN "headers" jsonb DEFAULT '{}'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "servers" ADD COLUMN "keep_alive_ms" integer;--> statement-breakpoint
ALTER TABLE "servers" ADD CONSTRAINT "servers_type_check" CHECK (("servers"."type" = 'stdio' and "servers"."command" is not null and "servers"."url" is null)
    or ("servers"."type" in ('streamable-http', 'sse') and "servers"."url" is not null and "servers"."command" is null));