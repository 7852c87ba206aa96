"""JobStream's container image: the local Debian base, podman's settings, the build."""
