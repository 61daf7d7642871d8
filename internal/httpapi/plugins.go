package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/tuskq/tuskq/plugins/fleetstate"
)

// Paths of the plugin operations (admin tokens only).
const (
	PathPluginBundle   = "/v1/plugins/{name}/bundle"
	PathPluginRollback = "/v1/plugins/{name}/rollback"
)

// maxBundleBody bounds the body of PUT /v1/plugins/{name}/bundle: a
// bundle of fleetstate.MaxBundleSize in base64, and room for the rest.
const maxBundleBody = (fleetstate.MaxBundleSize+2)/3*4 + 64<<10

// BundleRequest is the body of PUT /v1/plugins/{name}/bundle.
type BundleRequest struct {
	// Manifest is plugin.yaml, as text.
	Manifest string `json:"manifest"`
	// ModuleBase64 is the module (the manifest's entry) in base64.
	ModuleBase64 string `json:"module_base64"`
	// SignatureBase64 is the Ed25519 signature of the bundle's digest,
	// made by the publisher, in base64 (optional).
	SignatureBase64 string `json:"signature_base64,omitempty"`
	// SHA256 is the digest the publisher computed, in hex (optional): a
	// bundle that hashes to something else is refused.
	SHA256 string `json:"sha256,omitempty"`
}

// BundleView is the answer to a publish or a rollback.
type BundleView struct {
	// Name and Version are the plugin's and its current version's.
	Name    string `json:"name"`
	Version string `json:"version"`
	// SHA256 is the current version's digest; Signed tells whether it is
	// signed; Bytes is its size.
	SHA256 string `json:"sha256"`
	Signed bool   `json:"signed"`
	Bytes  int    `json:"bytes"`
}

func viewOfBundle(b fleetstate.Bundle) BundleView {
	return BundleView{Name: b.Name, Version: b.Version, SHA256: b.SHA256, Signed: len(b.Signature) > 0, Bytes: len(b.Manifest) + len(b.Module)}
}

// putBundle serves PUT /v1/plugins/{name}/bundle: the same checks and
// store as worker plugins publish (fleetstate.PrepareUpload and
// Store.Publish).
func (h *Handler) putBundle(w http.ResponseWriter, r *http.Request, p *principal) {
	if prob := p.requireAdmin("publish plugins"); prob != nil {
		writeProblem(w, prob)
		return
	}
	name := r.PathValue("name")
	if err := fleetstate.ValidateName(name); err != nil {
		writeProblem(w, invalid(FieldError{Field: "name", Detail: err.Error()}))
		return
	}
	body, prob := h.readBodyLimit(w, r, maxBundleBody, "a bundle of at most 32 MiB (manifest and module) in base64")
	if prob != nil {
		writeProblem(w, prob)
		return
	}
	var req BundleRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeProblem(w, invalid(FieldError{Field: "body", Detail: fmt.Sprintf("is not a JSON object {\"manifest\", \"module_base64\", \"signature_base64\", \"sha256\"}: %v", err)}))
		return
	}
	var errs []FieldError
	if req.Manifest == "" {
		errs = append(errs, FieldError{Field: "manifest", Detail: "is required: the text of plugin.yaml"})
	}
	module, err := base64.StdEncoding.DecodeString(req.ModuleBase64)
	if err != nil || len(module) == 0 {
		errs = append(errs, FieldError{Field: "module_base64", Detail: "is required: the module file (the manifest's entry) in standard base64"})
	}
	var sig []byte
	if req.SignatureBase64 != "" {
		if sig, err = base64.StdEncoding.DecodeString(req.SignatureBase64); err != nil {
			errs = append(errs, FieldError{Field: "signature_base64", Detail: "is not standard base64"})
		}
	}
	if len(errs) > 0 {
		writeProblem(w, invalid(errs...))
		return
	}
	b, err := fleetstate.PrepareUpload(fleetstate.Upload{Manifest: []byte(req.Manifest), Module: module, Signature: sig, SHA256: req.SHA256, Trusted: h.trusted})
	if err != nil {
		field := "manifest"
		switch {
		case errors.Is(err, fleetstate.ErrDigest):
			field = "sha256"
		case errors.Is(err, fleetstate.ErrSignature):
			field = "signature_base64"
		}
		writeProblem(w, invalid(FieldError{Field: field, Detail: err.Error()}))
		return
	}
	if b.Name != name {
		writeProblem(w, invalid(FieldError{Field: "manifest", Detail: fmt.Sprintf("names plugin %q; the path names %q", b.Name, name)}))
		return
	}
	if err := fleetstate.NewStore(h.rdb).Publish(r.Context(), b); err != nil {
		writeProblem(w, h.unavailable(r.Context(), err))
		return
	}
	h.logger.InfoContext(r.Context(), "plugin published", "plugin", b.Name, "version", b.Version, "sha256", b.SHA256, "signed", len(b.Signature) > 0, "token", p.name)
	writeJSON(w, http.StatusOK, viewOfBundle(b))
}

// rollbackPlugin serves POST /v1/plugins/{name}/rollback, as worker
// plugins rollback (Store.Rollback).
func (h *Handler) rollbackPlugin(w http.ResponseWriter, r *http.Request, p *principal) {
	if prob := p.requireAdmin("roll plugins back"); prob != nil {
		writeProblem(w, prob)
		return
	}
	name := r.PathValue("name")
	if err := fleetstate.ValidateName(name); err != nil {
		writeProblem(w, invalid(FieldError{Field: "name", Detail: err.Error()}))
		return
	}
	store := fleetstate.NewStore(h.rdb)
	v, err := store.Rollback(r.Context(), name)
	if errors.Is(err, fleetstate.ErrNoPrevious) {
		writeProblem(w, newProblem(ProblemNotFound, http.StatusNotFound, fmt.Sprintf(
			"plugin %q has no previous published version to roll back to; publish one first", name)))
		return
	}
	if err != nil {
		writeProblem(w, h.unavailable(r.Context(), err))
		return
	}
	b, err := store.Bundle(r.Context(), name, v)
	if err != nil {
		writeProblem(w, h.unavailable(r.Context(), err))
		return
	}
	h.logger.InfoContext(r.Context(), "plugin rolled back", "plugin", name, "version", v, "sha256", b.SHA256, "token", p.name)
	writeJSON(w, http.StatusOK, viewOfBundle(b))
}
