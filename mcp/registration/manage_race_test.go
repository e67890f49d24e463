package registration_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/fosite-mcp/fosite-mcp/mcp/registration"
	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// slowLoad widens the window between the token check (LoadClient) and the write the way a
// loaded database would; the real store does every read and write (its conditional writes
// included, through the embedding).
type slowLoad struct{ *gormstore.Store }

func (s slowLoad) LoadClient(ctx context.Context, id string) (*provider.Client, error) {
	c, err := s.Store.LoadClient(ctx, id)
	time.Sleep(50 * time.Millisecond)
	return c, err
}

type raceResult struct {
	status int
	info   registration.ClientRegistrationResponse
	err    registration.Error
	header http.Header
}

// sendAll sends the requests at once and returns their answers in order.
func sendAll(t *testing.T, reqs []*http.Request) []raceResult {
	t.Helper()
	out := make([]raceResult, len(reqs))
	errs := make([]error, len(reqs))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, req := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs[i] = err
				return
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			out[i] = raceResult{status: resp.StatusCode, header: resp.Header}
			if resp.StatusCode < 300 {
				_ = json.Unmarshal(raw, &out[i].info)
			} else {
				_ = json.Unmarshal(raw, &out[i].err)
			}
		}()
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// RFC 7592 §2.2 rotates the registration access token on every update, so a token is good
// for one write. Before, the handler checked the token and then wrote unconditionally
// (UPDATE … WHERE id = ?): two concurrent PUTs with one token both succeeded and issued
// two new tokens (only the last stored one working), and a PUT racing a DELETE could
// both succeed. Now the write is conditional on the stored token hash
// (provider.ClientCompareAndSwapper): exactly one request wins, the others get 401
// invalid_token, and the winner's new token is the one that works.
func TestManage_RFC7592_RegistrationTokenOneWriteUnderConcurrency(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		srv := httptest.NewUnstartedServer(nil)
		ep := "http://" + srv.Listener.Addr().String() + "/register"
		h, err := registration.NewHandler(slowLoad{s}, registration.Options{Endpoint: ep, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		srv.Config.Handler = h
		srv.Start()
		defer srv.Close()
		register := func() registration.ClientRegistrationResponse {
			resp, err := http.Post(ep, "application/json", strings.NewReader(`{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"none"}`))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var in registration.ClientRegistrationResponse
			if err := json.NewDecoder(resp.Body).Decode(&in); err != nil || resp.StatusCode != http.StatusCreated {
				t.Fatalf("register: %d %v", resp.StatusCode, err)
			}
			return in
		}
		newReq := func(method string, in registration.ClientRegistrationResponse, token string) *http.Request {
			var body io.Reader
			if method == http.MethodPut {
				body = strings.NewReader(`{"client_id":"` + in.ClientID + `","redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"none"}`)
			}
			req, _ := http.NewRequest(method, in.RegistrationClientURI, body)
			if body != nil {
				req.Header.Set("Content-Type", "application/json")
			}
			req.Header.Set("Authorization", "Bearer "+token)
			return req
		}
		checkLosers := func(what string, res []raceResult, ok int) int {
			t.Helper()
			won := -1
			for i, r := range res {
				switch {
				case r.status == ok:
					if won >= 0 {
						t.Errorf("%s: requests %d and %d both succeeded with one registration access token", what, won, i)
					}
					won = i
				case r.status != http.StatusUnauthorized || r.err.ErrorCode != "invalid_token" ||
					!strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`):
					t.Errorf("%s: request %d: %d %+v; want %d or 401 invalid_token", what, i, r.status, r.err, ok)
				}
			}
			if won < 0 {
				t.Fatalf("%s: no request succeeded: %+v", what, res)
			}
			return won
		}

		// Concurrent updates: one wins; its new token is the working one.
		in := register()
		var reqs []*http.Request
		for range 4 {
			reqs = append(reqs, newReq(http.MethodPut, in, in.RegistrationAccessToken))
		}
		res := sendAll(t, reqs)
		w := checkLosers("updates", res, http.StatusOK)
		fresh := res[w].info.RegistrationAccessToken
		if fresh == "" || fresh == in.RegistrationAccessToken {
			t.Fatalf("winner's token %q", fresh)
		}
		for i, r := range sendAll(t, []*http.Request{newReq(http.MethodGet, in, fresh), newReq(http.MethodGet, in, in.RegistrationAccessToken)}) {
			if want := []int{http.StatusOK, http.StatusUnauthorized}[i]; r.status != want {
				t.Errorf("read %d after the race: %d, want %d", i, r.status, want)
			}
		}

		// An update racing a delete: one wins.
		for round := range 3 {
			in := register()
			res := sendAll(t, []*http.Request{newReq(http.MethodPut, in, in.RegistrationAccessToken), newReq(http.MethodDelete, in, in.RegistrationAccessToken)})
			put, del := res[0].status == http.StatusOK, res[1].status == http.StatusNoContent
			if put == del {
				t.Errorf("round %d: update %d, delete %d; want exactly one to succeed", round, res[0].status, res[1].status)
			}
			for i, r := range res {
				if r.status != http.StatusOK && r.status != http.StatusNoContent && (r.status != http.StatusUnauthorized || r.err.ErrorCode != "invalid_token") {
					t.Errorf("round %d request %d: %d %+v", round, i, r.status, r.err)
				}
			}
			_, err := s.LoadClient(context.Background(), in.ClientID)
			if del && !errors.Is(err, fosite.ErrNotFound) || put && err != nil {
				t.Errorf("round %d: after update=%v delete=%v the client lookup says %v", round, put, del, err)
			}
		}

		// Concurrent deletes: one 204.
		in = register()
		checkLosers("deletes", sendAll(t, []*http.Request{newReq(http.MethodDelete, in, in.RegistrationAccessToken), newReq(http.MethodDelete, in, in.RegistrationAccessToken)}), http.StatusNoContent)
	})
}

// clientStoreOnly hides the store's conditional writes: a provider.ClientStore and
// nothing more.
type clientStoreOnly struct{ provider.ClientStore }

// RFC 7592 §2.2/§2.3: without compare-and-swap writes two requests with one registration
// access token could both win, so NewHandler refuses such a store with an error naming
// the missing interface instead of falling back silently.
func TestNewHandler_RFC7592_RefusesStoreWithoutCompareAndSwap(t *testing.T) {
	s := gormtest.Open(t, gormtest.SQLite)
	_, err := registration.NewHandler(clientStoreOnly{s}, registration.Options{Endpoint: "https://a.example/register"})
	if err == nil || !strings.Contains(err.Error(), "ClientCompareAndSwapper") {
		t.Fatalf("NewHandler(store without CAS) = %v, want an error naming provider.ClientCompareAndSwapper", err)
	}
	if _, err := registration.NewHandler(s, registration.Options{Endpoint: "https://a.example/register"}); err != nil {
		t.Fatalf("NewHandler(gormstore) = %v", err)
	}
}
