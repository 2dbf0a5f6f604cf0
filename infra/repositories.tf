# Each watched repository, read at plan time so that one which does not store its own images is
# refused before anything is deployed. A remote (pull-through) repository caches images built
# elsewhere (Docker Hub, another registry) and a virtual one serves its upstreams' images: signing
# what arrives there would have the organisation's key vouch for images it did not build, and log
# that vouching in a public transparency log for good, before attaching fails on a repository that
# takes no pushes. Artifact Registry names a repository's mode in `mode` (STANDARD_REPOSITORY,
# VIRTUAL_REPOSITORY, REMOTE_REPOSITORY; unset or MODE_UNSPECIFIED on one created before modes,
# which is a standard one).
data "google_artifact_registry_repository" "watched" {
  for_each = local.watched

  project       = var.project
  location      = each.value.location
  repository_id = each.value.repository_id

  lifecycle {
    postcondition {
      condition     = contains(["STANDARD_REPOSITORY", "MODE_UNSPECIFIED"], coalesce(self.mode, "STANDARD_REPOSITORY"))
      error_message = "watched_repositories: ${each.key} is a ${coalesce(self.mode, "repository of no stated mode")}; only standard repositories, which hold the images pushed to them, may be watched (a remote or virtual repository serves images built elsewhere, which sigsentry must not sign)."
    }
  }
}
