package cimd_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/auth"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/fosite-mcp/fosite-mcp/mcp"
	"github.com/fosite-mcp/fosite-mcp/mcp/cimd"
	"github.com/fosite-mcp/fosite-mcp/mcp/gosdk"
	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// requestLog records the paths and methods the authorization server saw.
type requestLog struct {
	mu   sync.Mutex
	seen []string
}

func (l *requestLog) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.seen = append(l.seen, r.Method+" "+r.URL.Path)
		l.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

func (l *requestLog) has(entry string) bool { return l.count(entry) > 0 }

func (l *requestLog) count(entry string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.seen {
		if s == entry {
			n++
		}
	}
	return n
}

// The go-sdk client (auth.AuthorizationCodeHandler with ClientIDMetadataDocumentConfig)
// logs in with its client ID metadata document: it sees
// client_id_metadata_document_supported, skips registration, and uses the document URL
// as client_id; the MCP server's tool sees that client ID.
func TestGoSDK_ClientIDMetadataDocumentLogin(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, store *gormstore.Store) {
		docs := newDocServer(t)
		id := docs.url("/go-sdk/client.json")
		docs.serve("/go-sdk/client.json", flowDoc(id, "go-sdk CIMD client"), "max-age=600")
		s := newStack(t, store, docs, &cimd.Options{})

		// The go-sdk MCP server: whoami answers the verified token's client ID.
		server := sdk.NewServer(&sdk.Implementation{Name: "cimd-test-server", Version: "1.0.0"}, nil)
		sdk.AddTool(server, &sdk.Tool{Name: "whoami"}, func(_ context.Context, req *sdk.CallToolRequest, _ struct{}) (*sdk.CallToolResult, any, error) {
			at, ok := gosdk.AccessToken(req.Extra.TokenInfo)
			if !ok {
				return nil, nil, errors.New("no verified token")
			}
			return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: at.ClientID + " " + at.Subject}}}, nil, nil
		})
		protect, err := gosdk.Protect(s.auth, resourceserver.BearerOptions{Resource: s.resource, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		s.auth.Register(mux)
		mux.Handle("/mcp", protect(sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return server }, nil)))
		log := &requestLog{}
		s.srv.Config.Handler = log.wrap(mux)

		h, err := auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
			ClientIDMetadataDocumentConfig: &auth.ClientIDMetadataDocumentConfig{URL: id},
			RedirectURL:                    flowRedirect,
			AuthorizationCodeFetcher: func(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, args.URL, nil)
				if err != nil {
					return nil, err
				}
				resp, err := browser.Do(req)
				if err != nil {
					return nil, err
				}
				resp.Body.Close()
				loc, err := resp.Location()
				if err != nil || !strings.HasPrefix(loc.String(), flowRedirect) {
					return nil, fmt.Errorf("authorize: %d %v", resp.StatusCode, loc)
				}
				q := loc.Query()
				if e := q.Get("error"); e != "" {
					return nil, fmt.Errorf("authorize: %s: %s", e, q.Get("error_description"))
				}
				return &auth.AuthorizationResult{Code: q.Get("code"), State: q.Get("state"), Iss: q.Get("iss")}, nil
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		client := sdk.NewClient(&sdk.Implementation{Name: "cimd-test-client", Version: "1.0.0"}, nil)
		session, err := client.Connect(t.Context(), &sdk.StreamableClientTransport{
			Endpoint: s.resource, OAuthHandler: h, MaxRetries: -1,
		}, nil)
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		defer session.Close()
		res, err := session.CallTool(t.Context(), &sdk.CallToolParams{Name: "whoami"})
		if err != nil {
			t.Fatal(err)
		}
		if res.IsError || len(res.Content) != 1 {
			t.Fatalf("whoami: %+v", res)
		}
		if got, want := res.Content[0].(*sdk.TextContent).Text, id+" "+flowSubject; got != want {
			t.Fatalf("whoami = %q, want %q", got, want)
		}
		if log.has("POST " + mcp.RegistrationPath) {
			t.Error("the go-sdk client registered although the server supports client ID metadata documents")
		}
		if n := log.count("POST /token"); n != 1 {
			t.Errorf("%d token requests, want 1 (go-sdk's first try, client_id in Basic without a secret, must work)", n)
		}
		if n := docs.count("/go-sdk/client.json"); n != 1 {
			t.Errorf("%d fetches of the document, want 1", n)
		}
	})
}
