"""Models trained on the user's machine: registry, deployments, monitoring, and the models."""
