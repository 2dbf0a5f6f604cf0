# Every alert sigsentry raises is also a structured log line at severity ALERT (functions/alerts).
# This policy turns those lines into incidents on var.notification_channels, independently of the
# webhook and the <name_prefix>signing-alerts topic, so one broken sink never silences an alert.
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
    content   = "sigsentry raised an alert. The log entry carries the evidence; open alerts are in the `alerts` collection of the Firestore database `${var.firestore_database}` and on the `${google_pubsub_topic.alerts.name}` topic."
  }

  depends_on = [google_project_service.apis]
}

# A message on a dead-letter topic is one Pub/Sub gave up on after max_delivery_attempts: a push
# signOnPush kept failing on before it could claim the image (a registry or Firestore outage, so
# no signing-failed alert was raised), or a fan-out shard the monitor could not scan. Either leaves
# an image unsigned or a stretch of the log unwatched, so the first one opens an incident, which
# stays open until the message is pulled from the dead-letter subscription (infra/README.md, "Dead
# letters"). Nothing else reports it, which is why var.notification_channels must name a channel.
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
    content   = "Pub/Sub gave up delivering a message to signOnPush or monitorShard. Pull it from the dead-letter subscription, fix the cause, and republish its data to `${google_pubsub_topic.gcr.name}` or `${google_pubsub_topic.monitor_shards.name}` (infra/README.md, \"Dead letters\")."
  }

  depends_on = [google_project_service.apis]
}

# A scheduled function that stops completing is an incident of its own: a monitor that no longer
# runs watches nothing, and a re-verification pass that cannot run checks nothing, yet neither can
# raise its own alert, since what is down may be Firestore, the log or the function itself. Cloud
# Run logs every request; this metric counts the scheduled functions' successful ones (monitorLog
# answers 500 when a log could not be checked, reverifyImages when its pass could not run; what a
# pass that did run failed on is its own `verification-stale` alert).
resource "google_logging_metric" "scheduled_runs_succeeded" {
  name = "${var.name_prefix}scheduled-runs-succeeded"
  filter = join(" AND ", [
    "resource.type=\"cloud_run_revision\"",
    "log_id(\"run.googleapis.com/requests\")",
    "resource.labels.service_name=(\"${google_cloudfunctions2_function.reverify_images.name}\" OR \"${google_cloudfunctions2_function.monitor_log.name}\")",
    "httpRequest.status>=200",
    "httpRequest.status<300",
  ])

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
  }

  depends_on = [google_project_service.apis]
}

# An incident when either function has had no successful run for longer than its allowance. The
# series are summed per service, so a new revision (a new series) does not look like an absence.
# A metric-absence condition arms after the metric's first point: the first successful run after
# `terraform apply`.
resource "google_monitoring_alert_policy" "scheduled_runs_stopped" {
  display_name = "${var.name_prefix}scheduled runs stopped"
  combiner     = "OR"
  severity     = "CRITICAL"

  conditions {
    display_name = "reverifyImages has not completed a pass"
    condition_absent {
      filter   = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.scheduled_runs_succeeded.name}\" AND resource.type=\"cloud_run_revision\" AND resource.label.service_name=\"${google_cloudfunctions2_function.reverify_images.name}\""
      duration = var.reverify_stopped_after
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.label.service_name"]
      }
      trigger {
        count = 1
      }
    }
  }

  conditions {
    display_name = "monitorLog has not completed a run"
    condition_absent {
      filter   = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.scheduled_runs_succeeded.name}\" AND resource.type=\"cloud_run_revision\" AND resource.label.service_name=\"${google_cloudfunctions2_function.monitor_log.name}\""
      duration = var.monitor_stopped_after
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.label.service_name"]
      }
      trigger {
        count = 1
      }
    }
  }

  notification_channels = var.notification_channels

  documentation {
    mime_type = "text/markdown"
    subject   = "sigsentry: a scheduled function has stopped completing its runs"
    content   = "reverifyImages or monitorLog has answered no scheduled call with success for longer than its allowance: images are not re-verified, or the transparency log is not watched. Its error lines in Cloud Logging say why (a log or registry outage, Firestore, the configuration); Cloud Scheduler's job history shows the failed attempts (infra/README.md, \"When a scheduled function stops\")."
  }

  depends_on = [google_project_service.apis]
}
