output "kms_key_version" {
  description = "The key version that signs; verify with cosign verify --key gcpkms://<this>."
  value       = local.kms_key_version
}

output "node_runtime" {
  description = "Runtime of the functions, from package.json engines."
  value       = local.node_runtime
}

output "functions" {
  description = "Deployed function names."
  value = {
    signOnPush     = google_cloudfunctions2_function.sign_on_push.name
    reverifyImages = google_cloudfunctions2_function.reverify_images.name
    monitorLog     = google_cloudfunctions2_function.monitor_log.name
    monitorShard   = google_cloudfunctions2_function.monitor_shard.name
    dashboard      = google_cloudfunctions2_function.dashboard.name
  }
}

output "dashboard_url" {
  description = "Dashboard URL (needs run.invoker; e.g. gcloud run services proxy)."
  value       = google_cloudfunctions2_function.dashboard.service_config[0].uri
}

output "sign_on_push_trigger" {
  description = "The Eventarc trigger whose subscription carries the dead-letter policy."
  value       = google_cloudfunctions2_function.sign_on_push.event_trigger[0].trigger
}

output "dead_letter_subscription" {
  description = "Pull subscription holding gcr messages signOnPush gave up on."
  value       = google_pubsub_subscription.gcr_dead_letter.id
}

output "watched_globs" {
  description = "SIGSENTRY_WATCH as deployed."
  value       = local.watch_globs
}
