CREATE TABLE "activity" (
	"id" uuid PRIMARY KEY NOT NULL,
	"at" timestamp with time zone NOT NULL,
	"action" text NOT NULL,
	"outcome" text NOT NULL,
	"reason" text,
	"actor_id" uuid,
	"actor_name" text,
	"target_type" text,
	"target_id" text,
	"target_name" text,
	"related_type" text,
	"related_id" text,
	"related_name" text,
	"fields" jsonb,
	"ip" text,
	"user_agent" text,
	CONSTRAINT "activity_outcome_check" CHECK ("activity"."outcome" in ('success', 'failure'))
);
--> statement-breakpoint
CREATE INDEX "activity_at_idx" ON "activity" USING btree ("at");--> statement-breakpoint
CREATE INDEX "activity_actor_at_idx" ON "activity" USING btree ("actor_id","at");--> statement-breakpoint
CREATE INDEX "activity_action_at_idx" ON "activity" USING btree ("action","at");--> statement-breakpoint
CREATE INDEX "activity_target_at_idx" ON "activity" USING btree ("target_id","at");--> statement-breakpoint
CREATE INDEX "activity_related_at_idx" ON "activity" USING btree ("related_id","at");