# Artifact Registry publishes every push and delete of the project's repositories to a topic that
# must be called exactly `gcr`, so it is the one unprefixed topic: every installation in the project
# subscribes to it, and each signs only its own watched repositories.
# If the project already has one: terraform import google_pubsub_topic.gcr projects/P/topics/gcr
resource "google_pubsub_topic" "gcr" {
  name = "gcr"

  depends_on = [google_project_service.apis]
}

# One JSON schema (functions/alerts/alert.ts) for every alert sigsentry raises. Prefixed, as every
# topic but gcr: each installation in a project has its own (ALERT_TOPIC, locals.tf).
resource "google_pubsub_topic" "alerts" {
  name = "${var.name_prefix}signing-alerts"

  depends_on = [google_project_service.apis]
}

# Keeps alerts for a week until a consumer (SIEM, chat bridge) subscribes: a topic with no
# subscription drops what is published to it.
resource "google_pubsub_subscription" "alerts_archive" {
  name                       = "${var.name_prefix}signing-alerts-archive"
  topic                      = google_pubsub_topic.alerts.id
  message_retention_duration = "604800s"
  ack_deadline_seconds       = 60
  expiration_policy {
    ttl = ""
  }
}

# gcr messages that signOnPush failed on max_delivery_attempts times.
resource "google_pubsub_topic" "gcr_dead_letter" {
  name = "${var.name_prefix}gcr-dead-letter"

  depends_on = [google_project_service.apis]
}

# Dead-lettered messages stay here for triage and replay (README, "Dead letters").
resource "google_pubsub_subscription" "gcr_dead_letter" {
  name                       = "${var.name_prefix}gcr-dead-letter"
  topic                      = google_pubsub_topic.gcr_dead_letter.id
  message_retention_duration = "604800s"
  ack_deadline_seconds       = 60
  expiration_policy {
    ttl = ""
  }
}

# monitorLog splits a backlog larger than one run into shards, one message each, scanned in
# parallel by monitorShard (functions/monitor-log/fan-out.ts). Prefixed: two installations sharing
# one would each scan the other's shards, against the other's cursors.
resource "google_pubsub_topic" "monitor_shards" {
  name = "${var.name_prefix}monitor-shards"

  depends_on = [google_project_service.apis]
}

# Shard messages monitorShard failed on max_delivery_attempts times (a log down for long).
resource "google_pubsub_topic" "monitor_shards_dead_letter" {
  name = "${var.name_prefix}monitor-shards-dead-letter"

  depends_on = [google_project_service.apis]
}

resource "google_pubsub_subscription" "monitor_shards_dead_letter" {
  name                       = "${var.name_prefix}monitor-shards-dead-letter"
  topic                      = google_pubsub_topic.monitor_shards_dead_letter.id
  message_retention_duration = "604800s"
  ack_deadline_seconds       = 60
  expiration_policy {
    ttl = ""
  }
}
