# The signing key. Created here unless var.existing_crypto_key names one.
#
# Rotation: Cloud KMS rotates only symmetric keys automatically (rotation_period is rejected for
# ASYMMETRIC_SIGN), so sigsentry rotates by hand and on purpose:
#   1. gcloud kms keys versions create --key K --keyring R --location L   (new version N+1)
#   2. publish the new public key to verifiers (cosign verify --key gcpkms://…/cryptoKeyVersions/N+1)
#   3. set key_version = N+1 and terraform apply (signOnPush signs with N+1; the verifier expects it)
#   4. keep version N enabled while images signed with it are still deployed; disable, then destroy it
# See README.md, "Key rotation".
resource "google_kms_key_ring" "signing" {
  count = var.existing_crypto_key == "" ? 1 : 0

  name     = var.key_ring_name
  location = var.region

  depends_on = [google_project_service.apis]
}

resource "google_kms_crypto_key" "signing" {
  count = var.existing_crypto_key == "" ? 1 : 0

  name     = var.key_name
  key_ring = google_kms_key_ring.signing[0].id
  purpose  = "ASYMMETRIC_SIGN"

  version_template {
    algorithm        = var.key_algorithm
    protection_level = var.key_protection_level
  }

  # A destroyed version can no longer serve its public key; give a mistaken destroy a month to undo.
  destroy_scheduled_duration = "2592000s"

  labels = { app = "sigsentry" }

  lifecycle {
    # Keys cannot be deleted from a project, and losing one strands every signature it made.
    prevent_destroy = true
  }
}
