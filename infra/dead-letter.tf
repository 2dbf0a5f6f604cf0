# The dead-letter policy of signOnPush's trigger.
#
# Eventarc, not Terraform, creates the push subscription that delivers `gcr` messages to the
# function (projects/P/subscriptions/eventarc-REGION-TRIGGER-sub-N), and neither
# google_cloudfunctions2_function nor google_eventarc_trigger exposes a dead-letter setting. Eventarc
# documents that a dead-letter topic is set by updating that subscription. So once the trigger exists,
# attach-dead-letter.sh looks the subscription up from the trigger, sets the dead-letter topic and
# max delivery attempts on it, and grants the Pub/Sub service agent roles/pubsub.subscriber on that
# one subscription (required to forward). It runs again whenever the trigger is replaced (a new
# trigger has a new subscription) or the policy changes, and it is idempotent.
#
# The alternative, a Terraform-managed push subscription on `gcr` pointing at the function's URL,
# would make the policy declarative but gives up the event trigger (and Eventarc's CloudEvent
# envelope); see README.md, "Dead letters".
resource "terraform_data" "sign_on_push_dead_letter" {
  triggers_replace = [
    google_cloudfunctions2_function.sign_on_push.event_trigger[0].trigger,
    google_pubsub_topic.gcr_dead_letter.id,
    var.max_delivery_attempts,
  ]

  provisioner "local-exec" {
    command = "${path.module}/attach-dead-letter.sh"
    environment = {
      TRIGGER               = google_cloudfunctions2_function.sign_on_push.event_trigger[0].trigger
      DEAD_LETTER_TOPIC     = google_pubsub_topic.gcr_dead_letter.id
      MAX_DELIVERY_ATTEMPTS = tostring(var.max_delivery_attempts)
      PUBSUB_AGENT          = "serviceAccount:${google_project_service_identity.pubsub.email}"
    }
  }

  depends_on = [google_pubsub_topic_iam_member.pubsub_publishes_dead_letters]
}

# The same policy on monitorShard's trigger subscription.
resource "terraform_data" "monitor_shard_dead_letter" {
  triggers_replace = [
    google_cloudfunctions2_function.monitor_shard.event_trigger[0].trigger,
    google_pubsub_topic.monitor_shards_dead_letter.id,
    var.max_delivery_attempts,
  ]

  provisioner "local-exec" {
    command = "${path.module}/attach-dead-letter.sh"
    environment = {
      TRIGGER               = google_cloudfunctions2_function.monitor_shard.event_trigger[0].trigger
      DEAD_LETTER_TOPIC     = google_pubsub_topic.monitor_shards_dead_letter.id
      MAX_DELIVERY_ATTEMPTS = tostring(var.max_delivery_attempts)
      PUBSUB_AGENT          = "serviceAccount:${google_project_service_identity.pubsub.email}"
    }
  }

  depends_on = [google_pubsub_topic_iam_member.pubsub_publishes_shard_dead_letters]
}
