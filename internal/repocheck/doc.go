// Package repocheck holds tests about the repository's own files: that the
// documentation links stay inside the repository, and that make plugins
// builds every example plugin that needs building. It has no code of its
// own.
package repocheck
