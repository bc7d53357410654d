CREATE TABLE "hub_logs" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"time" timestamp with time zone NOT NULL,
	"level" text NOT NULL,
	"source" text NOT NULL,
	"message" text NOT NULL,
	"fields" jsonb
);
--> statement-breakpoint
CREATE TABLE "metric_buckets" (
	"resolution" text NOT NULL,
	"bucket_start" timestamp with time zone NOT NULL,
	"name" text NOT NULL,
	"series" text NOT NULL,
	"labels" jsonb NOT NULL,
	"server_id" uuid,
	"n" double precision NOT NULL,
	"sum" double precision NOT NULL,
	"min" double precision NOT NULL,
	"max" double precision NOT NULL,
	"histogram" jsonb,
	CONSTRAINT "metric_buckets_resolution_name_series_bucket_start_pk" PRIMARY KEY("resolution","name","series","bucket_start"),
	CONSTRAINT "metric_buckets_resolution_check" CHECK ("metric_buckets"."resolution" in ('1m', '1h', '1d'))
);
--> statement-breakpoint
CREATE INDEX "hub_logs_time_idx" ON "hub_logs" USING btree ("time");--> statement-breakpoint
CREATE INDEX "hub_logs_source_time_idx" ON "hub_logs" USING btree ("source","time");--> statement-breakpoint
CREATE INDEX "metric_buckets_resolution_start_idx" ON "metric_buckets" USING btree ("resolution","bucket_start");