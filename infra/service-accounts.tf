# One identity per function, so each holds only what its own job needs (iam.tf), plus the
# identities that call the functions and the one that builds them.

resource "google_service_account" "sign_on_push" {
  account_id   = "${var.name_prefix}sign-on-push"
  display_name = "sigsentry signOnPush: signs pushed images with the KMS key"
}

resource "google_service_account" "reverify_images" {
  account_id   = "${var.name_prefix}reverify-images"
  display_name = "sigsentry reverifyImages: re-verifies published images (read-only)"
}

resource "google_service_account" "monitor_log" {
  account_id   = "${var.name_prefix}monitor-log"
  display_name = "sigsentry monitorLog: watches the transparency log (read-only)"
}

resource "google_service_account" "monitor_shard" {
  account_id   = "${var.name_prefix}monitor-shard"
  display_name = "sigsentry monitorShard: scans one shard of a log backlog (read-only)"
}

resource "google_service_account" "dashboard" {
  account_id   = "${var.name_prefix}dashboard"
  display_name = "sigsentry dashboard: reads sigsentry state"
}

# Identity Eventarc pushes Pub/Sub events with; may invoke signOnPush and monitorShard, nothing else.
resource "google_service_account" "trigger" {
  account_id   = "${var.name_prefix}trigger"
  display_name = "sigsentry Eventarc trigger: invokes signOnPush and monitorShard"
}

# Identity Cloud Scheduler calls reverifyImages and monitorLog with (OIDC).
resource "google_service_account" "scheduler" {
  account_id   = "${var.name_prefix}scheduler"
  display_name = "sigsentry Cloud Scheduler: invokes reverifyImages and monitorLog"
}

# Identity Cloud Build builds the function images with, instead of a default account that may hold Editor.
resource "google_service_account" "build" {
  account_id   = "${var.name_prefix}build"
  display_name = "sigsentry function builds"
}
