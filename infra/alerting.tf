# Every alert sigsentry raises is also a structured log line at severity ALERT (functions/alerts).
# This policy turns those lines into incidents on var.notification_channels, independently of the
# webhook and the signing-alerts topic, so one broken sink never silences an alert.
resource "google_monitoring_alert_policy" "sigsentry_alerts" {
  display_name = "${var.name_prefix}alerts"
  combiner     = "OR"
  severity     = "CRITICAL"

  conditions {
    display_name = "sigsentry logged an ALERT"
    condition_matched_log {
      filter = join(" AND ", [
        "resource.type=\"cloud_run_revision\"",
        "severity=ALERT",
        "resource.labels.service_name=(\"${google_cloudfunctions2_function.sign_on_push.name}\" OR \"${google_cloudfunctions2_function.reverify_images.name}\" OR \"${google_cloudfunctions2_function.monitor_log.name}\" OR \"${google_cloudfunctions2_function.monitor_shard.name}\")",
      ])
      label_extractors = {
        kind    = "EXTRACT(jsonPayload.alert.kind)"
        subject = "EXTRACT(jsonPayload.alert.subject)"
      }
    }
  }

  # Required for log-match conditions: at most one notification per 5 minutes per policy.
  alert_strategy {
    notification_rate_limit {
      period = "300s"
    }
    auto_close = "604800s"
  }

  notification_channels = var.notification_channels

  documentation {
    mime_type = "text/markdown"
    subject   = "sigsentry: $${log.extracted_label.kind} on $${log.extracted_label.subject}"
    content   = "sigsentry raised an alert. The log entry carries the evidence; open alerts are in the Firestore `alerts` collection and on the `signing-alerts` topic."
  }

  depends_on = [google_project_service.apis]
}

# A message on a dead-letter topic is one Pub/Sub gave up on after max_delivery_attempts: a push
# signOnPush kept failing on before it could claim the image (a registry or Firestore outage, so
# no signing-failed alert was raised), or a fan-out shard the monitor could not scan. Either leaves
# an image unsigned or a stretch of the log unwatched, so the first one opens an incident, which
# stays open until the message is pulled from the dead-letter subscription (infra/README.md, "Dead
# letters").
resource "google_monitoring_alert_policy" "dead_letters" {
  display_name = "${var.name_prefix}dead letters"
  combiner     = "OR"
  severity     = "CRITICAL"

  conditions {
    display_name = "a gcr message was dead-lettered (an image may be unsigned)"
    condition_threshold {
      filter          = "resource.type = \"pubsub_subscription\" AND resource.labels.subscription_id = \"${google_pubsub_subscription.gcr_dead_letter.name}\" AND metric.type = \"pubsub.googleapis.com/subscription/num_undelivered_messages\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }

  conditions {
    display_name = "a monitor shard was dead-lettered (part of the log is unwatched)"
    condition_threshold {
      filter          = "resource.type = \"pubsub_subscription\" AND resource.labels.subscription_id = \"${google_pubsub_subscription.monitor_shards_dead_letter.name}\" AND metric.type = \"pubsub.googleapis.com/subscription/num_undelivered_messages\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }

  notification_channels = var.notification_channels

  documentation {
    mime_type = "text/markdown"
    subject   = "sigsentry: a message was dead-lettered"
    content   = "Pub/Sub gave up delivering a message to signOnPush or monitorShard. Pull it from the dead-letter subscription, fix the cause, and republish its data to `gcr` or `monitor-shards` (infra/README.md, \"Dead letters\")."
  }

  depends_on = [google_project_service.apis]
}
