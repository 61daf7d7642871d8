// Package deploycheck holds only tests: they check that the deployment
// files (docker-compose.yml and the Dockerfile at the root of the
// repository, the Helm chart in deploy/helm/tuskq) name only configuration
// keys that exist and run only commands and flags that the binaries accept.
// There is no Docker engine or Kubernetes cluster on the build machines, so
// these files cannot be run there; the tests catch what drifts. The chart
// is also checked with helm lint and with kubeconform against the schemas
// in deploy/helm/schemas, which its subdirectory schemagen generates.
package deploycheck
