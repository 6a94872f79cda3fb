package server

import (
	"embed"
	"mime"
	"net/http"
	"path"
)

// web holds the dashboard: plain HTML, CSS and JavaScript, no build step,
// nothing loaded from other hosts.
//
//go:embed web
var web embed.FS

// static serves one embedded file.
func static(name string) http.Handler {
	body, err := web.ReadFile("web/" + name)
	if err != nil {
		panic("server: embedded file missing: " + name) // a build without its files
	}
	ctype := mime.TypeByExtension(path.Ext(name))
	if path.Ext(name) == ".yaml" {
		ctype = "application/yaml"
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(body)
	})
}
