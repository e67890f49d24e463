package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"golang.org/x/oauth2"
)

// callbackPath is the path of the client's loopback redirect URI.
const callbackPath = "/callback"

// clientOptions configure runClient.
type clientOptions struct {
	// URL is the MCP endpoint.
	URL string
	// Scopes are requested on top of what the server asks for.
	Scopes []string
	// TokenFile stores registrations and tokens between runs.
	TokenFile string
	// Forget deletes the stored login for URL before connecting.
	Forget bool
	// Tool, when set (and not whoami), is called before whoami with Args.
	Tool string
	// Args are the tool's arguments.
	Args map[string]any
	// CallbackAddr is where the loopback redirect listener listens.
	CallbackAddr string
	// LoginTimeout bounds the wait for the browser's callback.
	LoginTimeout time.Duration
	// OpenURL sends the user's browser to a URL; nil only prints it.
	OpenURL func(ctx context.Context, u string) error
	// HTTPClient is used for every request; nil means http.DefaultClient.
	HTTPClient *http.Client
	// Device logs in with the device authorization grant (RFC 8628) instead of the
	// browser redirect: for machines without a browser. OpenURL, when set, receives
	// verification_uri_complete.
	Device bool
}

func parseClientFlags(args []string, stderr io.Writer) (clientOptions, error) {
	var (
		o         clientOptions
		scopes    string
		noBrowser bool
	)
	fs := flag.NewFlagSet("demo client", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.URL, "url", "http://localhost:8080"+mcpPath, "MCP server `URL`")
	fs.StringVar(&scopes, "scope", "", "extra `scopes` to request (space- or comma-separated), e.g. "+scopeAdmin)
	fs.StringVar(&o.TokenFile, "tokens", defaultTokenFile(), "`file` storing the client registration and tokens between runs (mode 0600)")
	fs.BoolVar(&o.Forget, "forget", false, "forget the stored login for this server first (log in again)")
	fs.BoolVar(&noBrowser, "no-browser", false, "do not open a browser; only print the login URL")
	fs.StringVar(&o.CallbackAddr, "callback", "127.0.0.1:0", "`host:port` of the loopback redirect listener")
	fs.DurationVar(&o.LoginTimeout, "login-timeout", 5*time.Minute, "how long to wait for the login in the browser")
	fs.BoolVar(&o.Device, "device", false, "log in with the device flow (RFC 8628): print a URL and a code to enter on any device, no browser here")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: go run ./cmd/demo client [flags] [TOOL [JSON-ARGUMENTS]]\n\n"+
			"Connects to the MCP server, logging in through the browser when needed (discovery,\n"+
			"dynamic client registration, authorization code with PKCE), lists the tools, calls\n"+
			"TOOL if given, calls whoami and prints the token's expiry and scopes. The tokens are\n"+
			"stored, so the next run needs no login. Example: client echo '{\"text\":\"hi\"}'\n"+
			"With -device (machines without a browser: SSH, containers, CI) it prints a URL and a\n"+
			"code to enter on any device instead, and waits for the approval (RFC 8628).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.Scopes = strings.FieldsFunc(scopes, func(r rune) bool { return r == ' ' || r == ',' })
	if fs.NArg() > 0 {
		o.Tool = fs.Arg(0)
	}
	if fs.NArg() > 1 {
		if err := json.Unmarshal([]byte(fs.Arg(1)), &o.Args); err != nil {
			return o, fmt.Errorf("tool arguments must be a JSON object: %w", err)
		}
	}
	if fs.NArg() > 2 {
		fs.Usage()
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(2))
	}
	if !noBrowser && !o.Device {
		o.OpenURL = openBrowser
	}
	return o, nil
}

// defaultTokenFile is in the user's config directory.
func defaultTokenFile() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "fosite-mcp-demo-tokens.json"
	}
	return filepath.Join(dir, "fosite-mcp-demo", "tokens.json")
}

// runClient connects to the MCP server, lists its tools, calls the tools and prints what
// the token allows.
func runClient(ctx context.Context, o clientOptions, stdout io.Writer) error {
	store, err := prepareClient(&o, stdout)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.CallbackAddr)
	if err != nil {
		return fmt.Errorf("callback listener: %w", err)
	}
	recv := newCallbackReceiver(ln, stdout, o)
	defer recv.close()

	var logins atomic.Int64
	cfg := oauthConfig(o, recv, store, stdout, &logins)
	if err := initialLogin(ctx, cfg, store, o, stdout); err != nil {
		return err
	}
	handler, err := auth.NewAuthorizationCodeHandler(cfg)
	if err != nil {
		return err
	}
	session, err := connect(ctx, o, handler, stdout)
	if err != nil {
		return err
	}
	defer session.Close()
	if err := listTools(ctx, session, stdout); err != nil {
		return err
	}
	if err := callTools(ctx, session, o, stdout); err != nil {
		return err
	}
	printStoredLogin(store, o, stdout, logins.Load() == 0)
	return nil
}

// prepareClient checks o.URL, fills in o's defaults and, with o.Forget, deletes the
// stored login; it returns the token store.
func prepareClient(o *clientOptions, stdout io.Writer) (*tokenStore, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("-url %q: want an http(s) URL", o.URL)
	}
	if o.HTTPClient == nil {
		o.HTTPClient = http.DefaultClient
	}
	store := &tokenStore{path: o.TokenFile}
	if o.Forget {
		if err := store.delete(o.URL); err != nil {
			return nil, err
		}
		fmt.Fprintf(stdout, "Forgot the stored login for %s.\n", o.URL)
	}
	return store, nil
}

// oauthConfig is the go-sdk authorization code handler's configuration: dynamic client
// registration with recv's redirect URI, the server's scopes plus o.Scopes, and every
// login's registration and tokens kept in store (counted in logins).
func oauthConfig(o clientOptions, recv *callbackReceiver, store *tokenStore, stdout io.Writer, logins *atomic.Int64) *auth.AuthorizationCodeHandlerConfig {
	save := saveLogin(store, o.URL, stdout)
	return &auth.AuthorizationCodeHandlerConfig{
		DynamicClientRegistrationConfig: &auth.DynamicClientRegistrationConfig{
			Metadata: &oauthex.ClientRegistrationMetadata{
				ClientName:              "fosite-mcp demo client",
				RedirectURIs:            []string{recv.redirectURI},
				GrantTypes:              []string{"authorization_code", "refresh_token"},
				ResponseTypes:           []string{"code"},
				TokenEndpointAuthMethod: "none",
				SoftwareID:              "github.com/fosite-mcp/fosite-mcp/cmd/demo",
				SoftwareVersion:         "1.0.0",
			},
		},
		RedirectURL:              recv.redirectURI,
		AuthorizationCodeFetcher: recv.fetch,
		ScopeFilter: func(discovered []string) []string {
			out := slices.Clone(discovered)
			for _, s := range o.Scopes {
				if !slices.Contains(out, s) {
					out = append(out, s)
				}
			}
			return out
		},
		Client: o.HTTPClient,
		// After every login: keep the registration and the tokens, and save them again
		// whenever they are refreshed.
		NewTokenSource: func(ctx context.Context, c *oauth2.Config, tok *oauth2.Token) (oauth2.TokenSource, error) {
			logins.Add(1)
			rec := newStoredLogin(c, tok, "")
			save(rec)
			return newPersistingSource(c.TokenSource(ctx, tok), rec, save), nil
		},
	}
}

// saveLogin returns a function that stores a login for the server URL in store, warning on stdout
// when it cannot.
func saveLogin(store *tokenStore, server string, stdout io.Writer) func(storedLogin) {
	return func(rec storedLogin) {
		if err := store.put(server, rec); err != nil {
			fmt.Fprintf(stdout, "warning: could not store the tokens: %v\n", err)
		}
	}
}

// initialLogin sets cfg.InitialTokenSource from the stored login when it still works,
// else, with o.Device, from a device flow login (RFC 8628); otherwise the handler logs
// in through the browser when the server asks for a token.
func initialLogin(ctx context.Context, cfg *auth.AuthorizationCodeHandlerConfig, store *tokenStore, o clientOptions, stdout io.Writer) error {
	save := saveLogin(store, o.URL, stdout)
	if rec, ok := store.get(o.URL); ok {
		if ts, ok := reuseLogin(ctx, rec, o, stdout, save); ok {
			cfg.InitialTokenSource = ts
		}
	}
	if !o.Device || cfg.InitialTokenSource != nil {
		return nil
	}
	c, tok, err := deviceLogin(ctx, o, stdout)
	if err != nil {
		return err
	}
	cfg.InitialTokenSource, err = cfg.NewTokenSource(context.WithValue(context.WithoutCancel(ctx), oauth2.HTTPClient, o.HTTPClient), c, tok)
	return err
}

// connect opens the MCP session with handler answering the server's 401s.
func connect(ctx context.Context, o clientOptions, handler auth.OAuthHandler, stdout io.Writer) (*sdk.ClientSession, error) {
	fmt.Fprintf(stdout, "Connecting to %s\n", o.URL)
	client := sdk.NewClient(&sdk.Implementation{Name: "fosite-mcp-demo-client", Version: "1.0.0"}, nil)
	session, err := client.Connect(ctx, &sdk.StreamableClientTransport{
		Endpoint:     o.URL,
		HTTPClient:   o.HTTPClient,
		OAuthHandler: handler,
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("connecting: %w", err)
	}
	if s := session.InitializeResult(); s != nil && s.ServerInfo != nil {
		fmt.Fprintf(stdout, "Connected to %s %s\n", s.ServerInfo.Name, s.ServerInfo.Version)
	}
	return session, nil
}

// listTools prints the server's tools with the first sentence of each description.
func listTools(ctx context.Context, session *sdk.ClientSession, stdout io.Writer) error {
	tools, err := session.ListTools(ctx, nil)
	if err != nil {
		return fmt.Errorf("listing tools: %w", err)
	}
	fmt.Fprintf(stdout, "\nTools:\n")
	for _, t := range tools.Tools {
		fmt.Fprintf(stdout, "  %-8s %s\n", t.Name, firstSentence(t.Description))
	}
	return nil
}

// callTools calls o.Tool (unless it is whoami) with o.Args, then whoami, printing both
// results.
func callTools(ctx context.Context, session *sdk.ClientSession, o clientOptions, stdout io.Writer) error {
	if o.Tool != "" && o.Tool != "whoami" {
		res, err := session.CallTool(ctx, &sdk.CallToolParams{Name: o.Tool, Arguments: o.Args})
		if err != nil {
			return fmt.Errorf("calling %s: %w", o.Tool, err)
		}
		fmt.Fprintf(stdout, "\n%s:\n", o.Tool)
		if err := printResult(stdout, res); err != nil {
			return fmt.Errorf("%s: %w", o.Tool, err)
		}
	}
	res, err := session.CallTool(ctx, &sdk.CallToolParams{Name: "whoami"})
	if err != nil {
		return fmt.Errorf("calling whoami: %w", err)
	}
	if res.IsError {
		_ = printResult(stdout, res)
		return errors.New("whoami failed")
	}
	var who WhoamiOutput
	if err := decodeStructured(res, &who); err != nil {
		return fmt.Errorf("whoami: %w", err)
	}
	fmt.Fprintf(stdout, "\nwhoami:\n")
	fmt.Fprintf(stdout, "  subject    %s\n", who.Subject)
	fmt.Fprintf(stdout, "  client ID  %s\n", who.ClientID)
	fmt.Fprintf(stdout, "  scopes     %s\n", strings.Join(who.Scopes, " "))
	fmt.Fprintf(stdout, "  resource   %s\n", strings.Join(who.Resource, " "))
	fmt.Fprintf(stdout, "  expires    %s\n", who.ExpiresAt)
	return nil
}

// printStoredLogin prints the stored access token's expiry and scopes and where the
// tokens are, noting when this run needed no login (reused).
func printStoredLogin(store *tokenStore, o clientOptions, stdout io.Writer, reused bool) {
	rec, ok := store.get(o.URL)
	if !ok {
		return
	}
	fmt.Fprintf(stdout, "\nAccess token: expires %s (in %s), scopes %q, refresh token: %s.\n",
		rec.Expiry.Local().Format(time.RFC3339), time.Until(rec.Expiry).Round(time.Second), rec.Scope, yesNo(rec.RefreshToken != ""))
	fmt.Fprintf(stdout, "Tokens stored in %s", o.TokenFile)
	if reused {
		fmt.Fprintf(stdout, " (this run reused them: no login needed)")
	}
	fmt.Fprintln(stdout, ".")
}

// reuseLogin returns a token source for a stored login, refreshing it now when the
// access token has expired, so that a dead login is noticed (and replaced by a new one)
// before connecting.
func reuseLogin(ctx context.Context, rec storedLogin, o clientOptions, stdout io.Writer, save func(storedLogin)) (oauth2.TokenSource, bool) {
	have := strings.Fields(rec.Scope)
	for _, s := range o.Scopes {
		if !slices.Contains(have, s) {
			fmt.Fprintf(stdout, "The stored login lacks the scope %q: logging in again.\n", s)
			return nil, false
		}
	}
	refreshCtx := context.WithValue(context.WithoutCancel(ctx), oauth2.HTTPClient, o.HTTPClient)
	c := rec.config()
	ts := newPersistingSource(c.TokenSource(refreshCtx, rec.token()), rec, save)
	if rec.token().Valid() {
		fmt.Fprintf(stdout, "Using the stored login (access token valid until %s).\n", rec.Expiry.Local().Format(time.Kitchen))
		return ts, true
	}
	if _, err := ts.Token(); err != nil {
		fmt.Fprintf(stdout, "The stored login could not be refreshed (%v): logging in again.\n", oauthErrorSummary(err))
		return nil, false
	}
	fmt.Fprintf(stdout, "Refreshed the stored login.\n")
	return ts, true
}

func oauthErrorSummary(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.ErrorCode != "" {
		return re.ErrorCode
	}
	return err.Error()
}

// printResult prints a tool result: its structured content as indented JSON, else its
// text content.
func printResult(w io.Writer, res *sdk.CallToolResult) error {
	text := ""
	if res.StructuredContent != nil && !res.IsError {
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res.StructuredContent); err == nil {
			text = strings.TrimSpace(b.String())
		}
	}
	if text == "" {
		var parts []string
		for _, c := range res.Content {
			if t, ok := c.(*sdk.TextContent); ok {
				parts = append(parts, t.Text)
			}
		}
		text = strings.Join(parts, "\n")
	}
	fmt.Fprintf(w, "  %s\n", strings.ReplaceAll(text, "\n", "\n  "))
	if res.IsError {
		return errors.New("the tool reported an error")
	}
	return nil
}

func decodeStructured(res *sdk.CallToolResult, v any) error {
	if res.StructuredContent == nil {
		return errors.New("no structured result")
	}
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func firstSentence(s string) string {
	if i := strings.Index(s, ". "); i >= 0 {
		return s[:i+1]
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// callbackReceiver receives the authorization response on the loopback redirect URI
// (RFC 8252 §7.3).
type callbackReceiver struct {
	redirectURI string
	srv         *http.Server
	results     chan callbackResult
	stdout      io.Writer
	open        func(context.Context, string) error
	timeout     time.Duration

	mu    sync.Mutex
	state string // the state of the authorization in progress
}

type callbackResult struct {
	res *auth.AuthorizationResult
	err error
}

func newCallbackReceiver(ln net.Listener, stdout io.Writer, o clientOptions) *callbackReceiver {
	c := &callbackReceiver{
		redirectURI: "http://" + ln.Addr().String() + callbackPath,
		results:     make(chan callbackResult, 1),
		stdout:      stdout,
		open:        o.OpenURL,
		timeout:     o.LoginTimeout,
	}
	if c.timeout <= 0 {
		c.timeout = 5 * time.Minute
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+callbackPath, c.callback)
	c.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = c.srv.Serve(ln) }()
	return c
}

func (c *callbackReceiver) close() { _ = c.srv.Close() }

// callback receives the browser. Responses for another state (a stale tab, or a page
// trying to inject its own code) are refused without disturbing the login in progress.
func (c *callbackReceiver) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	c.mu.Lock()
	want := c.state
	c.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	if want == "" || q.Get("state") != want {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, callbackPage("This login is not the one the demo client is waiting for.", "Start again from the terminal."))
		return
	}
	var res callbackResult
	if e := q.Get("error"); e != "" {
		msg := e
		if d := q.Get("error_description"); d != "" {
			msg += ": " + d
		}
		res.err = fmt.Errorf("authorization failed: %s", msg)
		fmt.Fprint(w, callbackPage("Authorization was not granted.", msg))
	} else {
		res.res = &auth.AuthorizationResult{Code: q.Get("code"), State: q.Get("state"), Iss: q.Get("iss")}
		fmt.Fprint(w, callbackPage("You are signed in.", "You can close this window and return to the terminal."))
	}
	select {
	case c.results <- res:
	default: // a result is already waiting
	}
}

func callbackPage(title, detail string) string {
	return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
		`<title>fosite-mcp demo client</title></head><body style="font-family:system-ui,sans-serif;max-width:30rem;margin:4rem auto;padding:0 1rem">` +
		`<h1 style="font-size:1.3rem">` + html.EscapeString(title) + `</h1><p>` + html.EscapeString(detail) + `</p></body></html>`
}

// fetch is the go-sdk AuthorizationCodeFetcher: it prints the authorization URL, opens
// the browser when it can, and waits for the callback.
func (c *callbackReceiver) fetch(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
	au, err := url.Parse(args.URL)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.state = au.Query().Get("state")
	c.mu.Unlock()
	select { // drop a result left over from an earlier attempt
	case <-c.results:
	default:
	}
	fmt.Fprintf(c.stdout, "\nAuthorization needed (scope %q). Log in and approve in your browser;\nif it did not open, open this URL:\n\n  %s\n\n", au.Query().Get("scope"), args.URL)
	if c.open != nil {
		if err := c.open(ctx, args.URL); err != nil {
			fmt.Fprintf(c.stdout, "(could not open a browser: %v)\n", err)
		}
	}
	timer := time.NewTimer(c.timeout)
	defer timer.Stop()
	select {
	case r := <-c.results:
		if r.err != nil {
			return nil, r.err
		}
		fmt.Fprintf(c.stdout, "Logged in.\n")
		return r.res, nil
	case <-timer.C:
		return nil, fmt.Errorf("no login within %s", c.timeout)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// openBrowser opens u in the system browser, best effort.
func openBrowser(_ context.Context, u string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", u)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", u)
	default:
		if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
			return errors.New("no display")
		}
		cmd = exec.Command("xdg-open", u)
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() { _ = cmd.Wait() }()
	return nil
}
