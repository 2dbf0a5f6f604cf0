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
