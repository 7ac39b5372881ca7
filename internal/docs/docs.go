// Package docs serves the API documentation pages (Swagger UI at /docs, ReDoc
// at /redoc) from assets embedded in the binary: nothing is fetched from a CDN,
// so the pages work offline.
package docs

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
	"time"

	"github.com/swaggest/swgui"
	"github.com/swaggest/swgui/v5emb"
)

const title = "ConTact Management System (CTMS)"

//go:embed assets/redoc.standalone.js
var assets embed.FS

// redocLogo is the one thing ReDoc's bundle fetches from another host: the Redocly logo at the
// foot of the side menu. redocBundle serves an empty inline image in its place.
const redocLogo = "https://cdn.redoc.ly/redoc/logo-mini.svg"

var redocBundle = func() []byte {
	js, err := assets.ReadFile("assets/redoc.standalone.js")
	if err != nil {
		panic(err)
	}
	return bytes.ReplaceAll(js, []byte(redocLogo), []byte("data:image/svg+xml,%3Csvg%20xmlns=%27http://www.w3.org/2000/svg%27/%3E"))
}()

// Register adds the documentation routes to mux; specPath is the JSON spec's URL.
func Register(mux *http.ServeMux, specPath string) {
	swagger := v5emb.NewHandlerWithConfig(swgui.Config{
		Title:       title + " - Swagger UI",
		SwaggerJSON: specPath,
		BasePath:    "/docs/",
		ShowTopBar:  false,
	})
	// FastAPI's HTMLResponse says "text/html; charset=utf-8"; swgui "text/html".
	mux.HandleFunc("GET /docs", func(w http.ResponseWriter, r *http.Request) {
		swagger.ServeHTTP(htmlUTF8{w}, r)
	})
	mux.Handle("GET /docs/", swagger) // Swagger UI's own assets, oauth2-redirect.html included
	mux.HandleFunc("GET /docs/oauth2-redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/docs/oauth2-redirect.html", http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("GET /redoc", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = redocPage.Execute(w, map[string]string{"Title": title + " - ReDoc", "Spec": specPath})
	})
	mux.Handle("GET /redoc/assets/", http.StripPrefix("/redoc/", http.FileServerFS(assets)))
	mux.HandleFunc("GET /redoc/assets/redoc.standalone.js", func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "redoc.standalone.js", time.Time{}, bytes.NewReader(redocBundle))
	})
}

var redocPage = template.Must(template.New("redoc").Parse(`<!DOCTYPE html>
<html>
<head>
<title>{{.Title}}</title>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body { margin: 0; padding: 0; }</style>
</head>
<body>
<redoc spec-url="{{.Spec}}"></redoc>
<script src="/redoc/assets/redoc.standalone.js"></script>
</body>
</html>
`))

// htmlUTF8 writes its header as "text/html; charset=utf-8".
type htmlUTF8 struct{ http.ResponseWriter }

func (h htmlUTF8) WriteHeader(code int) {
	h.Header().Set("Content-Type", "text/html; charset=utf-8")
	h.ResponseWriter.WriteHeader(code)
}

func (h htmlUTF8) Write(b []byte) (int, error) {
	if h.Header().Get("Content-Type") != "text/html; charset=utf-8" {
		h.WriteHeader(http.StatusOK)
	}
	return h.ResponseWriter.Write(b)
}
