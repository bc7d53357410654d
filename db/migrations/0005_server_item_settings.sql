CREATE TABLE "server_item_settings" (
	"server_id" uuid NOT NULL,
	"kind" text NOT NULL,
	"name" text NOT NULL,
	"enabled" boolean DEFAULT true NOT NULL,
	"description" text,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "server_item_settings_pkey" PRIMARY KEY("server_id","kind","name")
);
--> statement-breakpoint
ALTER TABLE "server_item_settings" ADD CONSTRAINT "server_item_settings_server_id_servers_id_fk" FOREIGN KEY ("server_id") REFERENCES "public"."servers"("id") ON DELETE cascade ON UPDATE no action;