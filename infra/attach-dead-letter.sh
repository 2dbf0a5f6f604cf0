#!/usr/bin/env bash
# Attaches the dead-letter policy to the Pub/Sub subscription Eventarc created for signOnPush's
# trigger (see dead-letter.tf). Idempotent. Needs gcloud, authenticated as the Terraform caller.
#   TRIGGER                projects/P/locations/L/triggers/T (the function's event_trigger.trigger)
#   DEAD_LETTER_TOPIC      projects/P/topics/…
#   MAX_DELIVERY_ATTEMPTS  5-100
#   PUBSUB_AGENT           serviceAccount:service-NUMBER@gcp-sa-pubsub.iam.gserviceaccount.com
set -euo pipefail

: "${TRIGGER:?}" "${DEAD_LETTER_TOPIC:?}" "${MAX_DELIVERY_ATTEMPTS:?}" "${PUBSUB_AGENT:?}"

subscription=$(gcloud eventarc triggers describe "$TRIGGER" --format='value(transport.pubsub.subscription)')
if [[ -z "$subscription" ]]; then
  echo "attach-dead-letter: trigger $TRIGGER has no Pub/Sub subscription yet" >&2
  exit 1
fi

gcloud pubsub subscriptions update "$subscription" \
  --dead-letter-topic="$DEAD_LETTER_TOPIC" \
  --max-delivery-attempts="$MAX_DELIVERY_ATTEMPTS"

# Forwarding to the dead-letter topic acknowledges the message on this subscription, which the
# Pub/Sub service agent may do only with subscriber rights on it.
gcloud pubsub subscriptions add-iam-policy-binding "$subscription" \
  --member="$PUBSUB_AGENT" \
  --role=roles/pubsub.subscriber \
  --condition=None >/dev/null

echo "attach-dead-letter: $subscription -> $DEAD_LETTER_TOPIC after $MAX_DELIVERY_ATTEMPTS attempts"
