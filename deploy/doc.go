// Package deploy holds the deployment files of Continuum: the Kubernetes
// manifests in kubernetes/, the Helm chart in helm/continuum/ (the
// Dockerfile is at the repository root). Its test checks that they parse and
// hold what docs/deploy.md promises; it renders no template.
package deploy
