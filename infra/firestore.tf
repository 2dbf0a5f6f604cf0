# sigsentry's state: signing records, image inventory, log cursors, alerts, in the database
# var.firestore_database names ((default) unless set; FIRESTORE_DATABASE of every function). A second
# installation in the project names a database of its own, so the two never share state. The free
# tier applies to one database per project, the first one created. (The resource keeps its address
# `default` whatever the database's name, so an existing installation's state is not moved.)
resource "google_firestore_database" "default" {
  count = var.create_firestore_database ? 1 : 0

  name        = var.firestore_database
  location_id = var.firestore_location
  type        = "FIRESTORE_NATIVE"

  delete_protection_state = "DELETE_PROTECTION_ENABLED"
  # terraform destroy leaves the data in place; deleting it is a deliberate, separate act (README).
  deletion_policy = "ABANDON"

  depends_on = [google_project_service.apis]
}

# Composite indexes, only for queries that need one. Document reads by id (every signing-record,
# inventory and cursor access) and single-field filters use the automatic single-field indexes.
#
# alerts: `where state == 'open' order by lastSeen desc` (FirestoreAlertStore.list({ open: true }) in
# functions/alerts/firestore-sink.ts: sigsentry alerts, the dashboard). The unfiltered
# `order by lastSeen desc` uses the single-field index.
resource "google_firestore_index" "alerts_open_by_last_seen" {
  database   = var.firestore_database
  collection = "alerts"

  fields {
    field_path = "state"
    order      = "ASCENDING"
  }
  fields {
    field_path = "lastSeen"
    order      = "DESCENDING"
  }

  depends_on = [google_firestore_database.default]
}

# alerts: `where undelivered.channels array-contains CHANNEL order by undelivered.at` (FirestoreAlertStore
# .listOwed with a channel: each monitorLog run lists each channel's owed notices on their own). Without
# a channel, `order by undelivered.at` uses the automatic single-field index.
resource "google_firestore_index" "alerts_owed_by_channel" {
  database   = var.firestore_database
  collection = "alerts"

  fields {
    field_path   = "undelivered.channels"
    array_config = "CONTAINS"
  }
  fields {
    field_path = "undelivered.at"
    order      = "ASCENDING"
  }

  depends_on = [google_firestore_database.default]
}

# alerts: `where state == 'open' where severity == X order by lastSeen desc` (FirestoreAlertStore.list
# with a severity: the dashboard reads the CRITICAL, then the HIGH ones on their own when more are
# open than a page shows).
resource "google_firestore_index" "alerts_open_by_severity_last_seen" {
  database   = var.firestore_database
  collection = "alerts"

  fields {
    field_path = "state"
    order      = "ASCENDING"
  }
  fields {
    field_path = "severity"
    order      = "ASCENDING"
  }
  fields {
    field_path = "lastSeen"
    order      = "DESCENDING"
  }

  depends_on = [google_firestore_database.default]
}

# attach-locks: the cross-instance lease on an image while its signatures are attached
# (functions/attach/firestore-subject-lock.ts). A holder deletes its document when it is done; one
# that crashed leaves it behind, expired (`expireAt`) and harmless but never removed. The TTL
# policy deletes those, usually within a day of expiring.
resource "google_firestore_field" "attach_locks_expire_at" {
  database   = var.firestore_database
  collection = "attach-locks"
  field      = "expireAt"

  ttl_config {}

  depends_on = [google_firestore_database.default]
}

# deletions: the DELETEs Artifact Registry announced on gcr for watched repositories, recorded by
# signOnPush (functions/state/deletion-records.ts) so that a push handled after its image was
# deleted is acknowledged rather than alerted on. Each document expires 30 days after it was
# recorded (`expireAt`), past the longest a push can wait (7 days in the subscription, 7 more in
# the dead-letter subscription); the TTL policy deletes it, usually within a day.
resource "google_firestore_field" "deletions_expire_at" {
  database   = var.firestore_database
  collection = "deletions"
  field      = "expireAt"

  ttl_config {}

  depends_on = [google_firestore_database.default]
}
