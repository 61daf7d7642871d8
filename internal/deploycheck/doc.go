// Package deploycheck holds only tests: they check that the deployment
// files at the root of the repository (docker-compose.yml, Dockerfile) name
// only configuration keys that exist and run only commands and flags that
// the binaries accept. There is no Docker engine on the build machines, so
// these files cannot be run there; the tests catch what drifts.
package deploycheck
